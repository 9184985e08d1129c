"""Clustering scores: hand-worked cases, a brute-force pair count, bad files and the CLI verb."""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from idres.cli import evaluate as evaluate_verb
from idres.ingest.evaluation import Evaluation, evaluate_arrays, evaluate_files

# Truth: A = {r1, r2, r3}, B = {r4, r5}, C = {r6}.
TRUTH = {"r1": "A", "r2": "A", "r3": "A", "r4": "B", "r5": "B", "r6": "C"}
# Prediction: X = {r1, r2}, Y = {r3, r4, r5, r6}.
PRED = {"r1": "X", "r2": "X", "r3": "Y", "r4": "Y", "r5": "Y", "r6": "Y"}


def _evaluate(truth: dict[str, Any], pred: dict[str, Any]) -> Evaluation:
    return evaluate_arrays(list(truth), list(truth.values()), list(pred), list(pred.values()))


def test_hand_worked_example() -> None:
    result = _evaluate(TRUTH, PRED)
    # Cells n_ij: X∩A = 2, Y∩A = 1, Y∩B = 2, Y∩C = 1.
    # TP = C(2,2) + C(1,2) + C(2,2) + C(1,2) = 1 + 0 + 1 + 0 = 2.
    # Predicted pairs = C(2,2) + C(4,2) = 1 + 6 = 7; true pairs = C(3,2) + C(2,2) + 0 = 4.
    assert (result.true_positive_pairs, result.predicted_pairs, result.true_pairs) == (2, 7, 4)
    # Precision 2/7, recall 2/4; F1 = 2·(2/7)·(1/2) / (2/7 + 1/2) = (2/7) / (11/14) = 4/11.
    assert result.pairwise_precision == pytest.approx(2 / 7)
    assert result.pairwise_recall == pytest.approx(1 / 2)
    assert result.pairwise_f1 == pytest.approx(4 / 11)
    # B-cubed precision per record: r1, r2 2/2; r3 1/4; r4, r5 2/4; r6 1/4 -> 3.5 / 6 = 7/12.
    # B-cubed recall per record: r1, r2 2/3; r3 1/3; r4, r5 2/2; r6 1/1 -> (14/3) / 6 = 7/9.
    # F1 = 2·(7/12)·(7/9) / (7/12 + 7/9) = (49/54) / (49/36) = 2/3.
    assert result.bcubed_precision == pytest.approx(7 / 12)
    assert result.bcubed_recall == pytest.approx(7 / 9)
    assert result.bcubed_f1 == pytest.approx(2 / 3)
    # Y mixes A, B and C; A is split over X and Y; B and C sit whole inside Y.
    assert (result.predicted_clusters, result.true_entities) == (2, 3)
    assert (result.largest_predicted_cluster, result.largest_true_entity) == (4, 3)
    assert (result.mixed_clusters, result.split_entities) == (1, 1)
    assert (result.records, result.only_in_truth, result.only_in_pred) == (6, 0, 0)


def test_perfect_clustering_scores_one_whatever_the_labels() -> None:
    renamed = {record: f"cluster-{entity}" for record, entity in TRUTH.items()}
    result = _evaluate(TRUTH, renamed)
    for name in ("pairwise", "bcubed"):
        for score in ("precision", "recall", "f1"):
            assert getattr(result, f"{name}_{score}") == 1.0
    assert result.mixed_clusters == result.split_entities == 0
    assert result.predicted_clusters == result.true_entities == 3


def test_all_singletons() -> None:
    singletons = {record: record for record in TRUTH}
    result = _evaluate(TRUTH, singletons)
    # No predicted pair, so none is wrong: precision 1.0 by convention; 4 true pairs all missed.
    assert (result.pairwise_precision, result.pairwise_recall, result.pairwise_f1) == (1, 0, 0)
    # B-cubed recall per record: r1..r3 1/3 each, r4, r5 1/2 each, r6 1 -> 3 / 6 = 1/2.
    assert result.bcubed_precision == 1.0
    assert result.bcubed_recall == pytest.approx(1 / 2)
    assert result.bcubed_f1 == pytest.approx(2 / 3)  # 2·1·(1/2) / (3/2)
    assert result.predicted_clusters == 6
    assert result.largest_predicted_cluster == 1
    assert (result.mixed_clusters, result.split_entities) == (0, 2)  # A and B are split


