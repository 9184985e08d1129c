"""Accuracy benchmark: how well each clustering method recovers the true persons of a data set.

Every method clusters the same records: the rows `parse_record` accepts (any row with a usable
record id, the first of a repeated id; bad fields are flagged, not fatal), in time order, all
normalized with one set of rules. Each is scored against every row of the truth file, so a row
a method did not assign counts as its own singleton: a method cannot look better by leaving hard
rows out. Scores are pairwise and B-cubed precision, recall and F1, plus cluster shape (clusters
mixing persons, the largest cluster) and wall time.

The data is either a labelled file the project did not write (`--records` and `--truth`, as in
`make bench-accuracy`) or one the project's generator makes (`--persons`, `--seed`, as in `make
bench`). Methods live in the `METHODS` registry, so other modules can append theirs
(`loadtests.accuracy_idres` adds idres's own). Built in: union-find over shared normalized
identifiers, naive and with a guard against values many records share; a plain Splink model;
and the evidence ceiling, which reads the truth and so bounds what the records allow rather
than competing with the methods.

    python -m loadtests.accuracy --persons 20000 --seed 11 --json-out accuracy.json
    python -m loadtests.accuracy_idres --records records.parquet --truth truth.parquet \\
        --phone-regions GB,US
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from idres.ingest.evaluation import Evaluation, evaluate_arrays
from idres.ingest.files import open_table, table_format
from idres.ingest.frame import model_frame
from idres.ingest.generator import generate, write_dataset
from idres.resolver.domain.errors import ValidationError
from idres.resolver.domain.identifiers import Identifier
from idres.resolver.domain.normalize import DEFAULT_RULES, NormalizationRules
from idres.resolver.domain.records import Record, parse_record
from idres.resolver.domain.scoring import IDENTIFIER_COLUMNS, features

SHARED_VALUE_LIMIT = 10
"""The guarded union-find ignores a value held by more records than this: a store's own phone,
a test email or a household tablet is shared by many people, and one person rarely shows the
same value more than a handful of times."""
UNION_FIND = "identifier union-find (no guard)"
GUARDED_UNION_FIND = f"identifier union-find (guard {SHARED_VALUE_LIMIT})"
PLAIN_SPLINK = "plain Splink"
STREAMING = "idres streaming (Observe)"
DEDUP = "idres dedup"
CEILING = "evidence ceiling (uses the truth; not a method)"
CEILING_FIELDS: tuple[str, ...] = ("given_name", "surname", "dob", "postcode")
"""Weak fields of which two exact agreements link records of one person in the ceiling."""
TRUTH_COLUMNS: tuple[str, str] = ("record_id", "person_id")
_ALONE = "\x00unassigned:"
"""Label prefix of a row no method assigned; no real label starts with a NUL."""


# Data ---------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """The kept records of one records file, in time order, with their ground truth.

    Not slotted: `frame` and `truth` are cached on first use, so a method that never asks for
    them never pays for them.
    """

    records_path: Path
    truth_path: Path
    rows: list[dict[str, str]]
    """Kept raw rows (canonical columns), in the order of `records`."""
    records: list[Record]
    """The parsed rows, sorted by (ts, record_id)."""
    rules: NormalizationRules = DEFAULT_RULES
    """The normalization rules (phone regions, placeholders) every method reads the rows with."""
    rows_read: int = 0
    """Rows in the records file, kept or not: what "records kept" counts out of."""

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, str]],
        records_path: Path,
        truth_path: Path,
        *,
        rules: NormalizationRules = DEFAULT_RULES,
        rows_read: int | None = None,
    ) -> Dataset:
        """Keeps every row with a usable record id (the first of a repeated id), in time order;
        `rows_read` defaults to the rows given."""
        kept: list[tuple[Record, dict[str, str]]] = []
        seen: set[str] = set()
        given = 0
        for row in rows:
            given += 1
            try:
                record = parse_record(row, rules, prefix="")
            except ValidationError:
                continue
            if record.record_id not in seen:
                seen.add(record.record_id)
                kept.append((record, dict(row)))
        kept.sort(key=lambda pair: (pair[0].ts, pair[0].record_id))
        read = given if rows_read is None else rows_read
        rows_kept, records = [r for _, r in kept], [rec for rec, _ in kept]
        return cls(records_path, truth_path, rows_kept, records, rules, read)

    @cached_property
    def frame(self) -> pa.Table:
        """The model frame: unique_id = record_id, then the model's feature columns."""
        return model_frame(self.rows, self.rules)

    @cached_property
    def truth(self) -> dict[str, str]:
        """record_id -> person_id for every row of the truth file."""
        return read_truth(self.truth_path)

    @property
    def record_ids(self) -> list[str]:
        return [record.record_id for record in self.records]

    def clustering(self, labels: Mapping[str, str]) -> list[str]:
        """A label for every truth row, in the truth's order; an unassigned row is alone."""
        return [labels.get(rid, _ALONE + rid) for rid in self.truth]


