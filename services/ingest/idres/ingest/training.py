"""Training the match model with Splink on DuckDB: the batch half of "one model, two paths".

The columns come from `idres.resolver.domain.scoring.features`, the function the online
scorer uses, and the comparisons are limited to those `MatchModel` evaluates exactly.
Which of them a model has depends on the data: `plan_training` keeps the columns that carry
values and the rules that give pairs (a CRM export may have names, dates of birth and
addresses but no email), and `train` follows that `TrainingPlan`.
Training may run on another Splink backend (Spark, `idres.ingest.spark`); the model it returns
is always in DuckDB's form, the one `MatchModel` and the DuckDB linker read.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.database_api import DatabaseAPI
from tqdm import tqdm

from idres.resolver.domain.scoring import FEATURE_COLUMNS, IDENTIFIER_COLUMNS, MatchModel

Rule = tuple[str, ...]
Rules = tuple[Rule, ...]

NAME_THRESHOLDS: tuple[float, float] = (0.92, 0.80)
DEFAULT_MAX_PAIRS = 5_000_000
MIN_FILLED = 0.01
"""A column with a value in fewer than this share of rows is left out: EM could not estimate
its levels, and a comparison that is almost always null only costs time."""
# Rules that admit almost no false pairs, for the prior; `recall` is their share of true pairs.
DETERMINISTIC_RULES: Rules = (
    ("email",),
    ("loyalty_card",),
    ("given_name", "surname", "dob"),
)
# Used only when none of the rules above gives a pair.
FALLBACK_DETERMINISTIC_RULES: Rules = (
    ("handle",),
    ("given_name", "surname", "postcode"),
    ("given_name", "surname", "street_number", "street"),
)
# Each EM session estimates m for the comparisons its rule does not fix; together they
# cover every comparison at least twice.
EM_RULES: Rules = (
    ("email",),
    ("surname", "dob"),
    ("given_name", "surname"),
    ("postcode",),
)
# Added, in order, while a comparison is estimated by fewer than `_EM_COVER` sessions.
FALLBACK_EM_RULES: Rules = (
    ("dob",),
    ("surname",),
    ("given_name", "dob"),
    ("phone",),
    ("handle",),
    ("loyalty_card",),
    ("device_id",),
    ("street_number", "street"),
    ("locality",),
)
_EM_COVER = 2
PREDICTION_RULES: Rules = (
    *((column,) for column in IDENTIFIER_COLUMNS),
    ("surname", "dob"),
    ("given_name", "dob"),
    ("given_name", "surname", "postcode_district"),
    ("surname", "postcode"),
    # A record with little more than a name (a social display name, a note at the till) meets
    # the customer of that name; a common one proposes nothing (`block_limit`).
    ("given_name", "surname"),
)
# Where a rule's column carries no data, the first alternative whose columns do stands in:
# an Australian or US postcode has no UK district.
_PREDICTION_ALTERNATIVES: dict[Rule, Rules] = {
    ("given_name", "surname", "postcode_district"): (("given_name", "surname", "postcode"),),
}
# An address's own keys: the same person keyed twice rarely keeps more than one of name,
# date of birth and street right, so each pairs a weak attribute with a part of the address.
ADDRESS_PREDICTION_RULES: Rules = (
    ("street_number", "street"),
    ("street_word", "postcode"),
    ("given_name", "locality"),
    ("surname", "locality"),
    ("dob", "locality"),
    ("dob", "street_number"),
    ("street_number", "locality"),
)
# Each comparison by its output column, in the order of the settings, with the columns it
# reads: the first is the one it compares; a later one only adds a level, left out with it.
COMPARISON_COLUMNS: dict[str, tuple[str, ...]] = {
    **{column: (column,) for column in IDENTIFIER_COLUMNS},
    "given_name": ("given_name", "given_name_group", "given_name_initial"),
    "surname": ("surname",),
    "dob": ("dob",),
    "postcode": ("postcode", "postcode_sector", "postcode_district"),
    "street_number": ("street_number",),
    "street": ("street", "street_word"),
    "locality": ("locality",),
    "state": ("state",),
}
_DOB_SWAPPED = (
    'substr("dob_l", 1, 4) = substr("dob_r", 1, 4)'
    ' AND substr("dob_l", 6, 2) = substr("dob_r", 9, 2)'
    ' AND substr("dob_l", 9, 2) = substr("dob_r", 6, 2)'
)
_DOB_SAME_YEAR = 'substr("dob_l", 1, 4) = substr("dob_r", 1, 4)'
# The custom levels are written in DuckDB SQL; naming the dialect lets Splink translate them
# for another backend, where "dob_l" could otherwise read as a string literal (Spark).
_CUSTOM_DIALECT = "duckdb"
# What training sets in a model; the rest is its settings.
_TRAINED_MODEL_KEYS = ("probability_two_random_records_match", "linker_uid")
_TRAINED_LEVEL_KEYS = ("m_probability", "u_probability")


# ---- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A column or rule training did not use, and why."""

    name: str
    """A column (`email`) or a rule (`EM surname+dob`)."""
    reason: str


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """What a model is trained on: the columns that carry data and rules that give pairs.

    `build_settings` makes the comparisons and prediction rules of it; `train` uses its
    deterministic rules for the prior and one EM session per EM rule.
    """

    columns: tuple[str, ...]
    """The model columns the comparisons read, in `FEATURE_COLUMNS` order."""
    deterministic_rules: Rules
    em_rules: Rules
    prediction_rules: Rules
    left_out: tuple[LeftOut, ...] = ()

    @property
    def comparisons(self) -> tuple[str, ...]:
        """The comparisons' output columns, in the order of the settings."""
        return tuple(c for c, used in COMPARISON_COLUMNS.items() if used[0] in self.columns)

    def lines(self) -> list[str]:
        """The plan as `idres train` and `idres dedup` print it."""
        lines = [
            "comparisons        " + ", ".join(self.comparisons),
            "columns            " + ", ".join(self.columns),
            "prior from         " + _rules_text(self.deterministic_rules),
            "m by EM on         " + _rules_text(self.em_rules),
            "blocking           " + _rules_text(self.prediction_rules),
        ]
        by_reason: dict[str, list[str]] = {}
        for item in self.left_out:
            by_reason.setdefault(item.reason, []).append(item.name)
        lines += [f"left out           {', '.join(n)} ({r})" for r, n in by_reason.items()]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON values, for the facts stored with a model."""
        return {
            "columns": list(self.columns),
            "deterministic_rules": [list(rule) for rule in self.deterministic_rules],
            "em_rules": [list(rule) for rule in self.em_rules],
            "prediction_rules": [list(rule) for rule in self.prediction_rules],
            "left_out": [{"name": i.name, "reason": i.reason} for i in self.left_out],
        }


OMNICHANNEL_PLAN = TrainingPlan(
    columns=tuple(
        column
        for name in (*IDENTIFIER_COLUMNS, "given_name", "surname", "dob", "postcode")
        for column in COMPARISON_COLUMNS[name]
    ),
    deterministic_rules=DETERMINISTIC_RULES,
    em_rules=EM_RULES,
    prediction_rules=PREDICTION_RULES,
)
"""The plan of data with every identifier, name, date of birth and postcode and no address:
the settings of every model made before plans were, and `build_settings`'s default."""


