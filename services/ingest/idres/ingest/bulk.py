"""`idres ingest --bulk`: a whole file into the store through the batch path.

The file is read and normalized once; its candidate pairs, with the records the store holds,
are scored in bulk and the resolver's own decisions taken over them in memory against a
snapshot of the store (`idres.ingest.bulk_graph`); everything is written in one COPY-based
transaction. Stored customers keep their ids: a new record joins one, or a merge absorbs one and
its id becomes an alias that still resolves. Without an active model, one is trained on the file
first and stored, as `idres train` would.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc

from idres.ingest.bulk_graph import Decided, decide_load
from idres.ingest.frame import FieldWarnings, Rejection, read_file
from idres.ingest.heap import records_frozen
from idres.ingest.training import (
    DEFAULT_MAX_PAIRS,
    model_version,
    stage_bar,
    train,
    training_facts,
)
from idres.resolver.adapters.bulk_store import BulkBatch, bulk_session
from idres.resolver.adapters.erasure_store import active_digests, suppression_key
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Snapshot, Store
from idres.resolver.domain.erasure import record_digests, sealed
from idres.resolver.domain.events import new_customer_id
from idres.resolver.domain.normalize import DEFAULT_RULES, NormalizationRules
from idres.resolver.domain.records import Record, redacted
from idres.resolver.domain.scoring import features


@dataclass(slots=True)
class BulkSummary:
    rows_read: int = 0
    rejected_rows: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    warnings: FieldWarnings = field(default_factory=FieldWarnings)
    """Fields kept as given but not used to link, by row."""
    loaded: int = 0
    already: int = 0
    """Records the store held already, with the same content: skipped."""
    conflicts: list[str] = field(default_factory=list)
    """Record ids the store holds with other content: left out."""
    erased: list[str] = field(default_factory=list)
    """Record ids erased earlier (`idres forget`): left out until their suppression is lifted."""
    erased_values: int = 0
    """Erased identifiers taken out of the records that carried them again."""
    new_customers: int = 0
    merged_stored: int = 0
    """Customers already stored that the load merged into others (their ids are aliases)."""
    model_version: str = ""
    trained: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items())
        return [
            f"rows read          {self.rows_read:,}",
            f"rejected           {len(self.rejected_rows):,}",
            f"warned             {self.warnings.rows:,} rows (fields kept, not used to link)",
            f"loaded             {self.loaded:,} records",
            f"already stored     {self.already:,} (same content, skipped)",
            f"conflicts          {len(self.conflicts):,} (stored with other content, left out)",
            f"erased earlier     {len(self.erased):,} records left out,"
            f" {self.erased_values:,} erased values dropped",
            f"new customers      {self.new_customers:,}",
            f"stored customers merged  {self.merged_stored:,} (their ids still resolve)",
            f"model              {self.model_version}"
            + (" (trained on this file)" if self.trained else " (active)"),
            f"seconds            {steps}",
            *self.warnings.lines(),
        ]


def bulk_ingest(
    path: Path,
    store: Store,
    *,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    seed: int = 42,
    progress: bool = True,
    stream: TextIO | None = None,
    rules: NormalizationRules = DEFAULT_RULES,
    suppression_key: str = "",
) -> BulkSummary:
    """Loads one file, read with the deployment's `rules`; raises ValueError for an unusable
    file."""
    out = stream or sys.stderr
    summary = BulkSummary()
    started = time.perf_counter()
    read = read_file(path, progress=progress, keep_records=True, rules=rules)
    records, changed = _unerased(read.records or [], store, suppression_key, summary)
    summary.rows_read, summary.rejected_rows = read.rows_read, read.rejected_rows
    summary.rejections, summary.warnings = read.rejections, read.warnings
    _step(summary, "read", started, out, progress, f"{len(records):,} records")
    with records_frozen():  # the kept records: see `idres.ingest.heap`
        started = time.perf_counter()
        frame = read.table()
        version, model, facts = _model(store, frame, max_pairs, seed, summary, progress)
        _step(summary, "model", started, out, progress, f"model {version}")
        with bulk_session(store) as session:
            started = time.perf_counter()
            fresh = _fresh(records, session.fingerprints([r.record_id for r in records]), summary)
            snapshot = session.snapshot()
            frame = _fresh_frame(frame, fresh, changed)
            decided = decide_load(
                fresh, frame, model, snapshot, facts, new_id=new_customer_id, progress=progress
            )
            del frame
            detail = f"{len(fresh):,} records, {decided.pairs:,} candidate pairs"
            _step(summary, "cluster", started, out, progress, detail)
            started = time.perf_counter()
            batch = _batch(decided, fresh, snapshot, version)
            session.write(batch, progress=progress)
            _step(summary, "write", started, out, progress, "one transaction")
    summary.loaded = len(fresh)
    summary.new_customers = len(batch.created)
    summary.merged_stored = sum(1 for a in batch.aliases if a in batch.existing)
    return summary


def _unerased(
    records: list[Record], store: Store, configured_key: str, summary: BulkSummary
) -> tuple[list[Record], set[str]]:
    """The records without what an erasure suppressed, as `Observe` would take them, and the
    ids of those that lost a value."""
    active = active_digests(store)
    if not active:
        return records, set()
    key = suppression_key(store, configured_key)
    kept = []
    redacted_ids: set[str] = set()
    for record in records:
        digests = record_digests(key, record)
        hit = [digests[d] for d in digests.keys() & active]
        if None in hit:
            summary.erased.append(record.record_id)
            continue
        if hit:
            values = [h for h in hit if h is not None]
            summary.erased_values += len(values)
            record = redacted(record, values, sealed(key, record.fingerprint))
            redacted_ids.add(record.record_id)
        kept.append(record)
    return kept, redacted_ids


def _fresh_frame(frame: pa.Table, fresh: list[Record], redacted_ids: set[str]) -> pa.Table:
    """The model frame of the records to load: the file's rows of those not yet stored, with
    the rows of any an erasure took values out of built again from what is left."""
    keep = {r.record_id for r in fresh} - redacted_ids
    if len(keep) < frame.num_rows:
        ids = frame.column("unique_id")
        frame = frame.filter(pc.is_in(ids, value_set=pa.array(list(keep), pa.string())))
    changed = [r for r in fresh if r.record_id in redacted_ids]
    if not changed:
        return frame
    rows = [{"unique_id": r.record_id, **features(r)} for r in changed]
    extra = pa.Table.from_pylist(rows, schema=frame.schema)
    return pa.concat_tables([frame, extra])


def _step(
    summary: BulkSummary, name: str, started: float, out: TextIO, progress: bool, detail: str
) -> None:
    summary.seconds[name] = time.perf_counter() - started
    if progress:
        print(f"{name}: {detail} in {summary.seconds[name]:.1f} s", file=out, flush=True)


def _model(
    store: Store, frame: pa.Table, max_pairs: int, seed: int, summary: BulkSummary, shown: bool
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The active model, or one trained on this file and stored active."""
    models = ModelStore(store)
    active = models.active()
    if active is not None:
        summary.model_version = active[0]
        return active
    if frame.num_rows < 2:
        raise ValueError("no active model, and too few valid records to train one")
    with stage_bar(shown) as advance:
        model = train(frame, seed=seed, max_pairs=max_pairs, progress=advance)
    facts = {"source": "bulk ingest", **training_facts(frame, model)}
    version = model_version(model)
    models.save(version, model, facts, activate=True)
    summary.model_version, summary.trained = version, True
    return version, model, facts


def _fresh(records: list[Record], stored: Mapping[str, str], summary: BulkSummary) -> list[Record]:
    """The records the store does not hold yet; a re-sent one is skipped, a changed one refused."""
    fresh = []
    for record in records:
        known = stored.get(record.record_id)
        if known is None:
            fresh.append(record)
        elif known == record.fingerprint:
            summary.already += 1
        else:
            summary.conflicts.append(record.record_id)
    return fresh


def _batch(decided: Decided, records: list[Record], snapshot: Snapshot, version: str) -> BulkBatch:
    kept, index = decided.kept, decided.index
    aliases = {a: index.canonical(a) or s for a, s in kept.merges}
    idents = {o.identifier for r in records for o in r.identifiers}
    states, _ = index.states(idents)
    values = {i: (s.status, s.holders) for i, s in states.items()}
    existing = frozenset(cid for cid, _ in snapshot.customers)
    return BulkBatch(
        records=records,
        owners=decided.owners,
        created=kept.created,
        aliases=aliases,
        values=values,
        links=kept.links,
        events=kept.events,
        model_version=version,
        existing=existing,
        reviews=kept.reviews,
    )
