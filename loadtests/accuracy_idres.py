"""idres's own methods for the accuracy benchmark: streaming through `Observe`, and `dedup`.

Both use one model, trained once per data set with `idres train`'s defaults, as a user would:

    python -m loadtests.accuracy_idres --persons 20000 --seed 11
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from idres.ingest.dedup import DEFAULT_WORKERS
from idres.ingest.pair_graph import PairGraph, cluster_graph
from idres.ingest.pairs import score_pairs
from idres.ingest.training import model_version, train, training_facts
from idres.resolver.adapters.database import open_database, stop_embedded
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.matching import DEFAULT_THRESHOLDS
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.domain.scoring import match_weight
from idres.resolver.resolution import Resolver
from loadtests import accuracy
from loadtests.accuracy import DEDUP, STREAMING, Dataset, Method

TRAIN_MAX_PAIRS = 2_000_000
_models: dict[int, dict[str, Any]] = {}


def trained_model(data: Dataset) -> dict[str, Any]:
    """The model for this data set, trained on first use and shared by both methods."""
    if id(data) not in _models:
        started = time.perf_counter()
        _models[id(data)] = train(data.frame, max_pairs=TRAIN_MAX_PAIRS)
        print(f"  trained the model in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return _models[id(data)]


def streaming(data: Dataset) -> dict[str, str]:
    """Every record through `Resolver.observe` (the code behind `Observe`) in time order, on a
    fresh embedded PostgreSQL; the clusters are the customers the store ends with."""
    model = trained_model(data)
    folder = Path(tempfile.mkdtemp(prefix="idres-accuracy-"))
    try:
        db = open_database("", folder, pool_size=2, durable=False)
        facts = training_facts(data.frame, model)
        ModelStore(Store(db)).save(model_version(model), model, facts, activate=True)
        resolver = Resolver(db, rules=DEFAULT_RULES)
        started, total = time.perf_counter(), len(data.records)
        for done, record in enumerate(data.records, 1):
            resolver.observe(record)
            if done % 10_000 == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  observed {done:,}/{total:,} ({rate:,.0f}/s)", file=sys.stderr)
        labels = dict(resolver.store.record_assignments())
        resolver.close()
        return labels
    finally:
        stop_embedded(folder)
        shutil.rmtree(folder, ignore_errors=True)


def batch(data: Dataset) -> dict[str, str]:
    """`idres dedup`'s scoring and clustering over the same records with the same model."""
    model = trained_model(data)
    ids = pa.array([r.record_id for r in data.records], pa.string())
    floor = match_weight(DEFAULT_THRESHOLDS.possible)
    graph = PairGraph.build(ids, score_pairs(data.frame, model, floor=floor))
    clustered = cluster_graph(data.records, graph, workers=DEFAULT_WORKERS)
    return dict(zip(ids.to_pylist(), clustered.customers, strict=True))


accuracy.METHODS.append(Method(STREAMING, streaming, uses_frame=True))
accuracy.METHODS.append(Method(DEDUP, batch, uses_frame=True))

if __name__ == "__main__":
    raise SystemExit(accuracy.main())