def test_singletons_against_singletons_are_perfect() -> None:
    result = _evaluate({"a": 1, "b": 2}, {"a": "x", "b": "y"})
    # No pair on either side: precision and recall are both 1.0 by convention.
    assert (result.pairwise_precision, result.pairwise_recall, result.pairwise_f1) == (1, 1, 1)
    assert result.true_pairs == result.predicted_pairs == 0


def test_everything_in_one_cluster() -> None:
    lump = dict.fromkeys(TRUTH, "everyone")
    result = _evaluate(TRUTH, lump)
    # Predicted pairs C(6,2) = 15, of which the 4 true pairs are right.
    assert result.pairwise_precision == pytest.approx(4 / 15)
    assert result.pairwise_recall == 1.0
    assert result.pairwise_f1 == pytest.approx(2 * (4 / 15) / (1 + 4 / 15))  # = 8/19
    # B-cubed precision = Σ b_j² / N² = (9 + 4 + 1) / 36 = 7/18.
    assert result.bcubed_precision == pytest.approx(7 / 18)
    assert result.bcubed_recall == 1.0
    assert (result.predicted_clusters, result.largest_predicted_cluster) == (1, 6)
    assert (result.mixed_clusters, result.split_entities) == (1, 0)


def _brute_force(truth: dict[int, int], pred: dict[int, int]) -> dict[str, float]:
    """The definitions applied literally: every pair, every record."""
    common = sorted(truth.keys() & pred.keys())
    tp = predicted = true = 0
    for x, y in itertools.combinations(common, 2):
        same_pred, same_truth = pred[x] == pred[y], truth[x] == truth[y]
        predicted += same_pred
        true += same_truth
        tp += same_pred and same_truth
    precision_sum = recall_sum = 0.0
    for r in common:
        cluster = {s for s in common if pred[s] == pred[r]}
        entity = {s for s in common if truth[s] == truth[r]}
        precision_sum += len(cluster & entity) / len(cluster)
        recall_sum += len(cluster & entity) / len(entity)
    return {
        "pairwise_precision": tp / predicted if predicted else 1.0,
        "pairwise_recall": tp / true if true else 1.0,
        "bcubed_precision": precision_sum / len(common),
        "bcubed_recall": recall_sum / len(common),
        "true_positive_pairs": tp,
        "predicted_pairs": predicted,
        "true_pairs": true,
    }


def test_formulas_match_brute_force_on_random_clusterings() -> None:
    rng = random.Random(20240601)
    for _ in range(300):
        size = rng.randint(1, 40)
        truth = {r: rng.randrange(rng.randint(1, size)) for r in range(size)}
        pred = {r: rng.randrange(rng.randint(1, size)) for r in range(size)}
        # Sometimes the sides hold different records, and in different orders.
        if rng.random() < 0.3:
            pred = {r + rng.randint(0, 3): c for r, c in pred.items()}
        pred = dict(rng.sample(sorted(pred.items()), len(pred)))
        if not truth.keys() & pred.keys():
            continue
        result = evaluate_arrays(
            np.array(list(truth)), np.array(list(truth.values())), list(pred), list(pred.values())
        )
        for field, expected in _brute_force(truth, pred).items():
            assert getattr(result, field) == pytest.approx(expected), (field, truth, pred)
        common = truth.keys() & pred.keys()
        assert result.records == len(common)
        assert result.predicted_clusters == len({pred[r] for r in common})
        assert result.true_entities == len({truth[r] for r in common})
        assert result.largest_predicted_cluster == max(Counter(pred[r] for r in common).values())


def test_mismatched_record_sets_are_counted_and_left_out() -> None:
    truth = {"r1": "A", "r2": "A", "r3": "B", "r4": "B", "r5": "C"}
    pred = {"r3": "x", "r4": "x", "r5": "y", "r6": "y", "r7": "z"}
    result = _evaluate(truth, pred)
    # Only r3, r4, r5 count: {r3, r4} vs {r3, r4} and {r5} vs {r5} agree perfectly.
    assert (result.records, result.only_in_truth, result.only_in_pred) == (3, 2, 2)
    assert result.pairwise_f1 == result.bcubed_f1 == 1.0
    assert (result.predicted_clusters, result.true_entities) == (2, 2)


