"""Training the match model with Splink on DuckDB: the batch half of "one model, two paths".

The columns come from `idres.resolver.domain.scoring.features`, the function the online
scorer uses, and the comparisons are limited to those `MatchModel` evaluates exactly.
Training may run on another Splink backend (Spark, `idres.ingest.spark`); the model it returns
is always in DuckDB's form, the one `MatchModel` and the DuckDB linker read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.database_api import DatabaseAPI
from tqdm import tqdm

from idres.resolver.domain.scoring import IDENTIFIER_COLUMNS, MatchModel

NAME_THRESHOLDS: tuple[float, float] = (0.92, 0.80)
DEFAULT_MAX_PAIRS = 5_000_000
# Rules that admit almost no false pairs, for the prior; `recall` is their share of true pairs.
DETERMINISTIC_RULES: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("loyalty_card",),
    ("given_name", "surname", "dob"),
)
# Each EM session estimates m for the comparisons its rule does not fix; together they
# cover every comparison at least twice.
EM_RULES: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("surname", "dob"),
    ("given_name", "surname"),
    ("postcode",),
)
PREDICTION_RULES: tuple[tuple[str, ...], ...] = (
    *((column,) for column in IDENTIFIER_COLUMNS),
    ("surname", "dob"),
    ("given_name", "dob"),
    ("given_name", "surname", "postcode_district"),
    ("surname", "postcode"),
)
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


def _exact(column: str) -> Any:
    return cl.ExactMatch(column).configure(term_frequency_adjustments=True)


def _name(column: str) -> Any:
    return cl.JaroWinklerAtThresholds(column, list(NAME_THRESHOLDS)).configure(
        term_frequency_adjustments=True
    )


def _given_name() -> Any:
    """Jaro-Winkler levels with a nickname level between them: Bob is Robert, but no spelling
    measure can tell."""
    high, low = NAME_THRESHOLDS
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_description="given_name: exact, Jaro-Winkler, nickname group, initial",
        comparison_levels=[
            cll.NullLevel("given_name"),
            cll.ExactMatchLevel("given_name", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("given_name", high),
            cll.ExactMatchLevel("given_name_group").configure(
                label_for_charts="Same nickname group"
            ),
            cll.JaroWinklerLevel("given_name", low),
            # "J." at a till and "John" online; also John and Jane, which training weighs.
            cll.ExactMatchLevel("given_name_initial").configure(label_for_charts="Same initial"),
            cll.ElseLevel(),
        ],
    )


def _dob() -> Any:
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


def _postcode() -> Any:
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_description="postcode: full, sector, district",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode"),
            cll.ExactMatchLevel("postcode_sector").configure(label_for_charts="Same sector"),
            cll.ExactMatchLevel("postcode_district").configure(label_for_charts="Same district"),
            cll.ElseLevel(),
        ],
    )


def build_settings(
    prediction_rules: Sequence[Sequence[str]] = PREDICTION_RULES,
    *,
    sql_dialect: str = "duckdb",
) -> dict[str, Any]:
    """Splink settings with comparisons `MatchModel` mirrors exactly; in DuckDB's dialect unless
    training runs on another backend, whose Linker needs its own SQL."""
    creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            *(_exact(column) for column in IDENTIFIER_COLUMNS),
            _given_name(),
            _name("surname"),
            _dob(),
            _postcode(),
        ],
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in prediction_rules],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    return {**creator.create_settings_dict(sql_dialect), "sql_dialect": sql_dialect}


def train(
    table: pa.Table,
    *,
    seed: int = 42,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    recall: float = 0.7,
    em_rules: Sequence[Sequence[str]] = EM_RULES,
    db_api: DatabaseAPI[Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Trains on a model frame (`idres.ingest.frame`) and returns Splink's model JSON.

    u comes from random sampling, the prior from deterministic rules scaled by `recall`, and
    m from EM sessions; `max_pairs` caps both the u sample and each EM session, which is
    what bounds memory on large tables. `db_api` is the Splink backend to train on (a fresh
    DuckDB by default; `idres.ingest.spark.spark_api` for Spark); the model comes back in
    DuckDB's form whichever it is. `progress` is told each of the `training_stages(em_rules)`
    stages as it ends.
    """
    done = progress or (lambda stage: None)
    api: DatabaseAPI[Any] = DuckDBAPI() if db_api is None else db_api
    dialect = api.sql_dialect.sql_dialect_str
    settings = build_settings(sql_dialect=dialect)
    linker = Linker(api.register(table), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*rule) for rule in DETERMINISTIC_RULES], recall=recall
    )
    done("prior")
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    done("u")
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), max_pairs=max_pairs
        )
        done("m by " + ", ".join(rule))
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return model if dialect == "duckdb" else as_duckdb(model)


def training_stages(em_rules: Sequence[Sequence[str]] = EM_RULES) -> int:
    """How many stages `train` reports: the prior, u, and one EM session per rule."""
    return 2 + len(em_rules)


@contextmanager
def stage_bar(shown: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress bar over `train`'s stages, with the rate and time left: pass what it yields
    as `progress`."""
    with tqdm(
        total=training_stages(), unit=" stage", desc="train", leave=False, disable=not shown
    ) as bar:

        def advance(stage: str) -> None:
            bar.set_postfix_str(stage)
            bar.update()

        yield advance


def as_duckdb(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model `train` made on another backend, in DuckDB's form: the SQL of DuckDB's model
    with the trained prior, m and u, so that it reads exactly as a DuckDB-trained one
    (`MatchModel` parses the SQL). Raises ValueError for a model `build_settings` did not make.
    """
    dialect = str(model.get("sql_dialect"))
    if _untrained(model) != _untrained(_saved_settings(dialect)):
        raise ValueError(f"not a model of idres's settings in dialect {dialect!r}")
    duckdb = _saved_settings("duckdb")
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


def _saved_settings(sql_dialect: str) -> dict[str, Any]:
    """`build_settings` as Splink saves a model of them, untrained."""
    creator = SettingsCreator.from_path_or_dict(build_settings(sql_dialect=sql_dialect))
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


def training_facts(table: pa.Table, model: Mapping[str, Any]) -> dict[str, Any]:
    """What the resolver needs of the training data besides the model: the term frequencies
    of its TF columns (values seen at least twice, and each column's count of values), which
    online frequencies start from (see `seeded_frequencies`)."""
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
    return {"records": table.num_rows, "tf_totals": totals, "tf_counts": counts}


def save_model(model: Mapping[str, Any], path: Path | str) -> None:
    Path(path).write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")


def load_model(path: Path | str) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return model


def model_version(model: Mapping[str, Any]) -> str:
    """A stable id for a model: the same parameters give the same version, whatever key order."""
    canonical = json.dumps(model, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "fs-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]
