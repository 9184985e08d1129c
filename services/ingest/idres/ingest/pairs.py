"""Candidate pairs scored in bulk by Splink's own prediction, on DuckDB or on Spark.

The batch path does not score pairs one at a time in Python: Splink's `predict` generates the
pairs of the model's blocking rules and scores them in the engine, on every core (or every
executor), and the clusterer only reads the result (`idres.ingest.pair_graph`).

Blocking is capped as the online index caps it: a key held by more records than its rule's
`block_limit` proposes no pair, so a placeholder email on 50k rows or a store phone on every
till record costs nothing instead of a billion pairs. Each rule is rewritten onto a key column
that is null where the key is too common; the comparisons still read the original columns, so
the weights are Splink's own.

Each pair also carries its weight per comparison (`w_<comparison>`, log2 of the Bayes factor
with its term-frequency adjustment), so the clusterer can weigh a record against a customer
as a whole, comparison by comparison (see `idres.resolver.domain.matching.whole`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from idres.resolver.adapters.record_index import block_limit
from idres.resolver.domain.scoring import MatchModel

PAIR_COLUMNS: tuple[str, str, str] = ("unique_id_l", "unique_id_r", "match_weight")
PART_PREFIX = "w_"
_KEY_SEPARATOR = "\x1f"


def part_columns(model: Mapping[str, Any]) -> tuple[str, ...]:
    """The per-comparison weight columns of the pairs, in the model's comparison order."""
    return tuple(PART_PREFIX + name for name in MatchModel.from_splink(model).levels())


def part_expressions(model: Mapping[str, Any], available: Sequence[str]) -> list[str]:
    """SQL (DuckDB and Spark alike) for each comparison's weight from Splink's intermediate
    columns: its level's match weight plus its term-frequency adjustment, if any. Null where a
    side lacked a term-frequency field: it weighs nothing in the pair, but is no comparison
    when a customer is weighed as a whole (`matching.whole`)."""
    columns = set(available)
    out = []
    for column in part_columns(model):
        name = column.removeprefix(PART_PREFIX)
        weight = f"mw_{name}"
        if f"mw_tf_adj_{name}" in columns:
            weight += f" + coalesce(mw_tf_adj_{name}, 0)"
        sides = (f"tf_{name}_l", f"tf_{name}_r")
        if all(side in columns for side in sides):
            # Splink keeps no comparison vector, but a term frequency is null with its value.
            missing = " OR ".join(f"{side} IS NULL" for side in sides)
            weight = f"CASE WHEN {missing} THEN NULL ELSE {weight} END"
        out.append(f"CAST({weight} AS FLOAT) AS {column}")
    return out


class Engine(StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


def capped_blocking(
    frame: pa.Table, model: Mapping[str, Any], limit: Callable[[Sequence[str]], int] = block_limit
) -> tuple[pa.Table, dict[str, Any]]:
    """The frame with one key column per blocking rule (null where the key is too common), and
    the model with its prediction rules rewritten onto those columns."""
    rules = MatchModel.from_splink(model).blocking
    columns: dict[str, pa.Array] = {}
    for number, rule in enumerate(rules):
        columns[f"block_{number}"] = _capped_key(frame, rule, limit(rule))
    keyed = frame
    for name, key in columns.items():
        keyed = keyed.append_column(name, key)
    rewritten = dict(model)
    rewritten["retain_intermediate_calculation_columns"] = True
    dialect = model.get("sql_dialect", "duckdb")
    rewritten["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": f"l.{name} = r.{name}", "sql_dialect": dialect} for name in columns
    ]
    return keyed, rewritten


def _capped_key(frame: pa.Table, rule: Sequence[str], max_block: int) -> pa.Array:
    parts = [pc.cast(frame.column(c), pa.string()) for c in rule]
    key = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _KEY_SEPARATOR)
    key = key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key
    counts = pc.value_counts(key)
    values, sizes = counts.field("values"), counts.field("counts")
    hot = pc.filter(values, pc.greater(sizes, max_block))
    if len(hot) == 0:
        return key
    return pc.if_else(pc.is_in(key, value_set=hot), pa.scalar(None, pa.string()), key)


def score_pairs(
    frame: pa.Table,
    model: Mapping[str, Any],
    *,
    floor: float,
    engine: Engine = Engine.DUCKDB,
) -> pa.Table:
    """Every pair the model's (capped) blocking rules propose and that weighs at least `floor`:
    `unique_id_l, unique_id_r, match_weight` and the `part_columns`, each pair once.

    A floor at the possible-match threshold loses no decision: a lighter pair cannot make a
    candidate worth a look, and a customer holding a query value stays one without it."""
    keyed, rewritten = capped_blocking(frame, model)
    if engine is Engine.SPARK:
        from idres.ingest.spark import predict_pairs, spark_session

        return predict_pairs(keyed, rewritten, floor, spark_session())
    return _duckdb_pairs(keyed, rewritten, floor)


def _duckdb_pairs(frame: pa.Table, model: Mapping[str, Any], floor: float) -> pa.Table:
    from splink import DuckDBAPI, Linker

    api = DuckDBAPI()
    try:
        linker = Linker(api.register(frame), dict(model), log_level=logging.WARNING)
        pairs = linker.inference.predict(threshold_match_weight=floor, warning_mode="never")
        predicted = pairs.as_duckdbpyrelation()
        parts = part_expressions(model, predicted.columns)
        relation = predicted.select(", ".join((*PAIR_COLUMNS, *parts)))
        table: pa.Table = relation.to_arrow_table()
    finally:
        # Its threads end here, not at some later collection: the clusterer forks next.
        api.duckdb_con.close()
    return table
