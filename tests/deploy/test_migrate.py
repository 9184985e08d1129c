"""`idres migrate` applies the bundled migrations once (the Kubernetes migrations Job), and a
server or command told not to migrate refuses a schema that is behind, saying what to run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from idres.resolver.adapters.database import (
    Database,
    SchemaBehindError,
    migrate,
    migrations,
    open_database,
    pending,
    tenant_url,
)
from idres.resolver.resolution import Resolver
from idres.resolver.settings import Settings

ALL = [name for _, name, _ in migrations()]


def idres(*args: str, database_url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "idres.cli", *args],
        env={**os.environ, "IDRES_DATABASE_URL": database_url, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def forget_last_migration(url: str) -> tuple[int, str]:
    """Makes the schema look one release behind: the newest migration is not recorded."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM"
            " schema_migrations) RETURNING version, name"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_the_setting_defaults_to_migrating_and_reads_false() -> None:
    assert Settings().migrate_on_start is True
    assert Settings.from_env({"IDRES_MIGRATE_ON_START": "false"}).migrate_on_start is False


def test_migrate_applies_what_is_pending_once(database_url: str, tmp_path: Path) -> None:
    check = idres("migrate", "--check", database_url=database_url, cwd=tmp_path)
    assert check.returncode == 1
    assert [line.split()[-1] for line in check.stdout.splitlines()] == ALL
    assert pending(database_url) == ALL, "--check applied something"

    done = idres("migrate", database_url=database_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"default: applied {name}" for name in ALL]
    assert pending(database_url) == []

    again = idres("migrate", "--check", database_url=database_url, cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout.strip() == f"default: up to date ({len(ALL)} migrations)"


def test_migrate_brings_every_tenants_schema_forward(database_url: str, tmp_path: Path) -> None:
    first = idres("migrate", "--tenant", "acme", database_url=database_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert {f"acme: applied {ALL[-1]}", f"default: applied {ALL[-1]}"} <= set(
        first.stdout.splitlines()
    )
    assert pending(tenant_url(database_url, "acme")) == []
    # A tenant a server opened without migrating (its schema exists, empty): the next run
    # finds it by itself, so an upgrade need not list the tenants.
    tenant_url(database_url, "beta")
    second = idres("migrate", database_url=database_url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    current = f"up to date ({len(ALL)} migrations)"
    assert second.stdout.splitlines() == [
        f"acme: {current}",
        *(f"beta: applied {name}" for name in ALL),
        f"default: {current}",
    ]
    bad = idres("migrate", "--tenant", "Not A Tenant", database_url=database_url, cwd=tmp_path)
    assert bad.returncode == 2 and "not a tenant name" in bad.stderr


def test_a_store_that_may_not_migrate_refuses_a_schema_behind(database_url: str) -> None:
    with pytest.raises(SchemaBehindError, match=rf"{len(ALL)} migration\(s\) pending") as fresh:
        Database(database_url, pool_size=1, apply_migrations=False)
    assert ALL[0] in str(fresh.value) and "idres migrate" in str(fresh.value)

    migrate(database_url)
    version, name = forget_last_migration(database_url)
    with pytest.raises(SchemaBehindError, match=name):
        open_database(database_url, Path("unused"), pool_size=1, apply_migrations=False)

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
        )
    db = Database(database_url, pool_size=1, apply_migrations=False)
    db.close()


def test_a_replica_that_may_not_migrate_opens_only_a_current_schema(settings: Settings) -> None:
    replica = replace(settings, migrate_on_start=False)
    with pytest.raises(SchemaBehindError):
        Resolver.from_settings(replica)
    assert pending(settings.database_url) == ALL, "the replica migrated after all"
    migrate(settings.database_url)
    resolver = Resolver.from_settings(replica)
    resolver.close()


def test_serve_refuses_to_start_on_a_schema_behind(database_url: str, tmp_path: Path) -> None:
    done = idres(
        "serve",
        "--port",
        "0",
        database_url=database_url,
        cwd=tmp_path,
        IDRES_MIGRATE_ON_START="false",
    )
    assert done.returncode != 0
    assert "the database schema is behind this release" in done.stderr
    assert "idres migrate" in done.stderr
