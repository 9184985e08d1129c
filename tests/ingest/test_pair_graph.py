"""Batch clustering over pairs scored in bulk: the resolver's decisions, whatever the split."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from splink import DuckDBAPI, Linker

from idres.ingest.clustering import StreamClusterer
from idres.ingest.evaluation import evaluate_arrays
from idres.ingest.frame import model_frame
from idres.ingest.generator import generate
from idres.ingest.pair_graph import _NOBODY, PairGraph, cluster_graph, components
from idres.ingest.pairs import capped_blocking, score_pairs
from idres.ingest.training import model_version, training_facts
from idres.resolver.domain.linking import ValueState
from idres.resolver.domain.matching import Scorer, decide_scored
from idres.resolver.domain.records import Record, parse_record
from idres.resolver.domain.scoring import MatchModel, TermFrequencies, identifier_differences
from tests.ingest.test_clustering import records

Trained = tuple[dict[str, Any], dict[str, Any]]


def test_a_hot_key_is_blocked_on_nothing_and_the_rules_read_the_keys() -> None:
    rows = [dict(r) for r in generate(60, 5).records]
    for n, row in enumerate(rows[:30]):
        row["phone"] = "020 7946 0018"  # a store phone on 30 rows
        row["record_id"] = f"till-{n}"
    frame = model_frame(rows)
    model = {
        "link_type": "dedupe_only",
        "probability_two_random_records_match": 0.001,
        "comparisons": [],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": 'l."phone" = r."phone"'},
            {"blocking_rule": 'l."surname" = r."surname" AND l."dob" = r."dob"'},
        ],
    }
    keyed, rewritten = capped_blocking(frame, model, lambda rule: 10)
    phone_key = keyed.column("block_0")
    hot = pc.equal(frame.column("phone"), "+442079460018")
    assert pc.sum(hot).as_py() == 30
    assert pc.all(pc.is_null(pc.filter(phone_key, hot))).as_py()
    assert pc.filter(phone_key, pc.invert(hot)).null_count < pc.sum(pc.invert(hot)).as_py()
    assert [r["blocking_rule"] for r in rewritten["blocking_rules_to_generate_predictions"]] == [
        "l.block_0 = r.block_0",
        "l.block_1 = r.block_1",
    ]


def test_bulk_weights_equal_splinks_prediction(trained: Trained) -> None:
    model, _ = trained
    frame = model_frame(generate(200, 9).records)
    ours = score_pairs(frame, model, floor=-5.0)
    linker = Linker(DuckDBAPI().register(frame), dict(model), log_level=logging.WARNING)
    theirs = linker.inference.predict(threshold_match_weight=-5.0, warning_mode="never")
    table = theirs.as_duckdbpyrelation().select("unique_id_l, unique_id_r, match_weight")
    expected = {(a, b): w for a, b, w in table.fetchall()}
    got = {
        (a, b): w
        for a, b, w in zip(
            *(ours.column(c).to_pylist() for c in ("unique_id_l", "unique_id_r", "match_weight")),
            strict=True,
        )
    }
    assert len(got) > 100
    assert got.keys() == expected.keys()  # nothing here is hot, so the pairs are Splink's
    assert max(abs(got[k] - expected[k]) for k in got) < 1e-9


PERSONS, SEED = 400, 31


def _graph(ordered: list[Record], model: dict[str, Any]) -> PairGraph:
    """The scored pairs of the generated file `ordered` was parsed from."""
    frame = model_frame(generate(PERSONS, SEED).records)
    ids = pa.array([r.record_id for r in ordered], pa.string())
    differences = identifier_differences(MatchModel.from_splink(model))
    return PairGraph.build(ids, score_pairs(frame, model, floor=0.0), differences)


@pytest.fixture(scope="module")
def stream() -> list[Record]:
    return records(PERSONS, SEED)


def test_shared_out_or_not_the_customers_are_the_same(
    trained: Trained, stream: list[Record]
) -> None:
    graph = _graph(stream, trained[0])
    alone = cluster_graph(stream, graph, workers=1)
    shared = cluster_graph(stream, graph, workers=2)
    assert alone.customers == shared.customers
    assert alone.counts == shared.counts
    assert len(set(alone.customers)) < len(stream)  # some records were linked
    groups = components(stream, graph)
    # The groups are independent: no customer spans two of them.
    owner_group: dict[str, int] = {}
    for customer, group in zip(alone.customers, groups, strict=True):
        assert owner_group.setdefault(customer, group) == group


def test_bulk_clustering_agrees_with_the_stream(trained: Trained, stream: list[Record]) -> None:
    model = trained[0]
    # Splink's prediction counts term frequencies over the file: the stream starts from those.
    # The stream's faiss near misses are left out: they are the one source of candidates the
    # bulk path does not have (see docs/benchmarks.md for what they add at scale).
    facts = training_facts(model_frame(generate(PERSONS, SEED).records), model)
    clusterer = StreamClusterer(model, model_version(model), facts=facts, vectors=False)
    for record in stream:
        clusterer.add(record)
    online = dict(clusterer.clusters())
    bulk = cluster_graph(stream, _graph(stream, model), workers=1)
    ids = [r.record_id for r in stream]
    agreement = evaluate_arrays(ids, [online[i] for i in ids], ids, bulk.customers)
    print(f"{len(ids)} records: B-cubed F1 of bulk against the stream {agreement.bcubed_f1:.4f}")
    assert agreement.bcubed_f1 >= 0.98
    assert bulk.counts.linked > 0 and bulk.counts.created < len(ids)


def test_no_candidate_is_decided_as_the_resolver_decides_it(trained: Trained) -> None:
    record = records(5, 2)[0]
    scorer = Scorer(MatchModel.from_splink(trained[0]), "v", TermFrequencies())
    states = {o.identifier: ValueState() for o in record.identifiers}
    plan = decide_scored(record.query, {}, states, [], scorer)
    assert (plan.decision, plan.target, plan.absorbed, plan.links) == (
        _NOBODY.decision,
        _NOBODY.target,
        _NOBODY.absorbed,
        _NOBODY.links,
    )


def test_a_comparison_one_side_could_not_make_is_null(trained: Trained) -> None:
    frame = model_frame(generate(200, 9).records)
    emails = dict(zip(*(frame.column(c).to_pylist() for c in ("unique_id", "email")), strict=True))
    pairs = score_pairs(frame, trained[0], floor=-5.0)
    columns = ("unique_id_l", "unique_id_r", "w_email")
    seen = {True: 0, False: 0}
    for left, right, weight in zip(*(pairs.column(c).to_pylist() for c in columns), strict=True):
        both = emails[left] is not None and emails[right] is not None
        assert (weight is not None) is both
        seen[both] += 1
    assert seen[True] and seen[False]


def _ann(number: int, email: str = "") -> Record:
    values = {"record_id": f"r{number}", "ts": f"2024-01-0{number + 1}T09:00:00Z"}
    values |= {"given_name": "Ann", "surname": "Lee"} | ({"email": email} if email else {})
    return parse_record(values, prefix="")


def test_an_identifier_the_pairs_left_uncompared_still_counts_against(
    trained: Trained,
) -> None:
    # r1 (no email) joins r0 on the name; r2 brings another email than r0's. Its pair with r0
    # fell under the floor, so only the pair with r1 is left, and it compared no email.
    ordered = [_ann(0, "ann.lee@post.co.uk"), _ann(1), _ann(2, "a.lee@mail.co.uk")]
    nan = float("nan")
    parts = np.array([[10.0, 10.0, nan], [10.0, 10.0, nan]], np.float32)
    columns = ("given_name", "surname", "email")

    def graph(differences: dict[str, float]) -> PairGraph:
        return PairGraph([0, 0, 1, 2], [0, 1], [6.0, 6.0], parts, columns, differences)

    assert graph({}).compared([0, 1]) == {"given_name", "surname"}
    blind = cluster_graph(ordered, graph({}), workers=1).customers
    assert len(set(blind)) == 1
    weighed = cluster_graph(ordered, graph({"email": -20.0}), workers=1).customers
    assert weighed[0] == weighed[1] != weighed[2]


def test_a_customer_as_a_whole_takes_compared_fields_over_missing_ones() -> None:
    nan = float("nan")
    parts = np.array([[8.0, nan], [8.0, -1.5], [nan, nan]], np.float32)
    graph = PairGraph([0, 0, 3], [0, 0, 0], [-6.0, -7.5, -14.0], parts, ("surname", "email"))
    # The prior is -14: the email that differs counts though another pair lacked it.
    assert graph.whole([0, 1]) == pytest.approx(-14.0 + 8.0 - 1.5)
    assert graph.whole([0, 2]) == pytest.approx(-6.0)
    assert graph.compared([0]) == {"surname"} and graph.compared([2]) == set()


def test_a_card_typed_in_for_many_shoppers_links_nobody_from_the_start() -> None:
    till = "6338000000000000"

    def shopper(number: int, given: str = "") -> Record:
        values = {"record_id": f"t{number}", "ts": f"2024-02-0{number + 1}T09:00:00Z"}
        values |= {"loyalty_card": till} | ({"given_name": given} if given else {})
        return parse_record(values, prefix="")

    # The second record has no name: record by record, it would join the first shopper.
    ordered = [shopper(0, "Ann"), shopper(1), shopper(2, "Bob"), shopper(3, "Cat")]
    ordered.append(shopper(4, "Dan"))
    nobody = PairGraph([0] * (len(ordered) + 1), [], [])
    customers = cluster_graph(ordered, nobody, workers=1).customers
    assert len(set(customers)) == len(ordered)
