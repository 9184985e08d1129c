"""`dedup` and `idres dedup` on generated data: coverage, accuracy, reproducibility, rejects."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from idres.cli import dedup as dedup_cli
from idres.ingest.dedup import DedupResult, dedup, write_clusters
from idres.ingest.evaluation import evaluate_files
from idres.ingest.files import open_table
from idres.ingest.frame import model_frame
from idres.ingest.generator import write_generated
from idres.ingest.overrides import read_overrides
from idres.ingest.training import save_model
from idres.resolver.domain.matching import household_guard
from idres.resolver.domain.scoring import MatchModel

MAX_PAIRS = 50_000
BROKEN_ID = "broken-row-1"


@dataclass(frozen=True)
class Trained:
    data: Path
    truth: Path
    broken_row: int
    result: DedupResult


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One training run on 400 generated persons plus a row with too few fields."""
    tmp = tmp_path_factory.mktemp("dedup")
    data, truth, count = write_generated(tmp / "people.csv", 400, 9)
    with data.open("a", encoding="utf-8") as f:
        f.write(f"{BROKEN_ID},web\n")
    result = dedup(data, max_pairs=MAX_PAIRS, seed=1, progress=False)
    return Trained(data, truth, count + 1, result)


def valid_ids(path: Path) -> set[str]:
    """The records training would use, computed by the training module itself."""
    with open_table(path) as table:
        frame = model_frame(row.values for row in table if row.error is None)
    return set(frame.column("unique_id").to_pylist())


def read_back(path: Path) -> dict[str, str]:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        pairs = zip(
            table.column("record_id").to_pylist(),
            table.column("cluster_id").to_pylist(),
            strict=True,
        )
        return dict(pairs)
    if path.suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        return {obj["record_id"]: obj["cluster_id"] for obj in map(json.loads, lines)}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["record_id"]: row["cluster_id"] for row in csv.DictReader(f)}


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="idres")
    dedup_cli.register(parser.add_subparsers(dest="verb", required=True))
    return parser.parse_args(["dedup", *argv])


def test_every_valid_record_gets_one_cluster_named_by_its_smallest_member(
    trained: Trained,
) -> None:
    clusters = trained.result.as_dict()
    assert set(clusters) == valid_ids(trained.data)
    assert trained.result.records == len(clusters)
    members: dict[str, list[str]] = defaultdict(list)
    for record_id, cluster_id in clusters.items():
        members[cluster_id].append(record_id)
    assert all(cluster_id == min(ids) for cluster_id, ids in members.items())
    assert trained.result.clusters == len(members)
    assert trained.result.largest_cluster == max(len(ids) for ids in members.values())
    assert set(trained.result.seconds) == {"read", "train", "score", "cluster"}
    counts = trained.result.counts
    assert counts.linked > 0 and counts.created - counts.absorbed == trained.result.clusters


def test_a_malformed_row_is_rejected_with_its_number_and_left_out(trained: Trained) -> None:
    result = trained.result
    assert result.rows_read == trained.broken_row
    assert trained.broken_row in result.rejected_rows
    assert BROKEN_ID not in result.as_dict()
    assert any("expected" in r.reason for r in result.rejections)
    # The generator also plants a few invalid values: their records are kept, with warnings.
    assert result.rejected_rows == [trained.broken_row]
    assert result.records == result.rows_read - 1
    assert result.warnings.rows > 0 and result.warnings.first[0].row < trained.broken_row


