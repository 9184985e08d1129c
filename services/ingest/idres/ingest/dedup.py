"""Batch deduplication of one file: train (or load) the match model, then cluster.

Splink trains the model on DuckDB. Clustering then takes the records in time order through the
online resolver's own candidate retrieval and decisions (`idres.ingest.clustering`), so a batch
run gives the customers a stream through `Observe` would; the result is an Arrow table of
`record_id, cluster_id` that covers every valid record, singletons included.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from idres.ingest.clustering import ClusterCounts, StreamClusterer
from idres.ingest.files import write_table
from idres.ingest.frame import BATCH_ROWS, Rejection, read_file
from idres.ingest.training import DEFAULT_MAX_PAIRS, model_version, train, training_facts
from idres.resolver.domain.linking import Plan
from idres.resolver.domain.matching import Thresholds
from idres.resolver.domain.records import Record

DEFAULT_THRESHOLD = 0.9
DEFAULT_SEED = 42
OUTPUT_COLUMNS: tuple[str, str] = ("record_id", "cluster_id")


@dataclass(slots=True)
class DedupResult:
    """Clusters of the valid records, with what it took to get them."""

    assignments: pa.Table
    """`record_id, cluster_id` for every valid record, sorted by record_id."""
    model: dict[str, Any]
    model_version: str
    trained: bool
    """False when the model was given rather than trained on this file."""
    rows_read: int
    rejected_rows: list[int]
    rejections: list[Rejection]
    """Reasons for the first rejected rows (all their numbers are in `rejected_rows`)."""
    counts: ClusterCounts
    """Records that started a customer, joined one, or merged several."""
    decisions: DecisionLog
    frame: pa.Table
    """The model frame of the valid records (what the report profiles)."""
    threshold: float
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per step: read, train, cluster."""

    @property
    def records(self) -> int:
        return int(self.assignments.num_rows)

    @property
    def clusters(self) -> int:
        return len(pc.unique(self.assignments.column("cluster_id")))

    @property
    def largest_cluster(self) -> int:
        if self.records == 0:
            return 0
        counts = pc.value_counts(self.assignments.column("cluster_id"))
        return int(pc.max(counts.field("counts")).as_py())

    def as_dict(self) -> dict[str, str]:
        """record_id -> cluster_id; convenient for small results, costly for large ones."""
        ids = self.assignments.column("record_id").to_pylist()
        clusters = self.assignments.column("cluster_id").to_pylist()
        return dict(zip(ids, clusters, strict=True))


