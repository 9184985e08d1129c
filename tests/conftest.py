"""Real parts for every test: an embedded PostgreSQL (or IDRES_DATABASE_URL) and real servers."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from psycopg import sql

from idres.ingest.frame import model_frame
from idres.ingest.generator import generate
from idres.ingest.training import model_version, train, training_facts
from idres.resolver.adapters.database import Database, with_database
from idres.resolver.adapters.embedded import embedded_server_url, stop_embedded
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.resolution import Resolver
from idres.resolver.settings import Settings
from idres.resolver.transport.server import IdresServer, create_server
from idres.v1 import identity_pb2_grpc as rpc
from tests.servers import Serve, serving


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL server the tests may create databases on."""
    configured = os.environ.get("IDRES_DATABASE_URL")
    if configured:
        yield configured
        return
    # Not under pytest's private temp dir: the embedded server runs as its own system user.
    folder = Path(tempfile.mkdtemp(prefix="idres-test-pg-"))
    yield embedded_server_url(folder)
    stop_embedded(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"idres_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=tmp_path, host="127.0.0.1", port=0, sync_interval_s=0.05
    )


@pytest.fixture
def resolver(database_url: str) -> Iterator[Resolver]:
    r = Resolver(Database(database_url, pool_size=4), rules=DEFAULT_RULES)
    yield r
    r.close()


@pytest.fixture(scope="session")
def trained() -> tuple[dict[str, Any], dict[str, Any]]:
    """A match model trained with Splink on generated data, once per session (seconds), and
    the facts `idres train` stores with it."""
    frame = model_frame(generate(1500, 3).records)
    model = train(frame, seed=7, max_pairs=300_000)
    return model, training_facts(frame, model)


@pytest.fixture(scope="session")
def trained_model(trained: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return trained[0]


@pytest.fixture
def with_model(database_url: str, trained: tuple[dict[str, Any], dict[str, Any]]) -> str:
    """The test's database with the trained model stored and active: resolvers and servers
    opened on it decide with the model."""
    model, facts = trained
    db = Database(database_url, pool_size=1)
    ModelStore(Store(db)).save(model_version(model), model, facts, activate=True)
    db.close()
    return database_url


@pytest.fixture
def model_resolver(with_model: str) -> Iterator[Resolver]:
    r = Resolver(Database(with_model, pool_size=4), rules=DEFAULT_RULES)
    yield r
    r.close()


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """Serves a database on a loopback port for the length of a `with`, yielding a stub."""
    return lambda database_url: serving(database_url, tmp_path)


@pytest.fixture
def server(settings: Settings) -> Iterator[IdresServer]:
    s = create_server(settings)
    s.start()
    yield s
    s.stop(grace=0)


@pytest.fixture
def stub(server: IdresServer) -> Iterator[rpc.IdentityServiceStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield rpc.IdentityServiceStub(channel)