def _rules_text(rules: Rules) -> str:
    return "; ".join("+".join(rule) for rule in rules) or "none"


def plan_training(table: pa.Table, *, min_filled: float = MIN_FILLED) -> TrainingPlan:
    """The plan `train` follows on a model frame: its columns that carry data, and the rules
    on them that give pairs. A frame with every omnichannel column filled and no address
    gets `OMNICHANNEL_PLAN`, less only the address columns it leaves out.

    Raises ValueError when no comparison, prior, EM session or prediction rule is left.
    """
    kept, left_out = _filled_columns(table, min_filled)
    columns = tuple(
        c for used in COMPARISON_COLUMNS.values() if used[0] in kept for c in used if c in kept
    )
    if not columns:
        raise ValueError("nothing to train on: no model column carries data")
    chosen = set(columns)
    deterministic = _rules_with_pairs(table, DETERMINISTIC_RULES, chosen, "prior", left_out)
    if not deterministic:
        deterministic = _rules_with_pairs(
            table, FALLBACK_DETERMINISTIC_RULES, chosen, "prior", left_out
        )
    if not deterministic:
        raise ValueError(
            "cannot estimate the prior: no deterministic rule ("
            + _rules_text(DETERMINISTIC_RULES + FALLBACK_DETERMINISTIC_RULES)
            + ") gives a pair on the columns that carry data"
        )
    comparisons = TrainingPlan(columns, (), (), ()).comparisons
    em = _em_rules(table, chosen, comparisons, left_out)
    prediction = _prediction_rules(chosen)
    if not prediction:
        raise ValueError("no prediction blocking rule has its columns filled")
    return TrainingPlan(columns, deterministic, em, prediction, tuple(left_out))


