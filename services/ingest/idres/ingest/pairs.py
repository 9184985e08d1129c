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

from idres.resolver.adapters.record_index import NAME_BLOCK, block_limit
from idres.resolver.domain.scoring import MatchModel

PAIR_COLUMNS: tuple[str, str, str] = ("unique_id_l", "unique_id_r", "match_weight")
PART_PREFIX = "w_"
LEVEL_PREFIX = "lw_"
"""A pair's level weight per comparison (its log2 Bayes factor before any term-frequency
adjustment): Splink keeps no comparison vector, but each level has its own weight."""
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


NEAR_RULES: tuple[tuple[str, ...], ...] = (("surname", "given_name_initial"),)
"""Extra blocking for the near misses the online retrieval finds by weak attributes (faiss)
when no customer holds a record's values: the same surname and given initial (Ann and Anna
Lee), capped as a key of names is (`NAME_BLOCK`)."""


def capped_blocking(
    frame: pa.Table,
    model: Mapping[str, Any],
    limit: Callable[[Sequence[str]], int] = block_limit,
    near: Sequence[Sequence[str]] = (),
) -> tuple[pa.Table, dict[str, Any]]:
    """The frame with one key column per blocking rule (null where the key is too common), and
    the model with its prediction rules rewritten onto those columns; `near` rules come last,
    so that a pair their keys alone propose has a `match_key` past the model's rules."""
    model_rules = MatchModel.from_splink(model).blocking
    extra = [tuple(r) for r in near if set(r) <= set(frame.column_names)]
    rules = (*model_rules, *extra)
    capped = _near_limit(limit, len(model_rules))
    columns: dict[str, pa.Array] = {}
    for number, rule in enumerate(rules):
        columns[f"block_{number}"] = _capped_key(frame, rule, capped(number, rule))
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


def _seeded_lookups(
    frame: pa.Table, model: Mapping[str, Any], facts: Mapping[str, Any] | None
) -> dict[str, pa.Table]:
    """Term-frequency tables of the training counts plus the frame's own, per TF column."""
    if facts is None:
        return {}
    counts, totals = facts.get("tf_counts") or {}, facts.get("tf_totals") or {}
    out = {}
    for column in MatchModel.from_splink(model).tf_columns:
        seen = pc.value_counts(frame.column(column).drop_null()).to_pylist()
        merged = dict(counts.get(column) or {})
        for item in seen:
            merged[item["values"]] = merged.get(item["values"], 0) + item["counts"]
        total = int(totals.get(column, 0)) + frame.num_rows - frame.column(column).null_count
        if not merged or total <= 0:
            continue
        values = pa.array(list(merged), pa.string())
        shares = pa.array([n / total for n in merged.values()], pa.float64())
        out[column] = pa.table({column: values, f"tf_{column}": shares})
    return out


def _near_limit(
    limit: Callable[[Sequence[str]], int], model_rules: int
) -> Callable[[int, Sequence[str]], int]:
    def capped(number: int, rule: Sequence[str]) -> int:
        return limit(rule) if number < model_rules else min(limit(rule), NAME_BLOCK)

    return capped


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
    levels: bool = False,
    near: Sequence[Sequence[str]] = (),
    facts: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Every pair the model's (capped) blocking rules propose and that weighs at least `floor`:
    `unique_id_l, unique_id_r, match_weight` and the `part_columns`, each pair once; with
    `levels` (DuckDB only) also each comparison's level weight (`lw_<comparison>`), which
    names the level for the explanation a stored link keeps; `near` rules (DuckDB only)
    add the pairs of their keys, marked in a `near` column where no model rule proposed them;
    `facts` (DuckDB only), the training facts, seed the term frequencies as the online
    resolver seeds its own (`scoring.seeded_frequencies`), so that a small file against a
    large store is not weighed by its own few values alone.

    A floor at the possible-match threshold loses no decision: a lighter pair cannot make a
    candidate worth a look, and a customer holding a query value stays one without it."""
    keyed, rewritten = capped_blocking(frame, model, near=near)
    if engine is Engine.SPARK:
        from idres.ingest.spark import predict_pairs, spark_session

        return predict_pairs(keyed, rewritten, floor, spark_session())
    first_near = len(MatchModel.from_splink(model).blocking) if near else None
    return _duckdb_pairs(keyed, rewritten, floor, levels, first_near, facts)


def _duckdb_pairs(
    frame: pa.Table,
    model: Mapping[str, Any],
    floor: float,
    levels: bool = False,
    first_near: int | None = None,
    facts: Mapping[str, Any] | None = None,
) -> pa.Table:
    from splink import DuckDBAPI, Linker

    api = DuckDBAPI()
    try:
        linker = Linker(api.register(frame), dict(model), log_level=logging.WARNING)
        for column, lookup in _seeded_lookups(frame, model, facts).items():
            linker.table_management.register_term_frequency_lookup(api.register(lookup), column)
        pairs = linker.inference.predict(threshold_match_weight=floor, warning_mode="never")
        predicted = pairs.as_duckdbpyrelation()
        parts = part_expressions(model, predicted.columns)
        if levels:
            names = (c.removeprefix(PART_PREFIX) for c in part_columns(model))
            parts += [f"CAST(mw_{n} AS FLOAT) AS {LEVEL_PREFIX}{n}" for n in names]
        if first_near is not None:
            parts.append(f"CAST(match_key AS INTEGER) >= {first_near} AS near")
        relation = predicted.select(", ".join((*PAIR_COLUMNS, *parts)))
        table: pa.Table = relation.to_arrow_table()
    finally:
        # Its threads end here, not at some later collection: the clusterer forks next.
        api.duckdb_con.close()
    return table
