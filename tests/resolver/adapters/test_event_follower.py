"""The outbox follower applies a large batch in chunks: calls keep being answered meanwhile."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg.types.json import Jsonb

from idres.resolver.adapters.event_follower import CHUNK, chunks
from idres.resolver.domain.events import ChangeEvent, EventType, linked_payload
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.domain.records import parse_record
from idres.resolver.domain.scoring import features
from idres.resolver.transport.server import IdresServer
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe

PEOPLE = 4_500
"""Each writes two events: one poll (at most 10,000 events) reads the whole batch."""


def _read(types_and_customers: list[tuple[EventType, str]]) -> list[tuple[ChangeEvent, bool]]:
    return [(ChangeEvent(i, t, c), False) for i, (t, c) in enumerate(types_and_customers, 1)]


def test_chunks_are_bounded_and_keep_one_customers_events_together() -> None:
    # Three events per customer, as one Observe writes them (created, flagged, linked).
    read = _read([(t, f"c{n}") for n in range(400) for t in list(EventType)[:3]])
    parts = list(chunks(read))
    assert [e for part in parts for e in part] == read
    assert all(CHUNK <= len(p) <= CHUNK + 2 for p in parts[:-1])
    assert all(p[-1][0].customer_id != q[0][0].customer_id for p, q in pairwise(parts))
    # One customer's long run is cut all the same.
    assert [len(p) for p in chunks(_read([(EventType.LINKED, "c")] * (9 * CHUNK)))] == [
        4 * CHUNK,
        4 * CHUNK,
        CHUNK,
    ]


def _another_replicas_batch(url: str) -> None:
    """What another replica (or a bulk load) leaves in the outbox: PEOPLE customers created
    and linked, committed at once."""
    rows: list[tuple[str, str, Any]] = []
    for n in range(PEOPLE):
        record = parse_record(
            {"record_id": f"b{n}", "email": f"batch{n}@post.co.uk", "given_name": "Ada"},
            DEFAULT_RULES,
        )
        held = [o.identifier for o in record.identifiers]
        rows.append(("created", f"cus_b{n}", Jsonb({"seq": n + 1})))
        rows.append(("linked", f"cus_b{n}", Jsonb(linked_payload(record, held, features(record)))))
    copy_in = "COPY change_events (type, customer_id, payload) FROM STDIN"
    with psycopg.connect(url) as conn, conn.cursor() as cur, cur.copy(copy_in) as copy:
        for row in rows:
            copy.write_row(row)


def test_health_and_resolve_answer_while_a_large_batch_is_applied(
    server: IdresServer, stub: rpc.IdentityServiceStub, database_url: str
) -> None:
    known = observe(stub, "w1", email="known@post.co.uk")
    follower = server.resolver.serving.follower
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        base, total = follower.applied, 2 * PEOPLE
        _another_replicas_batch(database_url)
        during = {"health": 0, "resolve": 0}
        deadline = time.monotonic() + 120
        while follower.applied - base < total and time.monotonic() < deadline:
            checked = health.Check(health_pb2.HealthCheckRequest(), timeout=30)
            assert checked.status == health_pb2.HealthCheckResponse.SERVING
            during["health"] += 0 < follower.applied - base < total
            answer = stub.Resolve(pb.ResolveRequest(email="known@post.co.uk"), timeout=30)
            assert answer.customer_id == known.customer_id
            during["resolve"] += 0 < follower.applied - base < total
    assert follower.applied - base == total, "the batch was not applied"
    # Calls were answered between the batch's first chunk and its last.
    assert during["health"] > 0 and during["resolve"] > 0, during
    last = stub.Resolve(pb.ResolveRequest(email=f"batch{PEOPLE - 1}@post.co.uk"), timeout=10)
    assert last.decision == pb.DECISION_MATCH and last.customer_id == f"cus_b{PEOPLE - 1}"