@pytest.mark.parametrize("name", ["clusters.csv", "clusters.parquet", "clusters.jsonl"])
def test_output_round_trips(trained: Trained, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    assert write_clusters(trained.result, out) == trained.result.records
    assert read_back(out) == trained.result.as_dict()


def test_pairwise_accuracy_against_the_truth(trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "clusters.csv"
    write_clusters(trained.result, out)
    scores = evaluate_files(trained.truth, out)
    print(
        f"pairwise precision {scores.pairwise_precision:.4f}"
        f" recall {scores.pairwise_recall:.4f} F1 {scores.pairwise_f1:.4f};"
        f" B-cubed F1 {scores.bcubed_f1:.4f}; seconds {trained.result.seconds}"
    )
    assert scores.only_in_pred == 0
    # With identifiers the household guard holds, whatever this small sample's EM learned.
    assert household_guard(MatchModel.from_splink(trained.result.model))
    # Measured 0.999 precision, 0.65 recall at p >= 0.9 with 50,000 pairs: bounds with margin.
    assert scores.pairwise_precision >= 0.95
    assert scores.pairwise_recall >= 0.55


def test_the_same_model_gives_the_same_clusters(trained: Trained, tmp_path: Path) -> None:
    model_path = tmp_path / "model.json"
    save_model(trained.result.model, model_path)
    out = tmp_path / "again.parquet"
    assert dedup_cli.run(cli(str(trained.data), "--out", str(out), "--model", str(model_path))) == 0
    assert read_back(out) == trained.result.as_dict()


def test_a_given_model_is_used_as_is_and_progress_names_each_step(trained: Trained) -> None:
    stream = io.StringIO()
    again = dedup(trained.data, model=trained.result.model, stream=stream)
    assert not again.trained
    assert again.model_version == trained.result.model_version
    assert again.counts == trained.result.counts
    steps = [line.split(":")[0] for line in stream.getvalue().splitlines()]
    assert steps == ["read", "train", "score", "cluster"]
    assert all(line.rstrip().endswith("s elapsed)") for line in stream.getvalue().splitlines())


def test_the_cli_prints_a_summary(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_path = tmp_path / "model.json"
    save_model(trained.result.model, model_path)
    out = tmp_path / "clusters.jsonl"
    args = cli(str(trained.data), "--out", str(out), "--model", str(model_path))
    assert dedup_cli.run(args) == 0
    printed = capsys.readouterr().out
    result = trained.result
    for expected in (
        f"records read       {result.rows_read:,}",
        f"rejected           {len(result.rejected_rows):,}",
        f"clusters           {result.clusters:,}",
        f"largest cluster    {result.largest_cluster:,}",
        f"decisions          {result.counts.linked:,} linked",
        f"model              {result.model_version} (given)",
        f"rejected           1 (rows {trained.broken_row})",
        f"warned             {result.warnings.rows:,} rows",
    ):
        assert expected in printed
    assert "seconds            read " in printed
    assert "write" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.csv", "--out", "o.csv"], "no such table file"),
        (["people.csv", "--out", "o.txt"], "unsupported file type"),
        (["people.csv", "--out", "o.csv", "--threshold", "1.5"], "threshold"),
        (["people.csv", "--out", "o.csv", "--model", "nope.json"], "nope.json"),
    ],
)
def test_bad_input_fails_plainly(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    write_generated(tmp_path / "people.csv", 3, 1)
    argv = [str(tmp_path / a) if a.endswith((".csv", ".txt", ".json")) else a for a in argv]
    assert dedup_cli.run(cli(*argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("idres: ")
    assert message in err


def test_too_few_valid_records_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("record_id,given_name,surname,email\nr1,Ann,Lee,ann@example.com\n")
    with pytest.raises(ValueError, match="fewer than two"):
        dedup(data, progress=False)


def test_dedup_honours_operator_splits_and_merges(trained: Trained, tmp_path: Path) -> None:
    before = trained.result.as_dict()
    members: dict[str, list[str]] = defaultdict(list)
    for rid, cluster in sorted(before.items()):
        members[cluster].append(rid)
    big = [m for m in members.values() if len(m) >= 3]
    kept, moved = big[0][:1], big[0][1:]
    a, b = big[1][0], big[2][0]
    lines = [
        {"id": 1, "kind": "split", "sides": [kept, moved], "at": "2026-01-01T00:00:00+00:00"},
        {"id": 2, "kind": "merge", "sides": [[a, b]], "actor": "ops", "reason": "one person"},
    ]
    path = tmp_path / "overrides.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    overrides = read_overrides(path)
    after = dedup(
        trained.data, model=trained.result.model, overrides=overrides, progress=False
    ).as_dict()
    assert all(after[r] != after[kept[0]] for r in moved)
    assert after[a] == after[b]
    assert after[big[1][1]] == after[big[2][1]]  # the customers join whole, not two records


def test_a_bad_overrides_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "overrides.jsonl"
    path.write_text('{"id": 1, "kind": "merge", "sides": [["a"]]}\n{"id": 2, "kind": "split"}\n')
    with pytest.raises(ValueError, match="line 2: missing 'sides'"):
        read_overrides(path)
