"""The model frame: worker processes build exactly the frame one process does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idres.ingest import frame
from idres.ingest.files import RawRow, write_table
from idres.ingest.frame import ModelFrame, read_file, read_rows
from idres.ingest.generator import generate
from idres.resolver.domain.records import CANONICAL_COLUMNS

PERSONS = 120


def _rows() -> list[RawRow]:
    """Generated rows with repeated ids, unreadable rows and rows without an id mixed in."""
    rows: list[RawRow] = []
    for values in generate(PERSONS, 5).records:
        rows.append(RawRow(len(rows) + 1, dict(values)))
        if len(rows) % 37 == 0:
            rows.append(RawRow(len(rows) + 1, dict(rows[len(rows) // 2].values)))
        if len(rows) % 53 == 0:
            rows.append(RawRow(len(rows) + 1, {}, "expected 18 fields, found 2"))
        if len(rows) % 71 == 0:
            rows.append(RawRow(len(rows) + 1, {"record_id": "", "email": "a@example.com"}))
    return rows


def _facts(read: ModelFrame) -> tuple[object, ...]:
    records = [(r.record_id, r.channel, r.ts, r.query, r.fingerprint) for r in read.records or ()]
    warnings = (read.warnings.rows, read.warnings.counts, read.warnings.first)
    return read.rows_read, read.rejected_rows, read.rejections, warnings, records


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frame, "CHUNK_ROWS", 16)
    monkeypatch.setattr(frame, "PARALLEL_ROWS", 64)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("keep", [True, False])
def test_workers_build_the_same_frame(keep: bool) -> None:
    rows = _rows()
    alone = read_rows(rows, keep_records=keep, workers=1)
    shared = read_rows(rows, keep_records=keep, workers=2)
    assert alone.rejected_rows and any("duplicate" in r.reason for r in alone.rejections)
    assert _facts(shared) == _facts(alone)
    assert shared.table().equals(alone.table())
    assert (shared.records is None) is not keep


@pytest.mark.usefixtures("small_chunks")
def test_small_input_is_read_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_workers(*args: object) -> None:
        raise AssertionError("workers started for a small input")

    monkeypatch.setattr(frame, "_parse_in_workers", no_workers)
    read = read_rows(_rows()[:63], workers=2)
    assert read.rows_read == 63


@pytest.mark.usefixtures("small_chunks")
def test_a_reader_failure_reaches_the_caller() -> None:
    def failing() -> Iterator[RawRow]:
        yield from _rows()[:200]
        raise ValueError("people.csv: not UTF-8 after row 200")

    with pytest.raises(ValueError, match="not UTF-8"):
        read_rows(failing(), workers=2)


@pytest.mark.usefixtures("small_chunks")
def test_read_file_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    records = generate(PERSONS, 5).records
    write_table(path, CANONICAL_COLUMNS, ([r[c] for c in CANONICAL_COLUMNS] for r in records))
    shared = read_file(path, progress=True, keep_records=True, workers=2)
    alone = read_file(path, keep_records=True, workers=1)
    assert _facts(shared) == _facts(alone)
    assert shared.table().equals(alone.table())
