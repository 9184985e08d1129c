"""Accuracy benchmark: how well each clustering method recovers the generator's true persons.

Every method clusters the same valid records of one generated data set (rows that
`parse_record` accepts, in time order) and is scored against the ground truth with pairwise and
B-cubed precision, recall and F1, plus cluster shape (predicted vs true clusters, largest
cluster, clusters mixing persons) and its wall time. Methods live in the `METHODS` registry, so
other modules can append theirs; two baselines are built in: a naive union-find over shared
normalized identifiers, and a plain Splink model.

    python -m loadtests.accuracy --persons 20000 --seed 11 --json-out accuracy.json
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from idres.ingest.evaluation import Evaluation, evaluate_arrays
from idres.ingest.files import open_table
from idres.ingest.frame import model_frame
from idres.ingest.generator import generate, write_dataset
from idres.resolver.domain.errors import ValidationError
from idres.resolver.domain.identifiers import Identifier
from idres.resolver.domain.records import Record, parse_record
from idres.resolver.domain.scoring import IDENTIFIER_COLUMNS

UNION_FIND = "identifier union-find"
PLAIN_SPLINK = "plain Splink"
STREAMING = "idres streaming (Observe)"
DEDUP = "idres dedup"


# Data ---------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """The valid records of one generated data set, in time order, with their ground truth.

    Not slotted: `frame` and `truth` are cached on first use, so a method that never asks for
    them never pays for them.
    """

    records_path: Path
    truth_path: Path
    rows: list[dict[str, str]]
    """Valid raw rows (canonical columns), in the order of `records`."""
    records: list[Record]
    """The parsed rows, sorted by (ts, record_id)."""

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, str]], records_path: Path, truth_path: Path
    ) -> Dataset:
        """Keeps the rows `parse_record` accepts (the first of a repeated id) in time order."""
        kept: list[tuple[Record, dict[str, str]]] = []
        seen: set[str] = set()
        for row in rows:
            try:
                record = parse_record(row, prefix="")
            except ValidationError:
                continue
            if record.record_id not in seen:
                seen.add(record.record_id)
                kept.append((record, dict(row)))
        kept.sort(key=lambda pair: (pair[0].ts, pair[0].record_id))
        return cls(records_path, truth_path, [r for _, r in kept], [rec for rec, _ in kept])

    @cached_property
    def frame(self) -> pa.Table:
        """The model frame: unique_id = record_id, then the model's feature columns."""
        return model_frame(self.rows)

    @cached_property
    def truth(self) -> dict[str, str]:
        """record_id -> person_id, read from the truth CSV."""
        with self.truth_path.open(encoding="utf-8", newline="") as f:
            return {row["record_id"]: row["person_id"] for row in csv.DictReader(f)}

    @property
    def record_ids(self) -> list[str]:
        return [record.record_id for record in self.records]


def load_dataset(records_path: Path, truth_path: Path) -> Dataset:
    """Reads a records file back as a service would (any format `open_table` takes)."""
    with open_table(records_path) as table:
        rows = [raw.values for raw in table if raw.error is None]
    return Dataset.from_rows(rows, records_path, truth_path)


def generate_dataset(persons: int, seed: int, workdir: Path) -> Dataset:
    records_path, truth_path = workdir / "records.csv", workdir / "truth.csv"
    write_dataset(generate(persons, seed), records_path, truth_path)
    return load_dataset(records_path, truth_path)


# Methods ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Method:
    """A clustering method: `run` maps every valid record_id of the data set to a label."""

    name: str
    run: Callable[[Dataset], dict[str, str]]
    uses_frame: bool = False
    """Build `Dataset.frame` before the clock starts, so that no method is charged for it."""


def _find(parent: list[int], node: int) -> int:
    while parent[node] != node:  # each step moves up a tree no deeper than the data
        parent[node] = parent[parent[node]]  # path halving keeps later finds short
        node = parent[node]
    return node


def union_find_identifiers(data: Dataset) -> dict[str, str]:
    """Links any two records sharing a normalized, non-placeholder identifier, transitively.

    No limit on how many records one value may join: the naive baseline that shared values
    (store phones, household devices) over-merge. Each cluster is named by its earliest record.
    """
    parent = list(range(len(data.records)))
    first: dict[Identifier, int] = {}
    for index, record in enumerate(data.records):
        for observed in record.identifiers:
            if observed.placeholder:
                continue
            root, other = (
                _find(parent, index),
                _find(parent, first.setdefault(observed.identifier, index)),
            )
            # The earlier record becomes the root, so labels follow time order.
            parent[max(root, other)] = min(root, other)
    return {
        r.record_id: data.records[_find(parent, i)].record_id for i, r in enumerate(data.records)
    }


