"""PostgreSQL: the embedded server for local use, the connection pool, and migrations."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from idres.resolver.adapters.embedded import embedded_server_url
from idres.resolver.domain.errors import DeadlineError, UnavailableError
from idres.resolver.domain.tenants import DEFAULT_TENANT, tenant_schema

log = logging.getLogger(__name__)
EMBEDDED_DATABASE = "idres"
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 0x1D4E5  # advisory lock id: replicas starting together migrate once
# Advisory locks are database-wide: keyed by schema too, one tenant never waits on another's.
SCHEMA_LOCK = "SELECT pg_advisory_{}(%s::int, hashtext(current_schema()))"
POOL_WAIT_S = 10.0
"""How long work outside a call (batch jobs, the outbox follower) waits for a connection."""
CONNECT_TIMEOUT_S = 5
"""libpq's connect_timeout when the DSN sets none: a host that drops packets fails in
seconds, not at the kernel's two minutes, so reconnection notices its return soon."""
PROBE_TIMEOUT_MS = 3000
RECONNECT_S = 2.0
"""How long one reconnection attempt of the pool retries (backing off) before it gives up;
the next wait for a connection starts a fresh one. psycopg_pool's 5 minutes doubles its
delay up to minutes, so a database back after an outage could wait as long to be used."""


@dataclass(frozen=True, slots=True)
class _Wait:
    cap_s: float
    deadline: float | None  # time.monotonic() of the call's deadline


_wait: ContextVar[_Wait | None] = ContextVar("idres_connection_wait", default=None)


@contextmanager
def connection_wait(cap_s: float, remaining_s: float | None) -> Iterator[None]:
    """Every connection taken inside waits at most `cap_s`, and never past a deadline
    `remaining_s` from now (None: no deadline): a call fails fast while PostgreSQL is down."""
    deadline = None if remaining_s is None else time.monotonic() + remaining_s
    token = _wait.set(_Wait(cap_s, deadline))
    try:
        yield
    finally:
        _wait.reset(token)


def _wait_s() -> float | None:
    """This connection's wait: None is the pool's own (`POOL_WAIT_S`)."""
    wait = _wait.get()
    if wait is None:
        return None
    if wait.deadline is None:
        return wait.cap_s
    left = wait.deadline - time.monotonic()
    if left <= 0:
        raise DeadlineError("the deadline passed while waiting for a database connection")
    return min(wait.cap_s, left)


def _with_connect_timeout(url: str) -> dict[str, Any]:
    """Connection arguments adding `CONNECT_TIMEOUT_S` unless the DSN chose its own."""
    if psycopg.conninfo.conninfo_to_dict(url).get("connect_timeout"):
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT_S}


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
                kwargs=_with_connect_timeout(url),
                min_size=1,
                max_size=pool_size,
                open=True,
                timeout=POOL_WAIT_S,
                name="idres",
                configure=self._configure,
                # A connection the server closed (a restart, a failover) is found and replaced
                # before use, for one round trip, instead of failing the call that gets it.
                check=ConnectionPool.check_connection,
                reconnect_timeout=RECONNECT_S,
            )
        except psycopg.OperationalError as exc:
            raise UnavailableError(f"database unavailable: {exc}") from exc
        self._probe: psycopg.Connection[Any] | None = None
        self._probe_lock = threading.Lock()
        self._answered = True

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        # A bulk load may skip waiting for each commit to reach disk: a crash loses at most
        # the last moments of the load, and re-running it is safe because observing a record
        # again changes nothing. The online server always waits.
        if not self.durable:
            conn.execute("SET synchronous_commit = off")
            conn.commit()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection, waited for as `connection_wait` allows (else `POOL_WAIT_S`)."""
        with self.pool.connection(timeout=_wait_s()) as conn:
            yield conn

    def reachable(self) -> bool:
        """Whether PostgreSQL answers `SELECT 1` now, asked over a connection of its own: a
        pool busy with slow writes is load, not an outage. When it answers again after not
        answering, the pool is refilled at once."""
        with self._probe_lock:
            try:
                if self._probe is None or self._probe.closed:
                    # tcp_user_timeout: a network that drops packets ends the probe in
                    # seconds, instead of leaving it waiting for an answer that never comes.
                    self._probe = psycopg.connect(
                        self.url,
                        autocommit=True,
                        tcp_user_timeout=PROBE_TIMEOUT_MS,
                        **_with_connect_timeout(self.url),
                    )
                self._probe.execute("SELECT 1")
            except psycopg.Error as exc:
                if self._answered:
                    log.warning("PostgreSQL does not answer: %s", exc)
                self._close_probe()
                self._answered = False
                return False
            if not self._answered:
                log.info("PostgreSQL answers again")
                self.pool.check()
            self._answered = True
            return True

    def _close_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    def close(self) -> None:
        with self._probe_lock:
            self._close_probe()
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