def _filled_columns(table: pa.Table, min_filled: float) -> tuple[set[str], list[LeftOut]]:
    """The frame's model columns with values in at least `min_filled` of its rows and more
    than one value between them (a value every record shares tells no one apart)."""
    kept: set[str] = set()
    left_out: list[LeftOut] = []
    rows = max(table.num_rows, 1)
    for column in FEATURE_COLUMNS:
        values = table.column(column) if column in table.column_names else None
        filled = 0 if values is None else len(values) - values.null_count
        if filled == 0:
            left_out.append(LeftOut(column, "no values"))
        elif filled < min_filled * rows:
            left_out.append(LeftOut(column, f"values in under {min_filled:.0%} of rows"))
        elif pc.count_distinct(values).as_py() < 2:
            left_out.append(LeftOut(column, "one value in every row"))
        else:
            kept.add(column)
    return kept, left_out


def rule_pairs(table: pa.Table, rule: Sequence[str]) -> int:
    """How many pairs of rows a blocking rule gives (its columns equal and not null)."""
    keys = table.select(list(rule)).drop_null()
    if keys.num_rows < 2:
        return 0
    sizes = keys.group_by(list(rule)).aggregate([([], "count_all")]).column("count_all")
    return int(pc.sum(pc.divide(pc.multiply(sizes, pc.subtract(sizes, 1)), 2)).as_py() or 0)


def _rules_with_pairs(
    table: pa.Table, rules: Rules, columns: set[str], kind: str, left_out: list[LeftOut]
) -> Rules:
    """The rules on `columns` that give pairs; a rule on them that gives none is noted."""
    kept: list[Rule] = []
    for rule in rules:
        if not set(rule) <= columns:
            continue
        if rule_pairs(table, rule):
            kept.append(rule)
        else:
            left_out.append(LeftOut(f"{kind} {'+'.join(rule)}", "gives no pairs"))
    return tuple(kept)


def _em_rules(
    table: pa.Table, columns: set[str], comparisons: Sequence[str], left_out: list[LeftOut]
) -> Rules:
    """`EM_RULES` that give pairs, then fallbacks until every comparison is estimated by
    `_EM_COVER` sessions (or by as many as the columns allow, at least one)."""
    chosen = list(_rules_with_pairs(table, EM_RULES, columns, "EM", left_out))
    for rule in FALLBACK_EM_RULES:
        short = {c for c in comparisons if _em_cover(c, chosen) < _EM_COVER}
        if not short:
            break
        helps = set(rule) <= columns and any(not _fixes(rule, c) for c in short)
        if helps and rule_pairs(table, rule):
            chosen.append(rule)
    missing = [c for c in comparisons if not _em_cover(c, chosen)]
    if missing:
        raise ValueError(
            f"cannot estimate m for {', '.join(missing)}: no EM rule on other columns gives pairs"
        )
    return tuple(chosen)


