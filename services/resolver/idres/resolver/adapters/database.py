"""PostgreSQL: the embedded server for local use, the connection pool, and migrations."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from idres.resolver.adapters.embedded import embedded_server_url
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.tenants import DEFAULT_TENANT, tenant_schema

log = logging.getLogger(__name__)
EMBEDDED_DATABASE = "idres"
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 0x1D4E5  # advisory lock id: replicas starting together migrate once
# Advisory locks are database-wide: keyed by schema too, one tenant never waits on another's.
SCHEMA_LOCK = "SELECT pg_advisory_{}(%s::int, hashtext(current_schema()))"


def ensure_database(admin_url: str, name: str, *, recreate: bool = False) -> str:
    """Creates database `name` on the server at `admin_url` if missing; returns its DSN."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if recreate:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def with_database(url: str, name: str) -> str:
    """The same server, another database (works for URLs with or without a query string)."""
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def resolve_url(database_url: str, data_dir: Path) -> str:
    """The configured DSN, or the embedded server's `idres` database."""
    if database_url:
        return database_url
    return ensure_database(embedded_server_url(data_dir), EMBEDDED_DATABASE)


def tenant_url(url: str, tenant: str) -> str:
    """`url` with every connection's tables resolved in `tenant`'s schema, created if missing."""
    schema = tenant_schema(tenant)
    if schema == "public":
        return url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    options = psycopg.conninfo.conninfo_to_dict(url).get("options") or ""
    return psycopg.conninfo.make_conninfo(url, options=f"{options} -csearch_path={schema}".strip())


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every bundled migration, in order."""
    folder = resources.files("idres.resolver.adapters") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


def migrate(url: str) -> list[str]:
    """Applies pending migrations, each in its own transaction; returns the names applied."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA_LOCK.format("lock"), (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, text in migrations():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                applied.append(name)
        finally:
            conn.execute(SCHEMA_LOCK.format("unlock"), (_MIGRATION_LOCK,))
    return applied


def pending(url: str) -> list[str]:
    """Names of the bundled migrations the database at `url` has not applied yet."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        done = (
            {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
            if row and row[0]
            else set()
        )
    return [name for version, name, _ in migrations() if version not in done]


class SchemaBehindError(UnavailableError):
    """The schema lacks migrations this release needs, and opening was told not to apply them."""


class Database:
    """A pool of connections to the system of record, migrated on open unless
    `apply_migrations` is false (replicas whose schema a migrations job keeps current)."""

    def __init__(
        self, url: str, *, pool_size: int = 8, durable: bool = True, apply_migrations: bool = True
    ) -> None:
        self.url = url
        self.durable = durable
        try:
            if apply_migrations:
                for name in migrate(url):
                    log.info("applied migration %s", name)
            elif missing := pending(url):
                raise SchemaBehindError(
                    f"the database schema is behind this release: {len(missing)} migration(s)"
                    f" pending ({', '.join(missing)}); run `idres migrate` (the migrations"
                    " job) first, or set IDRES_MIGRATE_ON_START=true"
                )
            self.pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                open=True,
                timeout=10.0,
                name="idres",
                configure=self._configure,
            )
        except psycopg.OperationalError as exc:
            raise UnavailableError(f"database unavailable: {exc}") from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        # A bulk load may skip waiting for each commit to reach disk: a crash loses at most
        # the last moments of the load, and re-running it is safe because observing a record
        # again changes nothing. The online server always waits.
        if not self.durable:
            conn.execute("SET synchronous_commit = off")
            conn.commit()

    def close(self) -> None:
        self.pool.close()


def open_database(
    database_url: str,
    data_dir: Path,
    *,
    pool_size: int = 8,
    durable: bool = True,
    tenant: str = DEFAULT_TENANT,
    apply_migrations: bool = True,
) -> Database:
    try:
        url = tenant_url(resolve_url(database_url, data_dir), tenant)
    except psycopg.OperationalError as exc:
        raise UnavailableError(f"database unavailable: {exc}") from exc
    return Database(url, pool_size=pool_size, durable=durable, apply_migrations=apply_migrations)