def test_no_common_record_is_refused() -> None:
    with pytest.raises(ValueError, match="truth and prediction share no record_id"):
        _evaluate({"a": 1}, {"b": 1})


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="prediction: duplicate record_id 'a' \\(2 rows\\)"):
        evaluate_arrays(["a", "b"], [1, 2], ["a", "a"], [1, 2])
    with pytest.raises(ValueError, match="truth: 2 record ids but 1 entity values"):
        evaluate_arrays(["a", "b"], [1], ["a"], [1])
    with pytest.raises(ValueError, match="truth: empty entity for record_id 'b'"):
        evaluate_arrays(["a", "b"], [1, None], ["a"], [1])
    with pytest.raises(ValueError, match="prediction: no rows"):
        evaluate_arrays(["a"], [1], [], [])


# Files --------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _csv(mapping: dict[str, str], column: str) -> str:
    return "".join([f"record_id,{column}\n", *(f"{r},{c}\n" for r, c in mapping.items())])


def test_files_in_every_format_agree(tmp_path: Path) -> None:
    truth = _write(tmp_path / "truth.csv.gz", _csv(TRUTH, "person_id"))
    expected = _evaluate(TRUTH, PRED)
    # The record id column need not come first, and the label column may have any name.
    jsonl = "".join(json.dumps({"customer_id": c, "record_id": r}) + "\n" for r, c in PRED.items())
    parquet = tmp_path / "pred.parquet"
    pq.write_table(pa.table({"record_id": list(PRED), "cluster_id": list(PRED.values())}), parquet)
    for pred in (_write(tmp_path / "pred.csv", _csv(PRED, "cluster_id")), parquet):
        assert evaluate_files(truth, pred) == expected
    assert evaluate_files(truth, _write(tmp_path / "pred.jsonl", jsonl)) == expected


def test_ids_compare_as_text_across_types(tmp_path: Path) -> None:
    # Integers in Parquet or JSON match the same digits in a CSV; "007" stays "007".
    truth = _write(tmp_path / "truth.csv", "record_id,person_id\n7,p\n8,p\n007,q\n")
    parquet = tmp_path / "pred.parquet"
    pq.write_table(pa.table({"record_id": [7, 8, 9], "cluster_id": [1, 1, 2]}), parquet)
    result = evaluate_files(truth, parquet)
    assert (result.records, result.only_in_truth, result.only_in_pred) == (2, 1, 1)
    assert result.pairwise_f1 == 1.0


HEADER = "record_id,person_id\n"
BAD_FILES = [
    ("t.csv", "", "t.csv: empty file"),
    ("t.csv.gz", "", "t.csv.gz: empty file"),
    ("t.jsonl", "\n\n", "t.jsonl: empty file"),
    ("t.csv", HEADER, "t.csv: no rows"),
    (
        "t.csv",
        "id,person_id\n1,a\n",
        "t.csv: missing required column 'record_id' (columns found: id, person_id)",
    ),
    (
        "t.csv",
        "record_id\n1\n",
        "t.csv: expected 2 columns, record_id and one cluster or entity column;"
        " found 1 (record_id)",
    ),
    ("t.csv", "record_id,person_id,src\n1,a,web\n", "found 3 (record_id, person_id, src)"),
    ("t.csv", "record_id,record_id\n1,a\n", "t.csv: column 'record_id' appears twice"),
    (
        "t.csv",
        HEADER + "r1,a\nr2,b\nr1,c\nr2,c\nr3,d\n",
        "t.csv: duplicate record_id 'r1' (2 rows); 1 more record ids repeat",
    ),
    ("t.csv", HEADER + "r1,a\n,b\n", "t.csv: empty record_id in row 2"),
    ("t.csv", HEADER + "r1,a\nr2,\n", "t.csv: empty person_id for record_id 'r2'"),
    ("t.csv", HEADER + "r1,a,x\n", "t.csv: CSV parse error: Expected 2 columns, got 3"),
    (
        "t.jsonl",
        '{"record_id": "r1", "person_id": "a"}\n{"record_id": "r2"}\n',
        "t.jsonl: empty person_id for record_id 'r2'",
    ),
    (
        "t.jsonl",
        '{"record_id": "r1", "person_id": {"x": 1}}\n',
        "t.jsonl: column 'person_id' of type struct",
    ),
    ("t.parquet", "not parquet", "Parquet magic bytes not found"),
    ("t.txt", HEADER, "unsupported file type 't.txt'"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES)
def test_bad_files_give_a_precise_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    bad = _write(tmp_path / name, content)
    good = _write(tmp_path / "good.csv", _csv(PRED, "cluster_id"))
    with pytest.raises(ValueError) as raised:
        evaluate_files(bad, good)
    assert message in str(raised.value)
    with pytest.raises(ValueError) as raised:
        evaluate_files(good, bad)
    assert message in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", _csv(PRED, "cluster_id"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        evaluate_files(tmp_path / "absent.csv", good)


# The verb -----------------------------------------------------------------------------------


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="idres")
    evaluate_verb.register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(["evaluate", *argv])
    code: int = args.func(args)
    return code