def _fixes(rule: Rule, comparison: str) -> bool:
    """Whether an EM session on `rule` leaves `comparison` out, as Splink does when the rule
    reads a column the comparison reads."""
    return bool(set(rule) & set(COMPARISON_COLUMNS[comparison]))


def _em_cover(comparison: str, rules: Sequence[Rule]) -> int:
    return sum(not _fixes(rule, comparison) for rule in rules)


def _prediction_rules(columns: set[str]) -> Rules:
    rules: list[Rule] = []
    for rule in (*PREDICTION_RULES, *ADDRESS_PREDICTION_RULES):
        for candidate in (rule, *_PREDICTION_ALTERNATIVES.get(rule, ())):
            if set(candidate) <= columns and candidate not in rules:
                rules.append(candidate)
                break
    return tuple(rules)


# ---- the settings ------------------------------------------------------------------------


def _exact(column: str) -> Any:
    return cl.ExactMatch(column).configure(term_frequency_adjustments=True)


def _exact_of(column: str, columns: frozenset[str]) -> Any:
    return _exact(column)


def _typed_number(column: str, columns: frozenset[str]) -> Any:
    """A number keyed by hand (a phone, a card): exact, with term frequency, or one digit
    off, wrong, lost or added, which is a slip far likelier than a stranger's number."""
    return cl.CustomComparison(
        output_column_name=column,
        comparison_description=f"{column}: exact, one digit off",
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=True),
            cll.LevenshteinLevel(column, 1).configure(label_for_charts="One digit off"),
            cll.ElseLevel(),
        ],
    )


def _name(column: str) -> Any:
    return cl.JaroWinklerAtThresholds(column, list(NAME_THRESHOLDS)).configure(
        term_frequency_adjustments=True
    )


def _spelled(column: str, middle: Sequence[Any], after: Sequence[Any] = ()) -> list[Any]:
    """A name's levels: null, exact (with TF), Jaro-Winkler high, `middle`, Jaro-Winkler low,
    `after`, else."""
    high, low = NAME_THRESHOLDS
    return [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column, term_frequency_adjustments=True),
        cll.JaroWinklerLevel(column, high),
        *middle,
        cll.JaroWinklerLevel(column, low),
        *after,
        cll.ElseLevel(),
    ]


def _given_name(columns: frozenset[str]) -> Any:
    """Jaro-Winkler levels with a nickname level between them: Bob is Robert, but no spelling
    measure can tell."""
    group = [
        cll.ExactMatchLevel("given_name_group").configure(label_for_charts="Same nickname group")
    ]
    # "J." at a till and "John" online; also John and Jane, which training weighs.
    initial = [cll.ExactMatchLevel("given_name_initial").configure(label_for_charts="Same initial")]
    levels = _spelled(
        "given_name",
        group if "given_name_group" in columns else [],
        initial if "given_name_initial" in columns else [],
    )
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_description="given_name: exact, Jaro-Winkler, nickname group, initial",
        comparison_levels=levels,
    )


def _dob(columns: frozenset[str]) -> Any:
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_description="dob: exact, day and month swapped, same year",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                _DOB_SWAPPED,
                label_for_charts="Day and month swapped",
                base_dialect_str=_CUSTOM_DIALECT,
            ),
            cll.CustomLevel(
                _DOB_SAME_YEAR,
                label_for_charts="Same year of birth",
                base_dialect_str=_CUSTOM_DIALECT,
            ),
            cll.ElseLevel(),
        ],
    )


def _postcode(columns: frozenset[str]) -> Any:
    levels: list[Any] = [cll.NullLevel("postcode"), cll.ExactMatchLevel("postcode")]
    for part, label in (("postcode_sector", "Same sector"), ("postcode_district", "Same district")):
        if part in columns:
            levels.append(cll.ExactMatchLevel(part).configure(label_for_charts=label))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_description="postcode: full, sector, district",
        comparison_levels=levels,
    )


