"""The model frame: records as the match model's columns, for training and batch dedup.

Rows stream in and are packed into Arrow batches, so Python never holds more than one batch.
A row that cannot join the frame (unreadable, without a usable record id, or a repeated
record id) is counted with its row number, as ingest counts it; a field that did not validate
only makes a warning (`FieldWarnings`): the record joins without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from idres.ingest.files import RawRow, open_table
from idres.ingest.heap import records_frozen
from idres.resolver.domain.errors import ValidationError
from idres.resolver.domain.normalize import DEFAULT_RULES, NormalizationRules
from idres.resolver.domain.records import Flagged, Record, parse_record
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


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """A field of a kept row that did not validate: kept as given, not used to link."""

    row: int
    field: str
    reason: str


@dataclass(slots=True)
class FieldWarnings:
    """Every flagged field counted by field and reason; the first few kept with their rows."""

    rows: int = 0
    """Rows with at least one flagged field."""
    counts: Counter[str] = field(default_factory=Counter)
    first: list[FieldWarning] = field(default_factory=list)

    def note(self, row: int, flagged: Iterable[Flagged]) -> None:
        seen = False
        for f in flagged:
            seen = True
            self.counts[f"{f.field}: {f.reason}"] += 1
            if len(self.first) < REASONS_KEPT:
                self.first.append(FieldWarning(row, f.field, f.reason))
        self.rows += seen

    def lines(self, shown: int = 10) -> list[str]:
        """`  warned    562 x phone: not a valid phone number ...`, then the first rows."""
        lines = [
            f"  warned {count:>6,} x {reason}" for reason, count in self.counts.most_common(shown)
        ]
        lines += [f"  row {w.row}: {w.field}: {w.reason}" for w in self.first[:shown]]
        return lines


@dataclass(slots=True)
class ModelFrame:
    """The frame built batch by batch, and the rows that could not join it."""

    batches: list[pa.RecordBatch] = field(default_factory=list)
    rows_read: int = 0
    rejected_rows: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    records: list[Record] | None = None
    """The parsed records too, when asked for (batch clustering needs them)."""
    warnings: FieldWarnings = field(default_factory=FieldWarnings)

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


def read_rows(
    rows: Iterable[RawRow],
    *,
    keep_records: bool = False,
    rules: NormalizationRules = DEFAULT_RULES,
) -> ModelFrame:
    """Rows with a record id become model columns; the first row of a repeated id wins."""
    frame = ModelFrame(records=[] if keep_records else None)
    columns: dict[str, list[str | None]] = {name: [] for name in FRAME_COLUMNS}
    seen: set[str] = set()
    for raw in rows:
        frame.rows_read += 1
        if raw.error is not None:
            frame.reject(raw.number, raw.error)
            continue
        try:
            record = parse_record(raw.values, rules, prefix="")
        except ValidationError as exc:
            frame.reject(raw.number, str(exc))
            continue
        if record.record_id in seen:
            frame.reject(raw.number, f"duplicate record_id {record.record_id!r}")
            continue
        seen.add(record.record_id)
        frame.warnings.note(raw.number, record.flagged)
        if frame.records is not None:
            frame.records.append(record)
        columns["unique_id"].append(record.record_id)
        for name, value in features(record).items():
            columns[name].append(value)
        if len(columns["unique_id"]) == BATCH_ROWS:
            frame.batches.append(_flush(columns))
    frame.batches.append(_flush(columns))
    return frame


def read_file(
    path: Path,
    *,
    progress: bool = False,
    keep_records: bool = False,
    rules: NormalizationRules = DEFAULT_RULES,
) -> ModelFrame:
    kept = records_frozen(paused=True) if keep_records else nullcontext()
    with open_table(path) as table, kept:
        rows: Iterator[RawRow] = iter(table)
        if progress:
            total = table.count_rows()
            rows = iter(tqdm(rows, total=total, unit=" rows", desc="read", leave=False))
        return read_rows(rows, keep_records=keep_records, rules=rules)


def model_frame(
    records: Iterable[Mapping[str, str]], rules: NormalizationRules = DEFAULT_RULES
) -> pa.Table:
    """The frame of canonical-schema mappings (those without a record id left out)."""
    rows = (RawRow(n, dict(values)) for n, values in enumerate(records, start=1))
    return read_rows(rows, rules=rules).table()
