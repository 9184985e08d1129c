"""The accuracy harness: the union-find baseline's linking rules, and a tiny end-to-end run."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import accuracy
from loadtests.accuracy import Dataset, Method

UNUSED = Path("unused")


def dataset(emails: list[str]) -> Dataset:
    """One record per email, a minute apart, in the given order."""
    rows = [
        {"record_id": f"r{i}", "ts": f"2024-01-01T00:{i:02d}:00Z", "email": email}
        for i, email in enumerate(emails)
    ]
    return Dataset.from_rows(rows, UNUSED, UNUSED)


def test_union_find_links_spellings_of_one_email() -> None:
    # example.com would be a placeholder domain, so a real-looking one is used.
    data = dataset(["Ann.Smith@Shop.co.uk", "ann.smith@shop.co.uk", "bob@shop.co.uk"])
    labels = accuracy.union_find_identifiers(data)
    assert labels == {"r0": "r0", "r1": "r0", "r2": "r2"}


def test_union_find_never_links_through_a_placeholder() -> None:
    data = dataset(["ann@shop.co.uk", "test@test.com", "bob@shop.co.uk", "test@test.com"])
    labels = accuracy.union_find_identifiers(data)
    assert len(set(labels.values())) == 4


def test_invalid_rows_are_left_out_and_the_rest_sorted_by_time() -> None:
    rows = [
        {"record_id": "late", "ts": "2024-01-02T00:00:00Z", "email": "a@shop.co.uk"},
        {"record_id": "bad", "ts": "not a time", "email": "a@shop.co.uk"},
        {"record_id": "early", "ts": "2024-01-01T00:00:00Z", "email": "a@shop.co.uk"},
    ]
    data = Dataset.from_rows(rows, UNUSED, UNUSED)
    assert data.record_ids == ["early", "late"]
    assert [row["record_id"] for row in data.rows] == ["early", "late"]


def test_agreement_is_one_for_the_same_clustering_relabelled() -> None:
    a = {"x": "1", "y": "1", "z": "2"}
    assert accuracy.agreement(a, {"x": "p", "y": "p", "z": "q"}) == pytest.approx(1.0)
    assert accuracy.agreement(a, {"x": "p", "y": "q", "z": "r"}) < 1.0


def test_both_baselines_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    data = accuracy.generate_dataset(persons=200, seed=3, workdir=tmp_path)
    methods = [
        Method(accuracy.UNION_FIND, accuracy.union_find_identifiers),
        Method(accuracy.PLAIN_SPLINK, accuracy.PlainSplink(max_pairs=20_000), uses_frame=True),
    ]
    lines: list[str] = []
    outcomes = accuracy.run(data, methods, lines.append)
    assert [o.name for o in outcomes] == [accuracy.UNION_FIND, accuracy.PLAIN_SPLINK]
    for outcome in outcomes:
        assert set(outcome.labels) == set(data.record_ids)
        e = outcome.evaluation
        assert e.records == len(data.records)
        scores = [e.pairwise_precision, e.pairwise_recall, e.pairwise_f1]
        scores += [e.bcubed_precision, e.bcubed_recall, e.bcubed_f1]
        assert all(0.0 <= score <= 1.0 for score in scores)
    assert outcomes[0].evaluation.pairwise_recall > 0.3
    assert any("done" in line for line in lines)
    agreed = accuracy.agreement(outcomes[0].labels, outcomes[1].labels)
    assert 0.0 <= agreed <= 1.0