def _street(columns: frozenset[str]) -> Any:
    """A street as people key it: typos (Jaro-Winkler), and another type or a second word
    changed around the same main word ("ainslie ave" and "ainslie street")."""
    word = [cll.ExactMatchLevel("street_word").configure(label_for_charts="Same main word")]
    return cl.CustomComparison(
        output_column_name="street",
        comparison_description="street: exact, Jaro-Winkler, same main word",
        comparison_levels=_spelled("street", word if "street_word" in columns else []),
    )


_TYPED_NUMBERS = ("phone", "loyalty_card")
_BUILDERS: dict[str, Callable[[frozenset[str]], Any]] = {
    **{
        column: functools.partial(_typed_number if column in _TYPED_NUMBERS else _exact_of, column)
        for column in IDENTIFIER_COLUMNS
    },
    "given_name": _given_name,
    "surname": lambda _: _name("surname"),
    "dob": _dob,
    "postcode": _postcode,
    "street_number": lambda _: cl.ExactMatch("street_number"),
    "street": _street,
    "locality": lambda _: _name("locality"),
    "state": lambda _: cl.ExactMatch("state"),
}


def build_settings(
    plan: TrainingPlan = OMNICHANNEL_PLAN,
    *,
    sql_dialect: str = "duckdb",
) -> dict[str, Any]:
    """Splink settings of a plan's comparisons and prediction rules, with levels `MatchModel`
    mirrors exactly; in DuckDB's dialect unless training runs on another backend, whose
    Linker needs its own SQL."""
    columns = frozenset(plan.columns)
    creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[_BUILDERS[name](columns) for name in plan.comparisons],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in plan.prediction_rules],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    return {**creator.create_settings_dict(sql_dialect), "sql_dialect": sql_dialect}


# ---- training ----------------------------------------------------------------------------


