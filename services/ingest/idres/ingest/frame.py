"""The model frame: records as the match model's columns, for training and batch dedup.

Rows stream in and are parsed in chunks, each packed into an Arrow batch, so Python never holds
more than a few chunks of rows; a large input is parsed in worker processes, in the same order.
A row that cannot join the frame (unreadable, without a usable record id, or a repeated
record id) is counted with its row number, as ingest counts it; a field that did not validate
only makes a warning (`FieldWarnings`): the record joins without it.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


READ_WORKERS = max(1, min(os.cpu_count() or 1, 8))
"""Processes that parse a large input, when the platform can fork."""
CHUNK_ROWS = 2_048
"""Rows a worker parses at a time: large enough that sending them costs little."""
PARALLEL_ROWS = 4 * CHUNK_ROWS
"""Inputs shorter than this are parsed here: starting workers would cost more than it saves."""


@dataclass(slots=True)
class _Chunk:
    """Consecutive rows parsed, in row order: what a worker sends back."""

    rows: int
    rejected: list[tuple[int, str]]
    numbers: list[int]
    """The row number of each parsed record."""
    ids: list[str]
    flagged: list[tuple[Flagged, ...]]
    records: list[Record] | None
    batch: pa.RecordBatch
    """The model columns of each parsed record, repeated ids still in."""


_RawTuple = tuple[int, dict[str, str], str | None]


def _parse(rows: Sequence[_RawTuple], rules: NormalizationRules, keep: bool) -> _Chunk:
    """Parses rows on their own; a repeated id is left for `_Builder`, which sees them all."""
    chunk = _Chunk(len(rows), [], [], [], [], [] if keep else None, _EMPTY)
    columns: dict[str, list[str | None]] = {name: [] for name in FRAME_COLUMNS}
    unique_ids = columns["unique_id"]
    for number, values, error in rows:
        if error is not None:
            chunk.rejected.append((number, error))
            continue
        try:
            record = parse_record(values, rules, prefix="")
        except ValidationError as exc:
            chunk.rejected.append((number, str(exc)))
            continue
        chunk.numbers.append(number)
        chunk.ids.append(record.record_id)
        chunk.flagged.append(record.flagged)
        if chunk.records is not None:
            chunk.records.append(record)
        unique_ids.append(record.record_id)
        for name, value in features(record).items():
            columns[name].append(value)
    chunk.batch = _batch(columns)
    return chunk


def _batch(columns: Mapping[str, list[str | None]]) -> pa.RecordBatch:
    return pa.record_batch(
        {name: pa.array(values, pa.string()) for name, values in columns.items()}
    )


_EMPTY = _batch({name: [] for name in FRAME_COLUMNS})


@dataclass(slots=True)
class _Builder:
    """Joins parsed chunks, in row order, into one frame: the first row of an id wins."""

    frame: ModelFrame
    seen: set[str] = field(default_factory=set)

    def add(self, chunk: _Chunk) -> None:
        frame = self.frame
        frame.rows_read += chunk.rows
        repeated: list[tuple[int, str]] = []
        kept: list[bool] = []
        for i, (number, record_id) in enumerate(zip(chunk.numbers, chunk.ids, strict=True)):
            first = record_id not in self.seen
            kept.append(first)
            if not first:
                repeated.append((number, f"duplicate record_id {record_id!r}"))
                continue
            self.seen.add(record_id)
            frame.warnings.note(number, chunk.flagged[i])
            if frame.records is not None and chunk.records is not None:
                frame.records.append(chunk.records[i])
        for number, reason in heapq.merge(chunk.rejected, repeated):
            frame.reject(number, reason)
        batch = chunk.batch.filter(pa.array(kept, pa.bool_())) if repeated else chunk.batch
        if batch.num_rows:
            frame.batches.append(batch)


def _chunks(rows: Iterable[RawRow]) -> Iterator[list[_RawTuple]]:
    """Rows in consecutive chunks, as plain tuples: they cost less to send to a worker."""
    it = iter(rows)
    while chunk := [(r.number, r.values, r.error) for r in itertools.islice(it, CHUNK_ROWS)]:
        yield chunk


def read_rows(
    rows: Iterable[RawRow],
    *,
    keep_records: bool = False,
    rules: NormalizationRules = DEFAULT_RULES,
    workers: int = READ_WORKERS,
) -> ModelFrame:
    """Rows with a record id become model columns; the first row of a repeated id wins. A
    large input is parsed by `workers` processes, with the same frame as a result."""
    builder = _Builder(ModelFrame(records=[] if keep_records else None))
    it = iter(rows)
    head = list(itertools.islice(it, PARALLEL_ROWS))
    parallel = workers > 1 and len(head) == PARALLEL_ROWS and _can_fork()
    rest = itertools.chain(head, it)
    if parallel:
        _parse_in_workers(_chunks(rest), builder, rules, keep_records, workers)
    else:
        for chunk in _chunks(rest):
            builder.add(_parse(chunk, rules, keep_records))
    return builder.frame


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# What a forked worker parses by; set once in each worker, before its first chunk.
_worker_setup: tuple[NormalizationRules, bool] = (DEFAULT_RULES, False)


def _start_worker(rules: NormalizationRules, keep: bool) -> None:
    global _worker_setup
    _worker_setup = (rules, keep)
    # Parsing makes no reference cycles, and a collection would walk (and copy) the parent's
    # pages this process shares.
    gc.disable()


def _parse_sent(rows: list[_RawTuple]) -> _Chunk:
    return _parse(rows, *_worker_setup)


def _parse_in_workers(
    chunks: Iterator[list[_RawTuple]],
    builder: _Builder,
    rules: NormalizationRules,
    keep: bool,
    workers: int,
) -> None:
    """Chunks parsed by forked workers and joined here in order. The pool reads `chunks` in a
    thread of its own, a few chunks ahead of the workers."""
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_start_worker, initargs=(rules, keep)) as pool:
        for chunk in pool.imap(_parse_sent, chunks):
            builder.add(chunk)
        pool.close()
        pool.join()


def read_file(
    path: Path,
    *,
    progress: bool = False,
    keep_records: bool = False,
    rules: NormalizationRules = DEFAULT_RULES,
    workers: int = READ_WORKERS,
) -> ModelFrame:
    kept = records_frozen(paused=True) if keep_records else nullcontext()
    with open_table(path) as table, kept:
        rows: Iterator[RawRow] = iter(table)
        if progress:
            total = table.count_rows()
            rows = iter(tqdm(rows, total=total, unit=" rows", desc="read", leave=False))
        return read_rows(rows, keep_records=keep_records, rules=rules, workers=workers)


def model_frame(
    records: Iterable[Mapping[str, str]], rules: NormalizationRules = DEFAULT_RULES
) -> pa.Table:
    """The frame of canonical-schema mappings (those without a record id left out)."""
    rows = (RawRow(n, dict(values)) for n, values in enumerate(records, start=1))
    return read_rows(rows, rules=rules).table()