def read_truth(path: Path) -> dict[str, str]:
    """record_id -> person_id from a CSV, Parquet or JSON Lines file.

    `open_table` keeps only the record schema's columns, so the truth is read with Arrow, by the
    same extension rule, and every id compared as text.
    """
    fmt = table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such truth file: {path}")
    if fmt == "parquet":
        table = pq.read_table(path)
    elif fmt == "csv":
        text = pa_csv.ConvertOptions(column_types=dict.fromkeys(TRUTH_COLUMNS, pa.string()))
        table = pa_csv.read_csv(path, convert_options=text)
    else:
        table = pa_json.read_json(path)
    missing = [name for name in TRUTH_COLUMNS if name not in table.column_names]
    if missing:
        found = ", ".join(table.column_names)
        raise ValueError(f"{path.name}: needs columns record_id, person_id (found: {found})")
    ids, persons = (pc.cast(table.column(name), pa.string()).to_pylist() for name in TRUTH_COLUMNS)
    return dict(zip(ids, persons, strict=True))


def load_dataset(
    records_path: Path, truth_path: Path, rules: NormalizationRules = DEFAULT_RULES
) -> Dataset:
    """Reads a records file back as a service would (any format `open_table` takes)."""
    with open_table(records_path) as table:
        raw = list(table)
    rows = [row.values for row in raw if row.error is None]
    return Dataset.from_rows(rows, records_path, truth_path, rules=rules, rows_read=len(raw))


def generate_dataset(
    persons: int, seed: int, workdir: Path, rules: NormalizationRules = DEFAULT_RULES
) -> Dataset:
    records_path, truth_path = workdir / "records.csv", workdir / "truth.csv"
    write_dataset(generate(persons, seed), records_path, truth_path)
    return load_dataset(records_path, truth_path, rules)


def check_truth(data: Dataset) -> None:
    """Refuses a truth file that misses kept records: the two files do not belong together,
    and it is better said before a long run than after it."""
    truth = data.truth
    absent = [rid for rid in data.record_ids if rid not in truth]
    if absent:
        raise ValueError(
            f"{len(absent):,} of {len(data.records):,} records have no ground truth"
            f" in {data.truth_path.name}, e.g. {absent[0]!r}"
        )


# Methods ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Method:
    """A clustering method: `run` maps record_ids of the data set to cluster labels; a record
    it leaves out is scored as a singleton."""

    name: str
    run: Callable[[Dataset], dict[str, str]]
    uses_frame: bool = False
    """Build `Dataset.frame` before the clock starts, so that no method is charged for it."""
    reference: bool = False
    """Reads the truth: a bound to judge the methods by, not one of them; reported last."""


def _find(parent: list[int], node: int) -> int:
    while parent[node] != node:  # each step moves up a tree no deeper than the data
        parent[node] = parent[parent[node]]  # path halving keeps later finds short
        node = parent[node]
    return node


def _union(parent: list[int], a: int, b: int) -> None:
    root, other = _find(parent, a), _find(parent, b)
    # The earlier record becomes the root, so labels follow time order.
    parent[max(root, other)] = min(root, other)


def _linked(data: Dataset, keys: Callable[[Record], Iterable[Hashable]]) -> dict[str, str]:
    """Union-find: records that yield a common key are linked, transitively. Each cluster is
    named by its earliest record."""
    parent = list(range(len(data.records)))
    first: dict[Hashable, int] = {}
    for index, record in enumerate(data.records):
        for key in keys(record):
            _union(parent, index, first.setdefault(key, index))
    records = data.records
    return {r.record_id: records[_find(parent, i)].record_id for i, r in enumerate(records)}


def _strong(record: Record) -> set[Identifier]:
    return {o.identifier for o in record.identifiers if not o.placeholder}


def union_find_identifiers(data: Dataset, limit: int | None = None) -> dict[str, str]:
    """Links any two records sharing a normalized, non-placeholder identifier, transitively.

    With no `limit`, the naive baseline: shared values (store phones, household devices) glue
    many people together. With one, a value held by more than `limit` records links nobody,
    which is the least a deterministic rule set must do.
    """
    if limit is None:
        return _linked(data, _strong)
    held = Counter(value for record in data.records for value in _strong(record))
    return _linked(data, lambda r: [value for value in _strong(r) if held[value] <= limit])