def train(
    table: pa.Table,
    *,
    seed: int = 42,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    recall: float = 0.7,
    plan: TrainingPlan | None = None,
    em_rules: Sequence[Sequence[str]] | None = None,
    db_api: DatabaseAPI[Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Trains on a model frame (`idres.ingest.frame`) and returns Splink's model JSON.

    `plan` defaults to `plan_training(table)` (pass it to know, or show, what was used);
    `em_rules`, when given, replace its EM rules. u comes from random sampling, the prior
    from the plan's deterministic rules scaled by `recall`, and m from EM sessions;
    `max_pairs` caps both the u sample and each EM session, which is what bounds memory on
    large tables. `db_api` is the Splink backend to train on (a fresh DuckDB by default;
    `idres.ingest.spark.spark_api` for Spark); the model comes back in DuckDB's form
    whichever it is. `progress` is told each of the `training_stages(plan.em_rules)` stages
    as it ends. Raises ValueError when the frame leaves nothing to train on.
    """
    plan = plan_training(table) if plan is None else plan
    if em_rules is not None:
        plan = dataclasses.replace(plan, em_rules=tuple(tuple(rule) for rule in em_rules))
    done = progress or (lambda stage: None)
    api: DatabaseAPI[Any] = DuckDBAPI() if db_api is None else db_api
    dialect = api.sql_dialect.sql_dialect_str
    settings = build_settings(plan, sql_dialect=dialect)
    linker = Linker(api.register(table), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*rule) for rule in plan.deterministic_rules], recall=recall
    )
    done("prior")
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    done("u")
    for rule in plan.em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), max_pairs=max_pairs
        )
        done("m by " + ", ".join(rule))
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return model if dialect == "duckdb" else as_duckdb(model, plan)


def training_stages(em_rules: Sequence[Sequence[str]] = EM_RULES) -> int:
    """How many stages `train` reports: the prior, u, and one EM session per rule."""
    return 2 + len(em_rules)


@contextmanager
def stage_bar(shown: bool = True, *, stages: int | None = None) -> Iterator[Callable[[str], None]]:
    """A progress bar over `train`'s stages (`training_stages()` unless told), with the rate
    and time left: pass what it yields as `progress`."""
    total = training_stages() if stages is None else stages
    with tqdm(total=total, unit=" stage", desc="train", leave=False, disable=not shown) as bar:

        def advance(stage: str) -> None:
            bar.set_postfix_str(stage)
            bar.update()

        yield advance


def as_duckdb(model: Mapping[str, Any], plan: TrainingPlan = OMNICHANNEL_PLAN) -> dict[str, Any]:
    """A model `train` made with `plan` on another backend, in DuckDB's form: the SQL of
    DuckDB's settings of the same plan with the trained prior, m and u, so that it reads
    exactly as a DuckDB-trained one (`MatchModel` parses the SQL). Raises ValueError for a
    model `build_settings(plan)` did not make.
    """
    dialect = str(model.get("sql_dialect"))
    if _untrained(model) != _untrained(_saved_settings(plan, dialect)):
        raise ValueError(f"not a model of idres's settings of this plan in dialect {dialect!r}")
    duckdb = _saved_settings(plan, "duckdb")
    comparisons = [
        {
            **trained,
            "comparison_levels": [
                {**level, "sql_condition": base["sql_condition"]}
                for level, base in zip(
                    trained["comparison_levels"], plain["comparison_levels"], strict=True
                )
            ],
        }
        for trained, plain in zip(model["comparisons"], duckdb["comparisons"], strict=True)
    ]
    return {
        **model,
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": duckdb["blocking_rules_to_generate_predictions"],
        "sql_dialect": "duckdb",
    }


def _saved_settings(plan: TrainingPlan, sql_dialect: str) -> dict[str, Any]:
    """`build_settings(plan)` as Splink saves a model of them, untrained."""
    creator = SettingsCreator.from_path_or_dict(build_settings(plan, sql_dialect=sql_dialect))
    saved: dict[str, Any] = creator.get_settings(sql_dialect).as_dict()  # type: ignore[no-untyped-call]
    return saved


def _untrained(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model less what training sets, to compare with its settings."""
    comparisons = [
        {
            **comparison,
            "comparison_levels": [
                {k: v for k, v in level.items() if k not in _TRAINED_LEVEL_KEYS}
                for level in comparison["comparison_levels"]
            ],
        }
        for comparison in model["comparisons"]
    ]
    rest = {k: v for k, v in model.items() if k not in _TRAINED_MODEL_KEYS}
    return {**rest, "comparisons": comparisons}


def training_facts(
    table: pa.Table, model: Mapping[str, Any], plan: TrainingPlan | None = None
) -> dict[str, Any]:
    """What the resolver needs of the training data besides the model: the term frequencies
    of its TF columns (values seen at least twice, and each column's count of values), which
    online frequencies start from (see `seeded_frequencies`); and, when given, the plan the
    model was trained by, so a stored model says what it was trained on."""
    columns = MatchModel.from_splink(model).tf_columns
    totals = {c: int(table.num_rows - table.column(c).null_count) for c in columns}
    counts: dict[str, dict[str, int]] = {}
    for column in columns:
        found = pc.value_counts(table.column(column)).to_pylist()
        counts[column] = {
            str(item["values"]): int(item["counts"])
            for item in found
            if item["values"] is not None and item["counts"] >= 2
        }
    facts: dict[str, Any] = {"records": table.num_rows, "tf_totals": totals, "tf_counts": counts}
    return facts if plan is None else {**facts, "plan": plan.as_dict()}


def save_model(model: Mapping[str, Any], path: Path | str) -> None:
    Path(path).write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")


def load_model(path: Path | str) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return model


def model_version(model: Mapping[str, Any]) -> str:
    """A stable id for a model: the same parameters give the same version, whatever key order."""
    canonical = json.dumps(model, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "fs-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]
