"""Batch deduplication of one file: train (or load) the match model, score, then cluster.

Splink trains the model and scores every blocked candidate pair in bulk, on DuckDB or Spark
(`idres.ingest.pairs`). Clustering then takes the records in time order through the online
resolver's own decisions (`idres.ingest.pair_graph`), so a batch run gives the customers a
stream through `Observe` would, up to the pairs each scores; the result is an Arrow table of
`record_id, cluster_id` that covers every record with a record id, singletons included.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from idres.ingest.clustering import ClusterCounts
from idres.ingest.files import write_table
from idres.ingest.frame import BATCH_ROWS, FieldWarnings, Rejection, read_file
from idres.ingest.heap import records_frozen
from idres.ingest.overrides import Constraints, joined
from idres.ingest.pair_graph import Clustered, DecisionLog, PairGraph, cluster_graph
from idres.ingest.pairs import Engine, score_pairs
from idres.ingest.training import (
    DEFAULT_MAX_PAIRS,
    TrainingPlan,
    model_version,
    plan_training,
    stage_bar,
    train,
    training_stages,
)
from idres.resolver.domain.linking import DEFAULT_POLICY
from idres.resolver.domain.matching import Thresholds, guarded
from idres.resolver.domain.normalize import DEFAULT_RULES, NormalizationRules
from idres.resolver.domain.overrides import Override
from idres.resolver.domain.records import Record
from idres.resolver.domain.scoring import MatchModel, identifier_differences, match_weight

DEFAULT_THRESHOLD = 0.9
DEFAULT_SEED = 42
DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 4))
"""Processes that share the decisions; each holds a copy of what it touches."""
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
    plan: TrainingPlan | None
    """What training chose from the file's columns; None for a given model."""
    rows_read: int
    rejected_rows: list[int]
    rejections: list[Rejection]
    """Reasons for the first rejected rows (all their numbers are in `rejected_rows`)."""
    warnings: FieldWarnings
    """Fields of kept records that did not validate: kept as given, not used to link."""
    counts: ClusterCounts
    """Records that started a customer, joined one, or merged several."""
    decisions: DecisionLog
    scored_pairs: int
    """Candidate pairs the engine scored at or above the possible-match weight."""
    frame: pa.Table
    """The model frame of the valid records (what the report profiles)."""
    threshold: float
    seconds: dict[str, float] = field(default_factory=dict)
    overrides: int = 0
    """Active operator overrides the run honoured."""
    refused: int = 0
    """Merges among them that a later split kept from joining."""
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


def _cluster(
    records: list[Record],
    frame: pa.Table,
    model: Mapping[str, Any],
    thresholds: Thresholds,
    engine: Engine,
    steps: _Steps,
    workers: int,
    constraints: Constraints,
) -> tuple[pa.Table, Clustered, int]:
    """Scores the blocked pairs in bulk, then takes every record through the resolver's
    decisions in time order (see `pair_graph`); every record is a node, so singletons stay."""
    ordered = sorted(records, key=lambda r: (r.ts, r.record_id))
    ids = pa.array([r.record_id for r in ordered], pa.string())
    steps.start()
    pairs = score_pairs(frame, model, floor=match_weight(thresholds.possible), engine=engine)
    graph = PairGraph.build(ids, pairs, identifier_differences(MatchModel.from_splink(model)))
    steps.done("score", f"{len(graph):,} candidate pairs on {engine.value}")
    del pairs
    steps.start()
    with tqdm(
        total=len(ordered), unit=" rec", desc="cluster", leave=False, disable=not steps.enabled
    ) as bar:

        def advance(done: int) -> None:
            bar.update(done - bar.n)

        policy = guarded(DEFAULT_POLICY, MatchModel.from_splink(model))
        clustered = cluster_graph(
            ordered,
            graph,
            thresholds=thresholds,
            policy=policy,
            workers=workers,
            progress=advance,
            marks=constraints.marks,
        )
    if constraints.must.groups:
        order = [r.record_id for r in ordered]
        clustered.customers, clustered.refused = joined(order, clustered.customers, constraints)
    return _stable_ids(ids, clustered.customers), clustered, len(graph)


