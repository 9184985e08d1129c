"""The online-speed and candidate-recall benchmarks, end to end at a tiny size.

Structure and sanity only (shares in [0, 1], positive latencies, candidate recall): no timing
is asserted, figures belong to the benchmark runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idres.ingest.generator import generate
from loadtests import bench_candidates, bench_online
from loadtests.bench_online import Lookup, Options, percentile, strong_lookup, weak_lookup

PERSONS = 150
MAX_PAIRS = 100_000


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """One small model for both benchmarks (training is what takes the time)."""
    trained, seconds = bench_online.train_model(generate(PERSONS, 7).records, MAX_PAIRS)
    assert seconds > 0
    return trained


def _share(value: float | None) -> bool:
    return value is None or 0.0 <= value <= 1.0


def test_strong_lookups_need_a_real_identifier_and_keep_the_names() -> None:
    record = {"record_id": "r1", "email": "ann.smith@shop.co.uk", "given_name": "Ann", "dob": ""}
    assert strong_lookup(record) == {"email": "ann.smith@shop.co.uk", "given_name": "Ann"}
    assert strong_lookup({"record_id": "r2", "email": "test@test.com", "surname": "Day"}) is None
    assert strong_lookup({"record_id": "r3", "loyalty_card": "1234", "surname": "Day"}) is None
    assert strong_lookup({"record_id": "r4", "handle_platform": "x", "surname": "Day"}) is None


def test_weak_lookups_are_names_with_a_birth_date_or_postcode_only() -> None:
    full = {
        "given_name": "Ann",
        "surname": "Day",
        "dob": "1980-02-03",
        "postcode": "SW1A 1AA",
        "email": "ann.day@shop.co.uk",
    }
    assert weak_lookup(full) == {k: v for k, v in full.items() if k != "email"}
    assert weak_lookup({"given_name": "Ann", "surname": "Day", "postcode": "SW1A 1AA"})
    assert weak_lookup({"given_name": "Ann", "surname": "Day"}) is None
    assert weak_lookup({"surname": "Day", "dob": "1980-02-03"}) is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 50) == 0.0


def test_bench_online_end_to_end(database_url: str, model: dict[str, Any], tmp_path: Path) -> None:
    opts = Options(
        persons=PERSONS,
        holdout=0.05,
        ingest="inprocess",
        calls=20,
        warmup=2,
        max_seconds=30,
        splink_sample=3,
        splink_seconds=60,
        start_timeout=60,
        database_url=database_url,
    )
    report = bench_online.run(opts, tmp_path, model=model, log=lambda _: None)

    assert report.generated > report.stored > 0
    assert report.held_out > 0
    assert report.ingest is not None and report.ingest.records > 0
    assert report.ingest.records_per_s > 0
    assert 0 < report.customers <= report.stored
    assert report.model_version.startswith("fs-")
    assert [entry.name for entry in report.sets] == ["strong", "weak"]
    for entry in report.sets:
        r = entry.resolve
        assert r.lookups > 0
        assert r.calls == 20 and r.errors == 0
        assert 0 < r.p50_ms <= r.p99_ms
        assert r.mean_ms > 0
        assert _share(r.match_share) and _share(r.match_true_share)
        s = entry.splink
        assert s is not None
        assert s.calls == min(3, r.lookups)
        assert s.median_ms > 0 and s.ratio is not None and s.ratio > 0
        assert _share(s.same_top_share)
        assert _share(s.splink_top_true_share) and _share(s.idres_top_true_share)
    strong = report.sets[0].resolve
    assert strong.match_share > 0.3  # a held-out record's email or card is mostly known
    table = bench_online.markdown(report)
    assert "| strong |" in table and "| weak |" in table


def test_lookups_keep_their_person(tmp_path: Path) -> None:
    data = generate(PERSONS, 7)
    prepared = bench_online.prepare(data, 0.05, 7)
    truth = dict(data.truth)
    stored_ids = {r["record_id"] for r in prepared.stored}
    lookups: list[Lookup] = [lk for group in prepared.lookups.values() for lk in group]
    assert lookups
    for lookup in lookups:
        assert lookup.record_id not in stored_ids
        assert lookup.person_id == truth[lookup.record_id]
        # The person still has records in the store.
        assert any(truth[rid] == lookup.person_id for rid in stored_ids)


def test_bench_candidates_end_to_end(model: dict[str, Any], tmp_path: Path) -> None:
    report = bench_candidates.run(PERSONS, 11, MAX_PAIRS, tmp_path, model=model, log=lambda _: None)

    assert report.records > 0
    assert report.splink_blocked_pairs >= report.splink_true_pairs > 0
    assert report.true_pairs >= report.splink_true_pairs
    assert report.also_proposed <= report.splink_true_pairs
    assert report.recall > 0.9
    assert report.proposed_true_pairs >= report.also_proposed
    assert report.proposed_true_pairs == report.also_proposed + report.proposed_not_splink
    assert report.mean_candidates > 0 and report.max_candidates >= 1
    assert report.retrieval_mean_us > 0
    assert "recall" in bench_candidates.markdown(report)