def guarded_union_find(data: Dataset) -> dict[str, str]:
    """The deterministic baseline worth beating: union-find with the shared-value guard."""
    return union_find_identifiers(data, SHARED_VALUE_LIMIT)


def evidence(record: Record) -> list[Hashable]:
    """What the ceiling may link two records of one person on: a normalized, non-placeholder
    identifier, or one pair of `CEILING_FIELDS` (as the model folds them) both filled."""
    found = features(record)
    present = [(name, found[name]) for name in CEILING_FIELDS if found[name]]
    return [*(("id", value) for value in _strong(record)), *combinations(present, 2)]


def evidence_ceiling(data: Dataset) -> dict[str, str]:
    """Links, within each true person only, records that share any `evidence`: the most any
    method could recover from what the records say, so a method near it has little left."""
    truth = data.truth

    def keys(record: Record) -> list[Hashable]:
        person = truth.get(record.record_id)
        return [] if person is None else [(person, key) for key in evidence(record)]

    return _linked(data, keys)


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
    Method(GUARDED_UNION_FIND, guarded_union_find),
    Method(PLAIN_SPLINK, PlainSplink(), uses_frame=True),
    Method(CEILING, evidence_ceiling, reference=True),
]


# Running and scoring ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One method's labels, scores against the truth, and wall time."""

    name: str
    seconds: float
    evaluation: Evaluation
    labels: dict[str, str]
    """The method's own labels: only the records it assigned."""
    reference: bool = False

    @property
    def kept(self) -> int:
        """Rows the method assigned to a cluster."""
        return len(self.labels)


def evaluate(data: Dataset, labels: Mapping[str, str]) -> Evaluation:
    """Scores labels over every row of the truth file, an unassigned row as a singleton; a
    label for a record the truth does not hold means the files do not belong together."""
    truth = data.truth
    stray = [rid for rid in labels if rid not in truth]
    if stray:
        raise ValueError(f"{len(stray):,} labelled records have no ground truth, e.g. {stray[0]!r}")
    ids = list(truth)
    return evaluate_arrays(ids, list(truth.values()), ids, data.clustering(labels))


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
        scores = evaluate(data, labels)
        outcomes.append(Outcome(method.name, seconds, scores, labels, method.reference))
        log(f"{method.name}: done in {seconds:.2f} s, B-cubed F1 {scores.bcubed_f1:.4f}")
    return outcomes


def agreement(a: Mapping[str, str], b: Mapping[str, str]) -> float:
    """B-cubed F1 of clustering `a` judged with `b` as the truth (symmetric in F1)."""
    return evaluate_arrays(list(b), list(b.values()), list(a), list(a.values())).bcubed_f1


def agreements(
    data: Dataset, outcomes: Sequence[Outcome], pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, str, float]]:
    """Agreement over every truth row, as the scores are: a row one side left out is alone."""
    by_name = {outcome.name: outcome.labels for outcome in outcomes}

    def full(name: str) -> dict[str, str]:
        return dict(zip(data.truth, data.clustering(by_name[name]), strict=True))

    return [(a, b, agreement(full(a), full(b))) for a, b in pairs]


# Reporting ----------------------------------------------------------------------------------

HEADER = (
    "method",
    "records kept",
    "pair P",
    "pair R",
    "pair F1",
    "B³ P",
    "B³ R",
    "B³ F1",
    "over-merged clusters",
    "clusters (pred / true)",
    "largest (pred / true)",
    "seconds",
)
CEILING_NOTE = (
    "The evidence ceiling reads the truth: within each true person it links records"
    " that share a normalized identifier or agree exactly on two of given name, surname, date"
    " of birth and postcode. It bounds what the records allow; it is not a method."
)