# Straightforward settings: no term frequencies, no custom levels (compare idres.ingest.training).
PLAIN_PREDICTION_RULES: tuple[tuple[str, ...], ...] = (
    *((column,) for column in IDENTIFIER_COLUMNS),
    ("surname", "dob"),
    ("given_name", "dob"),
    ("given_name", "surname", "postcode_district"),
    ("surname", "postcode"),
)
PLAIN_DETERMINISTIC_RULES: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("loyalty_card",),
    ("given_name", "surname", "dob"),
)
PLAIN_EM_RULES: tuple[tuple[str, ...], ...] = (("email",), ("surname", "dob"), ("postcode",))


def _plain_settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            *(cl.ExactMatch(column) for column in IDENTIFIER_COLUMNS),
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]),
            cl.ExactMatch("dob"),
            cl.ExactMatch("postcode"),
        ],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in PLAIN_PREDICTION_RULES],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


@dataclass(frozen=True, slots=True)
class PlainSplink:
    """A plain Splink 5 model on DuckDB, trained on the data set itself, clustered at 0.9."""

    max_pairs: int = 1_000_000
    """Caps the u sample and each EM session: EM without a cap exhausts memory."""
    seed: int = 42
    threshold: float = 0.9

    def __call__(self, data: Dataset) -> dict[str, str]:
        linker = Linker(
            DuckDBAPI().register(data.frame), _plain_settings(), log_level=logging.WARNING
        )
        self._train(linker)
        pairs = linker.inference.predict(
            threshold_match_probability=self.threshold, warning_mode="never"
        )
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            pairs, threshold_match_probability=self.threshold
        )
        found = clustered.as_duckdbpyrelation().select("unique_id", "cluster_id").fetchall()
        labels = {str(uid): str(cluster) for uid, cluster in found}
        # Clustering keeps every node, but a record no pair touches is a singleton regardless.
        return {rid: labels.get(rid, rid) for rid in data.record_ids}

    def _train(self, linker: Linker) -> None:
        training = linker.training
        training.estimate_probability_two_random_records_match(
            [block_on(*rule) for rule in PLAIN_DETERMINISTIC_RULES], recall=0.7
        )
        training.estimate_u_using_random_sampling(max_pairs=self.max_pairs, seed=self.seed)
        for rule in PLAIN_EM_RULES:
            training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), max_pairs=self.max_pairs
            )


# Other modules append here (see `--plugin`); names must be unique and free of commas.
METHODS: list[Method] = [
    Method(UNION_FIND, union_find_identifiers),
    Method(PLAIN_SPLINK, PlainSplink(), uses_frame=True),
]


# Running and scoring ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One method's labels, scores against the truth, and wall time."""

    name: str
    seconds: float
    evaluation: Evaluation
    labels: dict[str, str]


def evaluate(data: Dataset, labels: Mapping[str, str]) -> Evaluation:
    """Scores labels over exactly the valid records; a missing or stray label is an error."""
    ids = data.record_ids
    missing = [rid for rid in ids if rid not in labels]
    if missing or len(labels) != len(ids):
        stray = len(labels) - (len(ids) - len(missing))
        raise ValueError(f"labels miss {len(missing)} valid records and name {stray} others")
    truth = data.truth
    absent = [rid for rid in ids if rid not in truth]
    if absent:
        raise ValueError(f"{len(absent)} records have no ground truth, e.g. {absent[0]!r}")
    return evaluate_arrays(ids, [truth[rid] for rid in ids], ids, [labels[rid] for rid in ids])


def _log(line: str) -> None:
    print(f"[accuracy] {line}", file=sys.stderr, flush=True)


def run(
    data: Dataset, methods: Sequence[Method], log: Callable[[str], None] = _log
) -> list[Outcome]:
    """Runs and scores each method in turn on the same data; `log` gets progress lines."""
    if any(method.uses_frame for method in methods):
        started = time.perf_counter()
        rows = data.frame.num_rows
        log(f"model frame: {rows:,} rows in {time.perf_counter() - started:.1f} s")
    outcomes: list[Outcome] = []
    for method in methods:
        log(f"{method.name}: started")
        started = time.perf_counter()
        labels = method.run(data)
        seconds = time.perf_counter() - started
        outcome = Outcome(method.name, seconds, evaluate(data, labels), labels)
        log(
            f"{method.name}: done in {seconds:.2f} s, B-cubed F1 {outcome.evaluation.bcubed_f1:.4f}"
        )
        outcomes.append(outcome)
    return outcomes


def agreement(a: Mapping[str, str], b: Mapping[str, str]) -> float:
    """B-cubed F1 of clustering `a` judged with `b` as the truth (symmetric in F1)."""
    return evaluate_arrays(list(b), list(b.values()), list(a), list(a.values())).bcubed_f1


