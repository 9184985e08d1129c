"""Streams a canonical-schema file through the resolver's own linking, row by row.

Rows run on a few threads: each waits on PostgreSQL most of the time, and the store's locks
keep concurrent links correct. A row without a usable record id, or one whose id was stored
with other content, is rejected with its number and field; a field that does not validate is
kept as given, not used to link, and reported as a warning with its row.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from idres.ingest.files import RawRow, open_table
from idres.ingest.frame import FieldWarnings
from idres.resolver.domain.errors import ConflictError, PreconditionError, ValidationError
from idres.resolver.resolution import Observation, Outcome, Resolver

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int
    field: str
    reason: str


@dataclass(slots=True)
class IngestSummary:
    read: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    absorbed: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: FieldWarnings = field(default_factory=FieldWarnings)
    seconds: float = 0.0

    @property
    def rejected_rows(self) -> int:
        return len({r.row for r in self.rejections})

    def add(self, row: int, obs: Observation) -> None:
        self.warnings.note(row, obs.flagged)
        self.outcomes[obs.outcome] += 1
        self.absorbed += len(obs.absorbed)

    def lines(self) -> list[str]:
        rate = self.read / self.seconds if self.seconds else 0.0
        o = self.outcomes
        lines = [
            f"records read:        {self.read:,} in {self.seconds:.1f} s ({rate:,.0f} records/s)",
            f"rejected rows:       {self.rejected_rows:,}",
            f"warned rows:         {self.warnings.rows:,} (fields kept, not used to link)",
            f"customers created:   {o[Outcome.CREATED]:,}",
            f"linked to existing:  {o[Outcome.LINKED]:,}",
            f"merges:              {o[Outcome.MERGED]:,} ({self.absorbed:,} customers absorbed)",
        ]
        if o[Outcome.ALREADY_OBSERVED]:
            lines.append(f"already observed:    {o[Outcome.ALREADY_OBSERVED]:,}")
        reasons = Counter(f"{r.field}: {r.reason}" for r in self.rejections)
        for reason, count in reasons.most_common(10):
            lines.append(f"  rejected {count:>6,} x {reason}")
        return lines + self.warnings.lines()


def ingest_file(
    path: Path, resolver: Resolver, *, workers: int = 4, progress: bool = True
) -> IngestSummary:
    summary = IngestSummary()
    started = time.perf_counter()
    with open_table(path) as table:
        if table.extra_columns:
            log.warning("ignoring columns not in the schema: %s", ", ".join(table.extra_columns))
        bar = tqdm(
            total=table.count_rows(),
            unit="rec",
            disable=not progress,
            desc="ingest",
            smoothing=0.1,
            mininterval=0.5,
        )
        with bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
            for row, future in _bounded(pool, resolver, iter(table), workers * 4):
                _collect(summary, row, future)
                bar.update(1)
    summary.seconds = time.perf_counter() - started
    return summary


def _bounded(
    pool: ThreadPoolExecutor, resolver: Resolver, rows: Iterator[RawRow], window: int
) -> Iterator[tuple[RawRow, Future[Observation] | None]]:
    """Keeps at most `window` rows in flight, yielding results in file order."""
    pending: deque[tuple[RawRow, Future[Observation] | None]] = deque()
    for row in rows:
        future = None if row.error else pool.submit(resolver.observe_values, row.values)
        pending.append((row, future))
        if len(pending) >= window:
            yield pending.popleft()
    yield from pending


def _collect(summary: IngestSummary, row: RawRow, future: Future[Observation] | None) -> None:
    summary.read += 1
    if future is None:
        summary.rejections.append(Rejection(row.number, "row", row.error or "unreadable"))
        return
    try:
        summary.add(row.number, future.result())
    except ValidationError as exc:
        summary.rejections.extend(
            Rejection(row.number, v.field.removeprefix("record."), v.description)
            for v in exc.violations
        )
    except (ConflictError, PreconditionError) as exc:  # re-used id, or an erased record
        summary.rejections.append(Rejection(row.number, "record_id", str(exc)))