class _Steps:
    """Times each step and, when asked, says so on stderr as it finishes."""

    def __init__(self, enabled: bool, stream: TextIO) -> None:
        self.enabled = enabled
        self.stream = stream
        self.seconds: dict[str, float] = {}
        self._origin = time.perf_counter()
        self._started = self._origin

    def start(self) -> None:
        self._started = time.perf_counter()

    def done(self, step: str, detail: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = now - self._started
        if self.enabled:
            print(
                f"{step}: {detail} in {self.seconds[step]:.1f} s"
                f" ({now - self._origin:.1f} s elapsed)",
                file=self.stream,
                flush=True,
            )


@dataclass(slots=True)
class DecisionLog:
    """What the decisions weighed, for the report: each record's best candidate weight, and
    the links records made (record, linked record, probability)."""

    best_weights: list[float] = field(default_factory=list)
    links: list[tuple[str, str, float]] = field(default_factory=list)

    def note(self, record: Record, plan: Plan | None) -> None:
        best = plan.links[0] if plan and plan.links else None
        if best is None or not math.isfinite(best.match_weight):
            return
        self.best_weights.append(best.match_weight)
        if plan is not None and plan.target is not None:
            self.links.append((record.record_id, best.record_id, best.probability))


def _cluster(
    records: list[Record],
    model: Mapping[str, Any],
    facts: Mapping[str, Any],
    thresholds: Thresholds,
    progress: bool,
) -> tuple[pa.Table, ClusterCounts, DecisionLog]:
    """Every record through the online resolver's decisions, in time order (see `clustering`);
    every record is a node, so singletons stay."""
    clusterer = StreamClusterer(model, model_version(model), facts=facts, thresholds=thresholds)
    ordered = sorted(records, key=lambda r: (r.ts, r.record_id))
    decisions = DecisionLog()
    for record in tqdm(ordered, unit=" rec", desc="cluster", leave=False, disable=not progress):
        clusterer.add(record)
        decisions.note(record, clusterer.last_plan)
    ids, customers = zip(*clusterer.clusters(), strict=True) if ordered else ((), ())
    table = pa.table(
        {"unique_id": pa.array(ids, pa.string()), "cluster_id": pa.array(customers, pa.string())}
    )
    return _stable_ids(table), clusterer.counts, decisions


def _stable_ids(clustered: pa.Table) -> pa.Table:
    """Names each cluster by its smallest record_id, so that ids do not depend on Splink's."""
    ids = pc.cast(clustered.column("unique_id"), pa.string())
    table = pa.table({"record_id": ids, "label": clustered.column("cluster_id")})
    smallest = table.group_by("label").aggregate([("record_id", "min")])
    joined = table.join(smallest, "label", join_type="left outer")
    out = pa.table(
        {"record_id": joined.column("record_id"), "cluster_id": joined.column("record_id_min")}
    )
    return out.sort_by("record_id")


def dedup(
    input_path: Path | str,
    *,
    model: Mapping[str, Any] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    stream: TextIO | None = None,
) -> DedupResult:
    """Cluster the records of one canonical file; every valid record gets a cluster.

    Raises ValueError for an unusable file or threshold, FileNotFoundError for a missing one.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, not {threshold}")
    if max_pairs < 1:
        raise ValueError(f"max pairs must be positive, not {max_pairs}")
    steps = _Steps(progress, stream or sys.stderr)
    read = read_file(Path(input_path), progress=progress, keep_records=True)
    frame = read.table()
    steps.done("read", f"{frame.num_rows:,} records, {len(read.rejected_rows):,} rejected")
    if frame.num_rows < 2 or read.records is None:
        raise ValueError("nothing to deduplicate: fewer than two valid records")
    trained = model is None
    steps.start()
    chosen = train(frame, seed=seed, max_pairs=max_pairs) if model is None else dict(model)
    facts = training_facts(frame, chosen)
    steps.done("train", f"model {model_version(chosen)}" + ("" if trained else " (given)"))
    steps.start()
    thresholds = Thresholds(match=threshold, possible=min(threshold, 0.5), merge=threshold)
    assignments, counts, decisions = _cluster(read.records, chosen, facts, thresholds, progress)
    clusters = len(pc.unique(assignments.column("cluster_id")))
    steps.done("cluster", f"{clusters:,} clusters ({counts.merged:,} records merged customers)")
    return DedupResult(
        assignments=assignments,
        model=chosen,
        model_version=model_version(chosen),
        trained=trained,
        rows_read=read.rows_read,
        rejected_rows=read.rejected_rows,
        rejections=read.rejections,
        counts=counts,
        decisions=decisions,
        frame=frame,
        threshold=threshold,
        seconds=steps.seconds,
    )


def _rows(assignments: pa.Table) -> Iterator[tuple[str, str]]:
    for batch in assignments.to_batches(max_chunksize=BATCH_ROWS):
        ids = batch.column(0).to_pylist()
        clusters = batch.column(1).to_pylist()
        yield from zip(ids, clusters, strict=True)


def write_clusters(result: DedupResult, out_path: Path | str) -> int:
    """Write `record_id,cluster_id` as CSV, Parquet or JSON Lines (by extension)."""
    return write_table(Path(out_path), OUTPUT_COLUMNS, _rows(result.assignments))