def test_cli_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = _write(tmp_path / "truth.csv", _csv(TRUTH, "person_id"))
    pred = _write(tmp_path / "pred.csv", _csv({**PRED, "r9": "Z"}, "customer_id"))
    assert _run("--truth", str(truth), "--pred", str(pred)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == _evaluate(TRUTH, {**PRED, "r9": "Z"}).lines()
    report = {line.rsplit(maxsplit=1)[0].strip(): line.split()[-1] for line in lines if line}
    assert report["records evaluated"] == "6"
    assert report["only in prediction (ignored)"] == "1"
    assert report["pairwise precision"] == "0.2857"  # 2/7
    assert report["B-cubed F1"] == "0.6667"
    assert report["clusters mixing entities"] == "1"
    # Figures are right-aligned in one column.
    assert len({len(line) for line in lines if line}) == 1


def test_cli_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = _write(tmp_path / "truth.csv", _csv(TRUTH, "person_id"))
    pred = _write(tmp_path / "pred.jsonl", "".join(
        json.dumps({"record_id": r, "cluster_id": c}) + "\n" for r, c in PRED.items()
    ))  # fmt: skip
    assert _run("--truth", str(truth), "--pred", str(pred), "--json") == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures == _evaluate(TRUTH, PRED).to_dict()
    assert figures["pairwise_recall"] == 0.5
    assert figures["largest_predicted_cluster"] == 4


def test_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = _write(tmp_path / "truth.csv", "id,person_id\n1,a\n")
    pred = _write(tmp_path / "pred.csv", _csv(PRED, "cluster_id"))
    assert _run("--truth", str(truth), "--pred", str(pred)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "idres: truth.csv: missing required column 'record_id' (columns found: id, person_id)\n"
    )
    assert _run("--truth", str(tmp_path / "absent.csv"), "--pred", str(pred)) == 1
    assert capsys.readouterr().err.startswith("idres: no such file: ")


def test_cli_requires_both_files() -> None:
    with pytest.raises(SystemExit) as exited:
        _run("--truth", "truth.csv")
    assert exited.value.code == 2


# Scale --------------------------------------------------------------------------------------


def test_a_million_records(tmp_path: Path) -> None:
    size = 1_000_000
    rng = np.random.default_rng(7)
    ids = pa.array([f"rec-{i:07d}" for i in range(size)])
    people = np.arange(size) // 3
    # A decent prediction: 2% of records land in a random other cluster.
    clusters = people.copy()
    moved = rng.random(size) < 0.02
    clusters[moved] = rng.integers(0, size // 3, int(moved.sum()))
    truth, pred = tmp_path / "truth.csv.gz", tmp_path / "pred.parquet"
    with pa.CompressedOutputStream(str(truth), "gzip") as sink:
        pa_csv.write_csv(pa.table({"record_id": ids, "person_id": people.astype(str)}), sink)
    order = rng.permutation(size)
    pq.write_table(pa.table({"record_id": ids.take(order), "cluster_id": clusters[order]}), pred)

    started = time.perf_counter()
    result = evaluate_files(truth, pred)
    seconds = time.perf_counter() - started
    print(f"evaluated {result.records:,} records in {seconds:.2f} s")

    assert result.records == size
    assert result.true_entities == size // 3 + 1
    assert 0.9 < result.bcubed_f1 < 1.0
    assert 0.9 < result.pairwise_recall < 1.0