# Reporting ----------------------------------------------------------------------------------

_HEADER = (
    "method",
    "seconds",
    "pair P",
    "pair R",
    "pair F1",
    "B³ P",
    "B³ R",
    "B³ F1",
    "clusters (pred / true)",
    "largest (pred / true)",
    "mixed clusters",
)


def _row(outcome: Outcome) -> tuple[str, ...]:
    e = outcome.evaluation
    return (
        outcome.name,
        f"{outcome.seconds:.2f}",
        *(
            f"{score:.4f}"
            for score in (
                e.pairwise_precision,
                e.pairwise_recall,
                e.pairwise_f1,
                e.bcubed_precision,
                e.bcubed_recall,
                e.bcubed_f1,
            )
        ),
        f"{e.predicted_clusters:,} / {e.true_entities:,}",
        f"{e.largest_predicted_cluster:,} / {e.largest_true_entity:,}",
        f"{e.mixed_clusters:,}",
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def agreements(
    outcomes: Sequence[Outcome], pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, str, float]]:
    by_name = {outcome.name: outcome.labels for outcome in outcomes}
    return [(a, b, agreement(by_name[a], by_name[b])) for a, b in pairs]


def report_json(
    data: Dataset, outcomes: Sequence[Outcome], agreed: Sequence[tuple[str, str, float]]
) -> dict[str, Any]:
    return {
        "records": len(data.records),
        "methods": [
            {"name": o.name, "seconds": o.seconds, **o.evaluation.to_dict()} for o in outcomes
        ],
        "agreement": [{"a": a, "b": b, "bcubed_f1": f1} for a, b, f1 in agreed],
    }


# Command line -------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: a temp dir)")
    parser.add_argument("--methods", type=_names, help="comma-separated names (default: all)")
    parser.add_argument(
        "--agree",
        type=_names,
        action="append",
        default=[],
        metavar="NAME,NAME",
        help="print the B-cubed agreement of two methods; repeatable",
    )
    parser.add_argument("--splink-max-pairs", type=int, default=1_000_000)
    parser.add_argument("--plugin", action="append", default=[], help="module that adds methods")
    parser.add_argument("--json-out", type=Path)
    return parser


def _chosen(
    parser: argparse.ArgumentParser, names: list[str] | None, max_pairs: int
) -> list[Method]:
    known = {method.name: method for method in METHODS}
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; known: {', '.join(known)}")
    chosen = [known[name] for name in names] if names else list(METHODS)
    splink = Method(PLAIN_SPLINK, PlainSplink(max_pairs=max_pairs), uses_frame=True)
    return [splink if method.name == PLAIN_SPLINK else method for method in chosen]


def _pairs(
    parser: argparse.ArgumentParser, agree: list[list[str]], chosen: list[Method]
) -> list[tuple[str, str]]:
    names = {method.name for method in chosen}
    if not agree and {STREAMING, DEDUP} <= names:
        agree = [[STREAMING, DEDUP]]
    for pair in agree:
        if len(pair) != 2 or not set(pair) <= names:
            parser.error(f"--agree needs two of the methods run, not {','.join(pair)!r}")
    return [(pair[0], pair[1]) for pair in agree]


def _benchmark(
    args: argparse.Namespace, methods: list[Method], pairs: list[tuple[str, str]], workdir: Path
) -> dict[str, Any]:
    _log(f"generating {args.persons:,} persons (seed {args.seed}) in {workdir}")
    data = generate_dataset(args.persons, args.seed, workdir)
    _log(f"{len(data.records):,} valid records")
    outcomes = run(data, methods, _log)
    agreed = agreements(outcomes, pairs)
    print(f"{len(data.records):,} valid records, {args.persons:,} persons, seed {args.seed}\n")
    print(markdown_table(_HEADER, [_row(outcome) for outcome in outcomes]))
    if agreed:
        rows = [(a, b, f"{f1:.4f}") for a, b, f1 in agreed]
        print("\n" + markdown_table(("method", "judged against", "B³ F1"), rows))
    return {"persons": args.persons, "seed": args.seed, **report_json(data, outcomes, agreed)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for module in args.plugin:
        importlib.import_module(module)
    methods = _chosen(parser, args.methods, args.splink_max_pairs)
    pairs = _pairs(parser, args.agree, methods)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = _benchmark(args, methods, pairs, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="idres-accuracy-") as tmp:
            report = _benchmark(args, methods, pairs, Path(tmp))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: plugins append to
    # `loadtests.accuracy.METHODS`, which under `python -m` is a different list from ours.
    from loadtests.accuracy import main as _main

    raise SystemExit(_main())