def _stable_ids(ids: pa.Array, customers: list[str]) -> pa.Table:
    """Names each cluster by its smallest record_id, so that ids depend on the records alone,
    not on the order they were decided in."""
    table = pa.table({"record_id": ids, "label": pa.array(customers, pa.string())})
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
    engine: Engine = Engine.DUCKDB,
    workers: int = DEFAULT_WORKERS,
    rules: NormalizationRules = DEFAULT_RULES,
    overrides: Sequence[Override] = (),
) -> DedupResult:
    """Cluster the records of one canonical file; every record with an id gets a cluster.
    `rules` are the deployment's normalization rules (phone regions, placeholders);
    `overrides` the operator's merges and splits (`idres overrides`), which hold whatever
    the evidence says.

    Raises ValueError for an unusable file or threshold, FileNotFoundError for a missing one.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, not {threshold}")
    if max_pairs < 1:
        raise ValueError(f"max pairs must be positive, not {max_pairs}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    steps = _Steps(progress, stream or sys.stderr)
    read = read_file(
        Path(input_path), progress=progress, keep_records=True, rules=rules, workers=workers
    )
    frame = read.table()
    steps.done("read", f"{frame.num_rows:,} records, {len(read.rejected_rows):,} rejected")
    if frame.num_rows < 2 or read.records is None:
        raise ValueError("nothing to deduplicate: fewer than two records with a record id")
    trained = model is None
    with records_frozen():
        steps.start()
        plan: TrainingPlan | None = None
        if model is None:
            chosen, plan = _trained(frame, seed, max_pairs, engine, steps.enabled)
        else:
            chosen = dict(model)
        steps.done("train", f"model {model_version(chosen)}" + ("" if trained else " (given)"))
        thresholds = Thresholds(match=threshold, possible=min(threshold, 0.5), merge=threshold)
        assignments, clustered, pairs = _cluster(
            read.records,
            frame,
            chosen,
            thresholds,
            engine,
            steps,
            workers,
            Constraints.of(overrides),
        )
    counts = clustered.counts
    clusters = len(pc.unique(assignments.column("cluster_id")))
    steps.done("cluster", f"{clusters:,} clusters ({counts.merged:,} records merged customers)")
    return DedupResult(
        assignments=assignments,
        model=chosen,
        model_version=model_version(chosen),
        trained=trained,
        plan=plan,
        rows_read=read.rows_read,
        rejected_rows=read.rejected_rows,
        rejections=read.rejections,
        warnings=read.warnings,
        counts=counts,
        decisions=clustered.decisions,
        scored_pairs=pairs,
        frame=frame,
        threshold=threshold,
        seconds=steps.seconds,
        overrides=sum(1 for o in overrides if o.active),
        refused=clustered.refused,
    )


def _trained(
    frame: pa.Table, seed: int, max_pairs: int, engine: Engine, shown: bool
) -> tuple[dict[str, Any], TrainingPlan]:
    plan = plan_training(frame)
    with stage_bar(shown, stages=training_stages(plan.em_rules)) as advance:
        backend = _backend(engine)
        model = train(
            frame, seed=seed, max_pairs=max_pairs, plan=plan, db_api=backend, progress=advance
        )
    return model, plan


def _backend(engine: Engine) -> Any:
    """The Splink backend training runs on: None is DuckDB, in this process."""
    if engine is Engine.SPARK:
        from idres.ingest.spark import spark_api, spark_session

        return spark_api(spark_session())
    return None


def _rows(assignments: pa.Table) -> Iterator[tuple[str, str]]:
    for batch in assignments.to_batches(max_chunksize=BATCH_ROWS):
        ids = batch.column(0).to_pylist()
        clusters = batch.column(1).to_pylist()
        yield from zip(ids, clusters, strict=True)


def write_clusters(result: DedupResult, out_path: Path | str) -> int:
    """Write `record_id,cluster_id` as CSV, Parquet or JSON Lines (by extension)."""
    return write_table(Path(out_path), OUTPUT_COLUMNS, _rows(result.assignments))
