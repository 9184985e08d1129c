"""Splink on Spark (local mode) against DuckDB: the same pairs and weights for one model, and a
model trained on Spark that DuckDB reads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from splink import DuckDBAPI, Linker

from idres.ingest.dedup import dedup
from idres.ingest.frame import model_frame
from idres.ingest.generator import generate, write_generated
from idres.ingest.pairs import Engine
from idres.ingest.spark import PAIRS_SCHEMA, predict_pairs, spark_api, spark_session
from idres.ingest.training import train
from idres.resolver.domain.scoring import MatchModel

# 1234 records; among their pairs, four have "johson" against "johnson", which Splink's own
# Spark Jaro-Winkler scores differently from DuckDB's (see below).
PERSONS, SEED = 300, 3
THRESHOLD = -10.0  # low, so that weak pairs are compared too
TOLERANCE = 1e-9
# Tests run many tiny Spark jobs: the C1 JIT alone halves the JVM's warm-up on 2 cores, and one
# partition with no adaptive re-planning cuts the jobs per query. Results do not depend on these.
FAST_CONF = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.adaptive.enabled": "false",
}

Pair = tuple[str, str]


@pytest.fixture(scope="module")
def session() -> Iterator[SparkSession]:
    spark = spark_session(conf=FAST_CONF)
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def frame() -> pa.Table:
    return model_frame(generate(PERSONS, SEED).records)


def _weights(table: pa.Table) -> dict[Pair, float]:
    return {
        (row["unique_id_l"], row["unique_id_r"]): row["match_weight"]
        for row in table.select(PAIRS_SCHEMA.names).to_pylist()
    }


def _duckdb_pairs(frame: pa.Table, model: dict[str, Any], threshold: float) -> pa.Table:
    linker = Linker(DuckDBAPI().register(frame), model, log_level=logging.WARNING)
    predicted = linker.inference.predict(threshold_match_weight=threshold, warning_mode="never")
    table: pa.Table = predicted.as_duckdbpyrelation().to_arrow_table()
    return table


def _views(session: SparkSession) -> set[str]:
    return {t.name for t in session.catalog.listTables() if t.isTemporary}


def _written(session: SparkSession) -> set[str]:
    """What Splink has written under the session's checkpoint dir (a local one here)."""
    folder = session.sparkContext.getCheckpointDir()
    assert folder is not None
    return {path.name for path in Path(urlparse(folder).path).iterdir()}


def test_spark_scores_names_as_duckdb_does(session: SparkSession) -> None:
    """ "johson"/"johnson" match 6 characters, 3 out of order. DuckDB counts 3 // 2 = 1
    transposition (0.9278, at or above the 0.92 level); Splink's jar counts 1.5 (0.9083,
    below). idres registers DuckDB's computation on Spark, so both engines put the pair on the
    same level."""
    spark_api(session)
    names = [("johson", "johnson"), ("hayyley", "hayley"), ("zoë", "zoe"), ("a", "")]
    for left, right in names:
        query = f"SELECT jaro_winkler('{left}', '{right}') AS s"
        spark = session.sql(query).collect()[0]["s"]
        found = duckdb.sql(f"SELECT jaro_winkler_similarity('{left}', '{right}')")
        assert found is not None
        assert spark == found.fetchall()[0][0], (left, right)


def test_spark_predict_gives_duckdbs_pairs_and_weights(
    session: SparkSession, frame: pa.Table, trained_model: dict[str, Any]
) -> None:
    spark_api(session)  # sets the checkpoint dir
    views, written = _views(session), _written(session)
    spark = predict_pairs(frame, trained_model, THRESHOLD, session)
    duck = _duckdb_pairs(frame, trained_model, THRESHOLD)

    assert spark.schema.names[:3] == PAIRS_SCHEMA.names
    assert all(name.startswith("w_") for name in spark.schema.names[3:])
    keys = list(
        zip(spark["unique_id_r"].to_pylist(), spark["unique_id_l"].to_pylist(), strict=True)
    )
    assert keys == sorted(keys)
    assert _views(session) == views  # Splink's views and Parquet files are gone
    assert _written(session) == written

    ours, theirs = _weights(spark), _weights(duck)
    assert len(theirs) > 1000
    assert ours.keys() == theirs.keys()
    assert max(abs(ours[pair] - theirs[pair]) for pair in ours) < TOLERANCE


def test_dedup_on_spark_gives_duckdbs_clusters(
    session: SparkSession, trained_model: dict[str, Any], tmp_path: Path
) -> None:
    data, _, _ = write_generated(tmp_path / "people.csv", PERSONS, SEED)
    on = {
        engine: dedup(data, model=trained_model, engine=engine, progress=False)
        for engine in (Engine.DUCKDB, Engine.SPARK)
    }
    duck, spark = on[Engine.DUCKDB], on[Engine.SPARK]
    assert spark.scored_pairs == duck.scored_pairs > 0
    assert spark.as_dict() == duck.as_dict()
    assert duck.records > duck.clusters > 1  # records were linked, and not all into one


def test_training_on_spark_gives_a_model_duckdb_reads(
    session: SparkSession, frame: pa.Table, trained_model: dict[str, Any]
) -> None:
    model = train(
        frame, seed=7, max_pairs=50_000, em_rules=[("surname", "dob")], db_api=spark_api(session)
    )
    same = train(frame, seed=7, max_pairs=50_000, em_rules=[("surname", "dob")])

    # The SQL is DuckDB's, as in a model trained there.
    def sql(m: dict[str, Any]) -> list[Any]:
        levels = [lv["sql_condition"] for c in m["comparisons"] for lv in c["comparison_levels"]]
        return [m["sql_dialect"], m["blocking_rules_to_generate_predictions"], levels]

    assert sql(model) == sql(trained_model)
    # The prior comes from counting deterministic matches: no sampling, so no difference.
    prior = model["probability_two_random_records_match"]
    assert prior == pytest.approx(same["probability_two_random_records_match"], rel=1e-9)

    levels = MatchModel.from_splink(model).levels()
    email = {c.level: c.log2_bayes_factor for c in levels["email"]}
    assert email["Exact match on email"] > 5
    assert email["All other comparisons"] < 0
    pairs = _duckdb_pairs(frame, model, 0.0)
    assert pairs.num_rows > PERSONS