def table_row(outcome: Outcome, rows_read: int) -> tuple[str, ...]:
    e = outcome.evaluation
    return (
        outcome.name,
        f"{outcome.kept:,} / {rows_read:,}",
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
        f"{e.mixed_clusters:,}",
        f"{e.predicted_clusters:,} / {e.true_entities:,}",
        f"{e.largest_predicted_cluster:,} / {e.largest_true_entity:,}",
        f"{outcome.seconds:.2f}",
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def report_text(
    data: Dataset, outcomes: Sequence[Outcome], agreed: Sequence[tuple[str, str, float]]
) -> str:
    """The tables as printed: one row per method, then the agreements asked for."""
    parts = [markdown_table(HEADER, [table_row(o, data.rows_read) for o in outcomes])]
    if any(outcome.reference for outcome in outcomes):
        parts.append(CEILING_NOTE)
    if agreed:
        rows = [(a, b, f"{f1:.4f}") for a, b, f1 in agreed]
        parts.append(markdown_table(("method", "judged against", "B³ F1"), rows))
    return "\n\n".join(parts)


def report_json(
    data: Dataset, outcomes: Sequence[Outcome], agreed: Sequence[tuple[str, str, float]]
) -> dict[str, Any]:
    methods = [
        {
            "name": o.name,
            "reference": o.reference,
            "records_kept": o.kept,
            "seconds": o.seconds,
            **o.evaluation.to_dict(),
        }
        for o in outcomes
    ]
    return {
        "rows": data.rows_read,
        "records": len(data.records),
        "truth_rows": len(data.truth),
        "phone_regions": list(data.rules.phone_regions),
        "methods": methods,
        "agreement": [{"a": a, "b": b, "bcubed_f1": f1} for a, b, f1 in agreed],
    }


# Command line -------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    files = parser.add_argument_group("a labelled file (both or neither)")
    files.add_argument("--records", type=Path, help="records in the canonical schema")
    files.add_argument("--truth", type=Path, help="record_id, person_id (CSV or Parquet)")
    generated = parser.add_argument_group("generated data (when no file is given)")
    generated.add_argument("--persons", type=int, default=20_000)
    generated.add_argument("--seed", type=int, default=11)
    generated.add_argument("--workdir", type=Path, help="keep the data here (default: temp)")
    parser.add_argument(
        "--phone-regions",
        type=_names,
        help="regions national phone numbers are read in, as IDRES_PHONE_REGIONS (default GB)",
    )
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


def _rules(parser: argparse.ArgumentParser, regions: list[str] | None) -> NormalizationRules:
    if not regions:
        return DEFAULT_RULES
    try:
        return NormalizationRules(phone_regions=tuple(code.upper() for code in regions))
    except ValueError as exc:
        parser.error(str(exc))


def _chosen(
    parser: argparse.ArgumentParser, names: list[str] | None, max_pairs: int
) -> list[Method]:
    """The methods asked for, references last so that the table reads methods then bound."""
    known = {method.name: method for method in METHODS}
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; known: {', '.join(known)}")
    chosen = [known[name] for name in names] if names else list(METHODS)
    splink = Method(PLAIN_SPLINK, PlainSplink(max_pairs=max_pairs), uses_frame=True)
    chosen = [splink if method.name == PLAIN_SPLINK else method for method in chosen]
    return sorted(chosen, key=lambda method: method.reference)


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


@contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="idres-accuracy-") as tmp:
        yield Path(tmp)


def _load(
    args: argparse.Namespace, rules: NormalizationRules, workdir: Path
) -> tuple[Dataset, dict[str, Any]]:
    """The data set to measure on, and what the report says of where it came from."""
    if args.records is not None:
        _log(f"reading {args.records} and {args.truth}")
        data = load_dataset(args.records, args.truth, rules)
        source: dict[str, Any] = {"records_file": args.records.name, "truth_file": args.truth.name}
    else:
        _log(f"generating {args.persons:,} persons (seed {args.seed}) in {workdir}")
        data = generate_dataset(args.persons, args.seed, workdir, rules)
        source = {"persons": args.persons, "seed": args.seed}
    check_truth(data)
    return data, source


def _summary(data: Dataset) -> str:
    people = len(set(data.truth.values()))
    regions = ", ".join(data.rules.phone_regions)
    return (
        f"{len(data.records):,} of {data.rows_read:,} rows kept (a usable record id),"
        f" {len(data.truth):,} truth rows, {people:,} people, phone regions {regions}"
    )


def _measure(data: Dataset, methods: list[Method], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    _log(_summary(data))
    outcomes = run(data, methods, _log)
    agreed = agreements(data, outcomes, pairs)
    print(_summary(data) + "\n")
    print(report_text(data, outcomes, agreed))
    return report_json(data, outcomes, agreed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.records is None) != (args.truth is None):
        parser.error("--records and --truth go together")
    rules = _rules(parser, args.phone_regions)
    for module in args.plugin:
        importlib.import_module(module)
    methods = _chosen(parser, args.methods, args.splink_max_pairs)
    pairs = _pairs(parser, args.agree, methods)
    with _workdir(args.workdir) as workdir:
        try:
            data, source = _load(args, rules, workdir)
        except (OSError, ValueError) as exc:
            parser.exit(2, f"{parser.prog}: {exc}\n")
        report = {**source, **_measure(data, methods, pairs)}
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: plugins append to
    # `loadtests.accuracy.METHODS`, which under `python -m` is a different list from ours.
    from loadtests.accuracy import main as _main

    raise SystemExit(_main())
