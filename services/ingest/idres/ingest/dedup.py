"""Batch deduplication of one file: train (or load) the match model, score, cluster.

The file is streamed into the model frame batch by batch, so Python never holds more than one
batch of rows; scoring and clustering run inside DuckDB through Splink, and the result comes back
as an Arrow table of `record_id, cluster_id` that covers every valid record, singletons included.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, Linker
from splink.internals.splink_dataframe import SplinkDataFrame

from idres.ingest.files import write_table
from idres.ingest.frame import BATCH_ROWS, Rejection, read_file
from idres.ingest.training import DEFAULT_MAX_PAIRS, model_version, train

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
    predicted_pairs: int
    """Scored pairs at or above the threshold: the edges clustering joins."""
    threshold: float
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per step: read, train, predict, cluster."""

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


def _predict(
    frame: pa.Table, model: Mapping[str, Any], threshold: float
) -> tuple[Linker, SplinkDataFrame, int]:
    """Pairs from the model's own blocking rules, scored, kept at or above the threshold."""
    db_api = DuckDBAPI()
    # Splink may annotate the settings it is given; the caller's model stays untouched.
    linker = Linker(db_api.register(frame), copy.deepcopy(dict(model)), log_level=logging.WARNING)
    pairs = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    count = int(pairs.as_duckdbpyrelation().count("*").fetchall()[0][0])
    return linker, pairs, count


def _cluster(linker: Linker, pairs: SplinkDataFrame, threshold: float) -> pa.Table:
    """Connected components over the kept pairs; every record is a node, so singletons stay."""
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=threshold
    )
    relation = clustered.as_duckdbpyrelation().select("unique_id", "cluster_id")
    table: pa.Table = relation.to_arrow_table()
    return _stable_ids(table)


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
    read = read_file(Path(input_path), progress=progress)
    frame = read.table()
    steps.done("read", f"{frame.num_rows:,} records, {len(read.rejected_rows):,} rejected")
    if frame.num_rows < 2:
        raise ValueError("nothing to deduplicate: fewer than two valid records")
    trained = model is None
    steps.start()
    chosen = train(frame, seed=seed, max_pairs=max_pairs) if model is None else dict(model)
    steps.done("train", f"model {model_version(chosen)}" + ("" if trained else " (given)"))
    steps.start()
    linker, scored, pairs = _predict(frame, chosen, threshold)
    steps.done("predict", f"{pairs:,} pairs at p >= {threshold:g}")
    steps.start()
    assignments = _cluster(linker, scored, threshold)
    steps.done("cluster", f"{len(pc.unique(assignments.column('cluster_id'))):,} clusters")
    return DedupResult(
        assignments=assignments,
        model=chosen,
        model_version=model_version(chosen),
        trained=trained,
        rows_read=read.rows_read,
        rejected_rows=read.rejected_rows,
        rejections=read.rejections,
        predicted_pairs=pairs,
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
