"""The change feed hands out outbox events in id order, waiting at a gap while it may fill."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from idres.resolver.adapters.change_feed import ChangeFeed, parse_cursor, prune_events
from idres.resolver.adapters.database import Database
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import OutOfRangeError, ValidationError

INSERT = "INSERT INTO change_events (type, customer_id) VALUES ('created', %s) RETURNING id"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = Database(database_url, pool_size=2)
    yield Store(db)
    db.close()


def _commit(url: str, customer: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(INSERT, (customer,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_gap_waits_for_its_transaction_and_then_fills(store: Store, database_url: str) -> None:
    feed = ChangeFeed(store, None)
    first = _commit(database_url, "a")
    with psycopg.connect(database_url) as slow:
        held = slow.execute(INSERT, ("b",)).fetchone()  # in flight, not committed
        later = _commit(database_url, "c")
        assert [e.id for e in feed.read()] == [first]
        assert feed.read() == [] and feed.read() == []  # still in flight: no skipping
        slow.commit()
    assert held is not None
    assert [e.id for e in feed.read()] == [int(held[0]), later]


def test_a_rolled_back_gap_is_passed_once_its_transaction_ended(
    store: Store, database_url: str
) -> None:
    feed = ChangeFeed(store, None)
    with psycopg.connect(database_url) as slow:
        slow.execute(INSERT, ("b",))
        later = _commit(database_url, "c")
        assert feed.read() == []
        slow.rollback()
    # Every transaction that was running at the first read has ended: the gap is for good.
    assert [e.id for e in feed.read()] == [later]
    assert feed.cursor == later


def test_cursors_are_checked_and_pruned_ones_are_out_of_range(
    store: Store, database_url: str
) -> None:
    with pytest.raises(ValidationError):
        parse_cursor("12x")
    first = _commit(database_url, "a")
    _commit(database_url, "b")
    assert prune_events(store, timedelta(0)) == 2
    with pytest.raises(OutOfRangeError):
        ChangeFeed(store, first - 1)
    fresh = _commit(database_url, "c")
    assert [e.id for e in ChangeFeed(store, None).read()] == [fresh]
    assert ChangeFeed(store, fresh).read() == []
    with pytest.raises(OutOfRangeError, match="ahead of the newest"):
        ChangeFeed(store, fresh + 1)
