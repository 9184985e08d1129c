"""Batch clustering decides as Observe does: the same records give the same customers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from idres.ingest.clustering import StreamClusterer
from idres.ingest.evaluation import evaluate_arrays
from idres.ingest.generator import generate
from idres.ingest.training import model_version
from idres.resolver.domain.errors import ValidationError
from idres.resolver.domain.records import Record, parse_record
from idres.resolver.resolution import Resolver


def records(persons: int, seed: int) -> list[Record]:
    out = []
    for values in generate(persons, seed).records:
        try:
            out.append(parse_record(values))
        except ValidationError:
            continue
    return sorted(out, key=lambda r: (r.ts, r.record_id))


def partition(pairs: Iterable[tuple[str, str]]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for record_id, cluster in pairs:
        groups[cluster].add(record_id)
    return {frozenset(g) for g in groups.values()}


def test_batch_and_observe_give_the_same_customers(
    model_resolver: Resolver, trained: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    model, facts = trained
    stream = records(150, 21)
    clusterer = StreamClusterer(model, model_version(model), facts=facts)
    for record in stream:
        model_resolver.observe(record)
        clusterer.add(record)
    batch = dict(clusterer.clusters())
    online = dict(model_resolver.store.record_assignments())
    assert batch.keys() == online.keys() == {r.record_id for r in stream}
    ids = sorted(batch)
    agreement = evaluate_arrays(ids, [online[i] for i in ids], ids, [batch[i] for i in ids])
    print(f"{len(ids)} records: B-cubed F1 of batch against Observe {agreement.bcubed_f1:.4f}")
    assert agreement.bcubed_f1 >= 0.98
    assert partition(batch.items()) == partition(online.items())
    # Not trivially equal: records were linked, and some merged or stayed apart.
    assert len(ids) > len(partition(batch.items())) > 1
    assert clusterer.counts.linked > 0
