"""idres's own methods for the accuracy benchmark: every record through `Observe`, and `dedup`.

Each runs as a user would run it, with the data set's normalization rules, and its time
includes training its own model, because a user pays for that too:

- streaming trains with `idres train`'s defaults, stores the model in a fresh embedded
  PostgreSQL, and sends every record through `Resolver.observe` in time order;
- dedup is `idres dedup` on the records file itself: read, train, score, cluster.

    python -m loadtests.accuracy_idres --persons 20000 --seed 11
    python -m loadtests.accuracy_idres --records records.parquet --truth truth.parquet \\
        --phone-regions GB,US
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from idres.ingest.dedup import dedup
from idres.ingest.training import model_version, plan_training, train, training_facts
from idres.resolver.adapters.database import Database, open_database
from idres.resolver.adapters.embedded import stop_embedded
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.records import Record
from idres.resolver.resolution import Resolver
from loadtests import accuracy
from loadtests.accuracy import DEDUP, STREAMING, Dataset, Method

PROGRESS_EVERY = 5_000
"""Records between progress lines: the stream runs for minutes, and silence looks like a hang."""


def _say(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def _store_model(db: Database, data: Dataset) -> None:
    """Trains as `idres train` does (its plan, its defaults) and activates the model."""
    started = time.perf_counter()
    plan = plan_training(data.frame)
    model = train(data.frame, plan=plan)
    facts = training_facts(data.frame, model, plan)
    ModelStore(Store(db)).save(model_version(model), model, facts, activate=True)
    _say(f"trained {model_version(model)} in {time.perf_counter() - started:.1f} s")


def _observe_all(resolver: Resolver, records: Sequence[Record]) -> None:
    started, total = time.perf_counter(), len(records)
    for done, record in enumerate(records, 1):
        resolver.observe(record)
        if done % PROGRESS_EVERY == 0 or done == total:
            elapsed = time.perf_counter() - started
            rate = done / elapsed
            left = (total - done) / rate
            _say(f"observed {done:,}/{total:,} ({rate:,.0f}/s, about {left:,.0f} s left)")


def streaming(data: Dataset) -> dict[str, str]:
    """Every record through `Resolver.observe` (the code behind `Observe`) in time order, on a
    fresh embedded PostgreSQL; the clusters are the customers the store ends with."""
    folder = Path(tempfile.mkdtemp(prefix="idres-accuracy-"))
    try:
        db = open_database("", folder, pool_size=2, durable=False)
        _store_model(db, data)
        resolver = Resolver(db, rules=data.rules)
        try:
            _observe_all(resolver, data.records)
            return dict(resolver.store.record_assignments())
        finally:
            resolver.close()
    finally:
        stop_embedded(folder)
        shutil.rmtree(folder, ignore_errors=True)


def batch(data: Dataset) -> dict[str, str]:
    """`idres dedup` on the records file, as a user runs it: it reads and trains for itself."""
    result = dedup(data.records_path, progress=False, rules=data.rules)
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.seconds.items())
    _say(f"dedup: model {result.model_version}, {steps}")
    labels: dict[str, str] = result.as_dict()
    return labels


accuracy.METHODS.append(Method(STREAMING, streaming, uses_frame=True))
accuracy.METHODS.append(Method(DEDUP, batch))

if __name__ == "__main__":
    raise SystemExit(accuracy.main())
