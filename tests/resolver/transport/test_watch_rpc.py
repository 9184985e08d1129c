"""WatchChanges through a real server: commit order, cursors, and a stream dropped mid-way."""

from __future__ import annotations

import threading
import time

import grpc
import psycopg
import pytest

from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations

WRITERS, RECORDS_EACH = 3, 40


def _watch(stub: rpc.IdentityServiceStub, after: str, limit: int) -> list[pb.CustomerChange]:
    return list(stub.WatchChanges(pb.WatchChangesRequest(after=after, limit=limit), timeout=20))


def test_changes_come_in_order_with_ids_and_no_personal_data(
    stub: rpc.IdentityServiceStub,
) -> None:
    a = observe(stub, "w1", email="wyn@post.co.uk").customer_id
    b = observe(stub, "w2", phone="+447911500002").customer_id
    bridge = observe(stub, "w3", email="wyn@post.co.uk", phone="+447911500002")
    merged: list[tuple[int, str, list[str]]] = (
        [(pb.CHANGE_TYPE_MERGED, bridge.customer_id, [])] if bridge.absorbed_customer_ids else []
    )
    expected = [
        (pb.CHANGE_TYPE_CREATED, a, []),
        (pb.CHANGE_TYPE_LINKED, a, ["w1"]),
        (pb.CHANGE_TYPE_CREATED, b, []),
        (pb.CHANGE_TYPE_LINKED, b, ["w2"]),
        *merged,
        (pb.CHANGE_TYPE_LINKED, bridge.customer_id, ["w3"]),
    ]
    changes = _watch(stub, "", len(expected))
    assert [(c.type, c.customer_id, list(c.record_ids)) for c in changes] == expected
    if merged:
        assert list(changes[4].absorbed_customer_ids) == list(bridge.absorbed_customer_ids)
    cursors = [int(c.cursor) for c in changes]
    assert cursors == sorted(cursors) and all(c.at.seconds > 0 for c in changes)
    assert "wyn@post.co.uk" not in str(changes)
    assert [c.cursor for c in _watch(stub, changes[1].cursor, 2)] == [
        c.cursor for c in changes[2:4]
    ]


def test_a_consumer_that_reconnects_misses_nothing_and_sees_nothing_twice(
    stub: rpc.IdentityServiceStub, database_url: str
) -> None:
    def write(writer: int) -> None:
        for n in range(RECORDS_EACH):  # every third record starts a customer, the rest link
            observe(stub, f"v{writer}-{n}", email=f"p{writer}-{n // 3}@post.co.uk")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    cursor, deadline, drops = "", time.monotonic() + 60, 0
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        # Take a few changes, drop the stream mid-way, and come back with the last cursor.
        stream = stub.WatchChanges(pb.WatchChangesRequest(after=cursor), timeout=20)
        for number, change in enumerate(stream):
            seen.append(change.cursor)
            cursor = change.cursor
            if number == 6:
                stream.cancel()
                drops += 1
                break
    for thread in threads:
        thread.join()
    assert drops >= 2, "the stream was never dropped while the writers ran"
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM change_events WHERE type <> 'flagged'").fetchone()
    assert row is not None
    total = int(row[0])
    customers = -(-RECORDS_EACH // 3)
    assert total == WRITERS * (
        RECORDS_EACH + customers
    )  # a linked per record, a created per customer
    seen += [c.cursor for c in _watch(stub, cursor, total - len(seen))]
    assert seen == [c.cursor for c in _watch(stub, "", total)]
    assert len(set(seen)) == total


def test_a_bad_cursor_names_the_field(stub: rpc.IdentityServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _watch(stub, "yesterday", 1)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "after" in violations(caught.value)
