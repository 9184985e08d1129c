"""Splink on Spark: training and bulk scoring past what one DuckDB process holds.

The model stays in DuckDB's form, the one `MatchModel` and the DuckDB linker read: training
returns it so (`idres.ingest.training.train(frame, db_api=spark_api(session))`), and
`predict_pairs` translates its comparison SQL for Spark on the way in. Splink's Spark
similarity functions (Jaro-Winkler) come from the jar that ships inside the splink package,
so nothing is downloaded at run time.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import sqlglot
from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType
from splink import Linker
from splink.backends.spark import SparkAPI, similarity_jar_location
from sqlglot import exp

from idres.ingest.pairs import part_columns, part_expressions
from idres.resolver.domain.jaro_winkler import jaro_winkler

MASTER_ENV = "IDRES_SPARK_MASTER"
# Local mode runs every task in the driver: a few partitions keep per-task overhead low for
# tables that fit one machine; a cluster (MASTER_ENV) should raise it through `conf`.
SHUFFLE_PARTITIONS = 4
DRIVER_MEMORY = "4g"
_LOOPBACK = "127.0.0.1"
PAIRS_SCHEMA = pa.schema(
    [("unique_id_l", pa.string()), ("unique_id_r", pa.string()), ("match_weight", pa.float64())]
)
# DuckDB's similarity functions (as sqlglot parses them) by the name Splink uses on Spark;
# sqlglot alone would write Spark SQL no Spark has.
_SPARK_FUNCTIONS: dict[type[exp.Expression], str] = {exp.JarowinklerSimilarity: "jaro_winkler"}


def _duckdb_jaro_winkler(left: str | None, right: str | None) -> float | None:
    return None if left is None or right is None else jaro_winkler(left, right)


def spark_session(
    master: str = "local[2]", *, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """The active Spark session, or a new one set up for Splink.

    `IDRES_SPARK_MASTER`, when set, overrides `master` (e.g. `spark://host:7077`, `yarn`), so
    that the same command runs on a cluster; `conf` overrides any setting below. In local
    mode the driver binds to loopback only (no port on the network, and no need for the
    machine's hostname to resolve) with the UI off. Raises RuntimeError when an existing
    session was started without Splink's jar, which Spark cannot add afterwards.
    """
    master = os.environ.get(MASTER_ENV) or master
    jar = similarity_jar_location()
    settings = {
        "spark.jars": jar,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.default.parallelism": str(SHUFFLE_PARTITIONS),
        "spark.driver.memory": DRIVER_MEMORY,
    }
    if master.startswith("local"):
        settings |= {"spark.driver.host": _LOOPBACK, "spark.driver.bindAddress": _LOOPBACK}
        # Python workers run DuckDB's Jaro-Winkler from idres: this interpreter has it, a
        # bare `python3` on the path (PySpark's default) may not.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # Read by the launcher before any setting: without it Spark looks past a hostname
        # that resolves to loopback for a network interface's address, and warns.
        os.environ.setdefault("SPARK_LOCAL_IP", _LOOPBACK)
    settings |= dict(conf or {})
    builder = SparkSession.builder.master(master).appName("idres")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # not a line per closed connection
    if jar not in (session.sparkContext.getConf().get("spark.jars") or ""):
        raise RuntimeError("the Spark session was started without Splink's similarity jar")
    return session


def spark_api(session: SparkSession) -> SparkAPI:
    """Splink's Spark backend on `session`, breaking lineage through Parquet.

    Splink materialises its intermediate tables (blocked pairs, comparison vectors, term
    frequencies) so that Spark does not recompute them at every step. Persisting (caching)
    keeps each table's whole lineage, and Spark matches every new plan against every cached
    one, so training slows as tables pile up: an EM iteration on a few hundred records took
    about five times as long as with Parquet, where each table is written and read back as a
    plain scan. "checkpoint" is as fast, in files only Spark reads; Parquet is Splink's
    default. Both write under the session's checkpoint dir: a temporary one, removed at
    exit, unless the session has one (on a cluster it must be on a shared filesystem).
    """
    context = session.sparkContext
    if context.getCheckpointDir() is None:
        folder = tempfile.mkdtemp(prefix="idres-spark-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        context.setCheckpointDir(folder)
    api = SparkAPI(spark_session=session, break_lineage_method="parquet")  # type: ignore[no-untyped-call]
    # Splink's jar (Apache commons-text) counts an odd number of out-of-order characters as a
    # half transposition, DuckDB rounds it down: "johson" and "johnson" score 0.908 on one and
    # 0.928 on the other, either side of a level. DuckDB's own computation, in Python, makes
    # Spark score every pair as DuckDB and the online scorer do; it runs on the executors, so
    # a cluster needs idres installed there.
    session.udf.register("jaro_winkler", _duckdb_jaro_winkler, DoubleType())
    return api


def spark_model(model: Mapping[str, Any]) -> dict[str, Any]:
    """A DuckDB-form model (what `train` returns) with its comparison SQL in Spark's dialect.

    Splink's Linker adopts the backend's dialect and translates blocking rules, which name
    theirs, but runs comparison levels as written: in Spark SQL DuckDB's "dob_l" is a string
    literal and jaro_winkler_similarity an unknown function.
    """
    dialect = model.get("sql_dialect", "duckdb")
    if dialect != "duckdb":
        raise ValueError(f"expected a DuckDB model, got sql_dialect {dialect!r}")
    comparisons = [
        {
            **comparison,
            "comparison_levels": [
                {**level, "sql_condition": _spark_sql(str(level["sql_condition"]))}
                for level in comparison["comparison_levels"]
            ],
        }
        for comparison in model["comparisons"]
    ]
    return {**model, "comparisons": comparisons, "sql_dialect": "spark"}


def _spark_sql(condition: str) -> str:
    if condition.strip().upper() == "ELSE":
        return condition

    def rename(node: exp.Expression) -> exp.Expression:
        name = _SPARK_FUNCTIONS.get(type(node))
        if name is None:
            return node
        return exp.Anonymous(this=name, expressions=[node.this, node.expression])

    return sqlglot.parse_one(condition, read="duckdb").transform(rename).sql(dialect="spark")


def predict_pairs(
    frame: pa.Table,
    model: Mapping[str, Any],
    threshold_match_weight: float,
    session: SparkSession,
) -> pa.Table:
    """Splink's predict on Spark: every blocked pair of `frame` (a model frame,
    `idres.ingest.frame`) scoring at least `threshold_match_weight` under the DuckDB-form
    `model`, as `PAIRS_SCHEMA` and the per-comparison weights (`idres.ingest.pairs`), sorted
    by (unique_id_r, unique_id_l).

    The views Splink made, and the Parquet files behind them, are dropped before returning,
    so that repeated calls on one session do not pile up.
    """
    api = spark_api(session)
    before = _temporary_views(session)
    table = api.register(frame)
    try:
        # The per-comparison weights are among Splink's intermediate columns.
        kept = {**model, "retain_intermediate_calculation_columns": True}
        linker = Linker(table, spark_model(kept), log_level=logging.WARNING)
        predicted = linker.inference.predict(
            threshold_match_weight=threshold_match_weight, warning_mode="never"
        )
        found = session.table(predicted.physical_name)
        parts = part_expressions(model, found.columns)
        pairs = found.selectExpr(*PAIRS_SCHEMA.names, *parts).toArrow()
    finally:
        _drop(session, (_temporary_views(session) - before) | {table.physical_name})
    schema = PAIRS_SCHEMA
    for name in part_columns(model):
        schema = schema.append(pa.field(name, pa.float32()))
    return pairs.cast(schema).sort_by([("unique_id_r", "ascending"), ("unique_id_l", "ascending")])


def _temporary_views(session: SparkSession) -> set[str]:
    return {t.name for t in session.catalog.listTables() if t.isTemporary}


def _drop(session: SparkSession, views: set[str]) -> None:
    """Drops views and the Parquet folders Splink wrote for them (named alike)."""
    context = session.sparkContext
    folder = context.getCheckpointDir()
    jvm = context._jvm
    assert jvm is not None
    for view in views:
        session.catalog.dropTempView(view)
        if folder is not None:
            path = jvm.org.apache.hadoop.fs.Path(folder, view)
            path.getFileSystem(context._jsc.hadoopConfiguration()).delete(path, True)
