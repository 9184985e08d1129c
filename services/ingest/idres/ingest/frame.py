"""The model frame: records as the match model's columns, for training and batch dedup.

Rows stream in and are packed into Arrow batches, so Python never holds more than one batch.
A row that cannot join the frame (unreadable, invalid, or a repeated record id) is counted
with its row number, as ingest counts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from idres.ingest.files import RawRow, open_table
from idres.ingest.heap import records_frozen
from idres.resolver.domain.errors import ValidationError
from idres.resolver.domain.records import Record, parse_record
from idres.resolver.domain.scoring import FEATURE_COLUMNS, features

FRAME_COLUMNS: tuple[str, ...] = ("unique_id", *FEATURE_COLUMNS)
BATCH_ROWS = 65_536
# Reasons are kept for the first few rejected rows only; their row numbers are all kept.
REASONS_KEPT = 20


@dataclass(frozen=True, slots=True)
class Rejection:
    """A data row left out: its number in the file (from 1) and why."""

    row: int
    reason: str


@dataclass(slots=True)
class ModelFrame:
    """The frame built batch by batch, and the rows that could not join it."""

    batches: list[pa.RecordBatch] = field(default_factory=list)
    rows_read: int = 0
    rejected_rows: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    records: list[Record] | None = None
    """The parsed records too, when asked for (batch clustering needs them)."""

    def reject(self, row: int, reason: str) -> None:
        self.rejected_rows.append(row)
        if len(self.rejections) < REASONS_KEPT:
            self.rejections.append(Rejection(row, reason))

    def table(self) -> pa.Table:
        schema = pa.schema([(name, pa.string()) for name in FRAME_COLUMNS])
        return pa.Table.from_batches(self.batches, schema=schema).combine_chunks()


def _flush(columns: dict[str, list[str | None]]) -> pa.RecordBatch:
    batch = pa.record_batch(
        {name: pa.array(values, pa.string()) for name, values in columns.items()}
    )
    for values in columns.values():
        values.clear()
    return batch


def read_rows(rows: Iterable[RawRow], *, keep_records: bool = False) -> ModelFrame:
    """Valid rows become model columns; the first row of a repeated record id wins."""
    frame = ModelFrame(records=[] if keep_records else None)
    columns: dict[str, list[str | None]] = {name: [] for name in FRAME_COLUMNS}
    seen: set[str] = set()
    for raw in rows:
        frame.rows_read += 1
        if raw.error is not None:
            frame.reject(raw.number, raw.error)
            continue
        try:
            record = parse_record(raw.values, prefix="")
        except ValidationError as exc:
            frame.reject(raw.number, str(exc))
            continue
        if record.record_id in seen:
            frame.reject(raw.number, f"duplicate record_id {record.record_id!r}")
            continue
        seen.add(record.record_id)
        if frame.records is not None:
            frame.records.append(record)
        columns["unique_id"].append(record.record_id)
        for name, value in features(record).items():
            columns[name].append(value)
        if len(columns["unique_id"]) == BATCH_ROWS:
            frame.batches.append(_flush(columns))
    frame.batches.append(_flush(columns))
    return frame


def read_file(path: Path, *, progress: bool = False, keep_records: bool = False) -> ModelFrame:
    kept = records_frozen(paused=True) if keep_records else nullcontext()
    with open_table(path) as table, kept:
        rows: Iterator[RawRow] = iter(table)
        if progress:
            total = table.count_rows()
            rows = iter(tqdm(rows, total=total, unit=" rows", desc="read", leave=False))
        return read_rows(rows, keep_records=keep_records)


def model_frame(records: Iterable[Mapping[str, str]]) -> pa.Table:
    """The frame of canonical-schema mappings, invalid ones left out."""
    rows = (RawRow(n, dict(values)) for n, values in enumerate(records, start=1))
    return read_rows(rows).table()
