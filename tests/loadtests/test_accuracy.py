"""The accuracy harness: the baselines' linking rules, scoring over every truth row, the ceiling,
the table, and tiny end-to-end runs on generated data."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from loadtests import accuracy
from loadtests.accuracy import Dataset, Method, Outcome

UNUSED = Path("unused")


def dataset(emails: list[str]) -> Dataset:
    """One record per email, a minute apart, in the given order."""
    rows = [
        {"record_id": f"r{i}", "ts": f"2024-01-01T00:{i:02d}:00Z", "email": email}
        for i, email in enumerate(emails)
    ]
    return Dataset.from_rows(rows, UNUSED, UNUSED)


def with_truth(data: Dataset, truth: Mapping[str, str]) -> Dataset:
    """Sets the cached truth, so that hand-made rows need no truth file."""
    data.__dict__["truth"] = dict(truth)
    return data


def test_union_find_links_spellings_of_one_email() -> None:
    # example.com would be a placeholder domain, so a real-looking one is used.
    data = dataset(["Ann.Smith@Shop.co.uk", "ann.smith@shop.co.uk", "bob@shop.co.uk"])
    labels = accuracy.union_find_identifiers(data)
    assert labels == {"r0": "r0", "r1": "r0", "r2": "r2"}


def test_union_find_never_links_through_a_placeholder() -> None:
    data = dataset(["ann@shop.co.uk", "test@test.com", "bob@shop.co.uk", "test@test.com"])
    labels = accuracy.union_find_identifiers(data)
    assert len(set(labels.values())) == 4


def test_the_guard_keeps_a_widely_shared_value_from_linking() -> None:
    limit = accuracy.SHARED_VALUE_LIMIT
    junk = "frontdesk@shop.co.uk"  # not a known placeholder: only the guard can stop it
    data = dataset([junk] * (limit + 1) + ["ann@shop.co.uk", "Ann@Shop.co.uk"])
    naive = accuracy.union_find_identifiers(data)
    guarded = accuracy.guarded_union_find(data)
    assert len(set(naive.values())) == 2
    assert len({guarded[f"r{i}"] for i in range(limit + 1)}) == limit + 1
    assert guarded[f"r{limit + 1}"] == guarded[f"r{limit + 2}"]


def test_the_guard_still_links_a_value_held_by_up_to_the_limit() -> None:
    data = dataset(["shared@shop.co.uk"] * accuracy.SHARED_VALUE_LIMIT)
    assert len(set(accuracy.guarded_union_find(data).values())) == 1


def test_rows_without_a_record_id_are_left_out_and_the_rest_sorted_by_time() -> None:
    rows = [
        {"record_id": "late", "ts": "2024-01-02T00:00:00Z", "email": "a@shop.co.uk"},
        {"record_id": "", "ts": "2024-01-01T00:00:00Z", "email": "a@shop.co.uk"},
        {"record_id": "bad id!", "ts": "2024-01-01T00:00:00Z", "email": "a@shop.co.uk"},
        {"record_id": "flagged", "ts": "2024-01-01T12:00:00Z", "phone": "not a phone"},
        {"record_id": "early", "ts": "2024-01-01T00:00:00Z", "email": "a@shop.co.uk"},
        {"record_id": "early", "ts": "2024-01-03T00:00:00Z", "email": "b@shop.co.uk"},
    ]
    data = Dataset.from_rows(rows, UNUSED, UNUSED)
    assert data.record_ids == ["early", "flagged", "late"]
    assert [row["record_id"] for row in data.rows] == ["early", "flagged", "late"]
    assert data.rows_read == len(rows)
    assert data.records[1].flagged  # kept, with the bad phone flagged


def test_a_bad_timestamp_is_flagged_and_the_record_kept() -> None:
    rows = [{"record_id": "r", "ts": "not a time", "email": "a@shop.co.uk"}]
    data = Dataset.from_rows(rows, UNUSED, UNUSED)
    assert data.record_ids == ["r"]
    assert [f.field for f in data.records[0].flagged] == ["ts"]


def test_rows_a_method_did_not_assign_are_scored_as_singletons() -> None:
    data = with_truth(dataset(["a@shop.co.uk"] * 2), {"r0": "p", "r1": "p", "lost": "p"})
    scores = accuracy.evaluate(data, {"r0": "c", "r1": "c"})
    assert scores.records == 3
    assert scores.predicted_clusters == 2  # {r0, r1} and "lost" alone
    assert scores.pairwise_recall == pytest.approx(1 / 3)
    assert scores.pairwise_precision == 1.0


def test_a_label_the_truth_does_not_hold_is_refused() -> None:
    data = with_truth(dataset(["a@shop.co.uk"]), {"r0": "p"})
    with pytest.raises(ValueError, match="no ground truth"):
        accuracy.evaluate(data, {"r0": "c", "elsewhere": "c"})


def test_the_ceiling_links_only_within_a_person_on_real_evidence() -> None:
    person = {"given_name": "Ann", "surname": "Smith", "dob": "1980-02-03"}
    rows = [
        {"record_id": "a1", "ts": "2024-01-01T00:00:00Z", "email": "ann@shop.co.uk"},
        {"record_id": "a2", "ts": "2024-01-02T00:00:00Z", "email": "ANN@shop.co.uk", **person},
        {"record_id": "a3", "ts": "2024-01-03T00:00:00Z", **person, "surname": "Jones"},
        {"record_id": "a4", "ts": "2024-01-04T00:00:00Z", "given_name": "Ann"},
        {"record_id": "b1", "ts": "2024-01-05T00:00:00Z", "email": "ann@shop.co.uk", **person},
    ]
    data = Dataset.from_rows(rows, UNUSED, UNUSED)
    with_truth(data, {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B"})
    labels = accuracy.evidence_ceiling(data)
    # a1-a2 share an email; a2-a3 agree on given name and dob; a4 has one field only.
    assert labels["a1"] == labels["a2"] == labels["a3"] == "a1"
    assert labels["a4"] == "a4"
    assert labels["b1"] == "b1"  # the same email and names, but another person


def outcome(name: str, reference: bool = False) -> Outcome:
    data = with_truth(dataset(["a@shop.co.uk", "b@shop.co.uk"]), {"r0": "p", "r1": "q"})
    labels = {"r0": "c"}
    return Outcome(name, 1.5, accuracy.evaluate(data, labels), labels, reference)


def test_the_table_has_the_columns_and_notes_the_ceiling() -> None:
    data = with_truth(dataset(["a@shop.co.uk", "b@shop.co.uk"]), {"r0": "p", "r1": "q"})
    data.rows_read = 3
    outcomes = [outcome("m"), outcome(accuracy.CEILING, reference=True)]
    text = accuracy.report_text(data, outcomes, [("m", accuracy.CEILING, 0.5)])
    lines = text.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == list(accuracy.HEADER)
    for needed in ("records kept", "pair F1", "B³ F1", "over-merged clusters", "seconds"):
        assert needed in header
    first = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert first[:2] == ["m", "1 / 3"]
    assert first[-1] == "1.50"
    assert "not a method" in text
    assert "| m | " + accuracy.CEILING + " | 0.5000 |" in text


def test_references_are_reported_after_the_methods() -> None:
    parser = accuracy._parser()
    chosen = accuracy._chosen(parser, [accuracy.CEILING, accuracy.UNION_FIND], 1_000)
    assert [m.name for m in chosen] == [accuracy.UNION_FIND, accuracy.CEILING]


def test_agreement_is_one_for_the_same_clustering_relabelled() -> None:
    a = {"x": "1", "y": "1", "z": "2"}
    assert accuracy.agreement(a, {"x": "p", "y": "p", "z": "q"}) == pytest.approx(1.0)
    assert accuracy.agreement(a, {"x": "p", "y": "q", "z": "r"}) < 1.0


def test_truth_is_read_from_csv_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    as_csv = tmp_path / "truth.csv"
    with as_csv.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("record_id", "person_id"), ("007", "1"), ("8", "2")])
    as_parquet = tmp_path / "truth.parquet"
    pq.write_table(pa.table({"record_id": ["007", "8"], "person_id": [1, 2]}), as_parquet)
    expected = {"007": "1", "8": "2"}
    assert accuracy.read_truth(as_csv) == expected
    assert accuracy.read_truth(as_parquet) == expected


def end_to_end(tmp_path: Path) -> tuple[Dataset, list[Outcome]]:
    data = accuracy.generate_dataset(persons=200, seed=3, workdir=tmp_path)
    methods: Sequence[Method] = [
        Method(accuracy.UNION_FIND, accuracy.union_find_identifiers),
        Method(accuracy.GUARDED_UNION_FIND, accuracy.guarded_union_find),
        Method(accuracy.PLAIN_SPLINK, accuracy.PlainSplink(max_pairs=20_000), uses_frame=True),
        Method(accuracy.CEILING, accuracy.evidence_ceiling, reference=True),
    ]
    return data, accuracy.run(data, methods, lambda line: None)


def test_the_baselines_and_the_ceiling_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    data, outcomes = end_to_end(tmp_path)
    by_name = {o.name: o.evaluation for o in outcomes}
    for o in outcomes:
        assert set(o.labels) <= set(data.truth)
        e = o.evaluation
        assert e.records == len(data.truth)
        scores = [e.pairwise_precision, e.pairwise_recall, e.pairwise_f1]
        scores += [e.bcubed_precision, e.bcubed_recall, e.bcubed_f1]
        assert all(0.0 <= score <= 1.0 for score in scores)
    ceiling = by_name[accuracy.CEILING]
    assert ceiling.pairwise_precision == 1.0 and ceiling.mixed_clusters == 0
    guarded, naive = by_name[accuracy.GUARDED_UNION_FIND], by_name[accuracy.UNION_FIND]
    # The guard only removes links, so its clusters split the naive ones.
    assert guarded.predicted_clusters >= naive.predicted_clusters
    assert guarded.pairwise_recall <= naive.pairwise_recall
    assert ceiling.pairwise_recall >= guarded.pairwise_recall
    agreed = accuracy.agreements(data, outcomes, [(accuracy.UNION_FIND, accuracy.PLAIN_SPLINK)])
    assert 0.0 <= agreed[0][2] <= 1.0


def test_main_measures_a_labelled_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = accuracy.generate_dataset(persons=60, seed=5, workdir=tmp_path)
    out = tmp_path / "report.json"
    methods = f"{accuracy.GUARDED_UNION_FIND},{accuracy.CEILING}"
    argv = ["--records", str(data.records_path), "--truth", str(data.truth_path)]
    argv += ["--phone-regions", "gb,US", "--methods", methods, "--json-out", str(out)]
    assert accuracy.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| records kept |" in printed and "phone regions GB, US" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["phone_regions"] == ["GB", "US"]
    assert [m["name"] for m in report["methods"]] == methods.split(",")
    assert report["methods"][0]["records_kept"] == report["records"]


def test_main_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--records", str(tmp_path / "none.parquet"), "--truth", str(tmp_path / "t.csv")]
    with pytest.raises(SystemExit) as exc:
        accuracy.main([*argv, "--methods", accuracy.UNION_FIND])
    assert exc.value.code == 2
    assert "none.parquet" in capsys.readouterr().err
