"""The connection pool while PostgreSQL is down: bounded waits, and use again at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from psycopg_pool import PoolTimeout

from idres.resolver.adapters.database import Database, connection_wait
from idres.resolver.domain.errors import DeadlineError
from tests.outage import allow_connections, dbname_of


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    opened = Database(database_url, pool_size=2)
    yield opened
    opened.close()


def waited(db: Database, cap_s: float, remaining_s: float | None) -> float:
    """Seconds a connection was waited for before the pool gave up."""
    start = time.monotonic()
    with pytest.raises(PoolTimeout), connection_wait(cap_s, remaining_s), db.connection():
        pass
    return time.monotonic() - start


def test_a_wait_ends_at_the_deadline_or_the_cap_and_the_pool_recovers(
    db: Database, pg_server_url: str
) -> None:
    assert db.reachable()
    dbname = dbname_of(db.url)
    allow_connections(pg_server_url, dbname, False)
    try:
        assert waited(db, 30.0, 0.5) < 1.5  # the deadline, not the 30 s cap
        assert waited(db, 0.5, None) < 1.5  # no deadline: the cap
        with pytest.raises(DeadlineError), connection_wait(30.0, 0.0), db.connection():
            pass
        assert not db.reachable()
    finally:
        allow_connections(pg_server_url, dbname, True)
    assert db.reachable()
    with connection_wait(2.0, None), db.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
