"""The gRPC API on a real server on loopback, over a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from idres.resolver.settings import Settings
from idres.resolver.transport.readiness import WRITE_HEALTH
from idres.resolver.transport.server import IdresServer, create_server
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.outage import allow_connections, dbname_of
from tests.resolver.transport.calls import observe, violations


def stored(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM customers),"
            " (SELECT count(*) FROM change_events)"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


def test_observe_resolve_and_get_customer(stub: rpc.IdentityServiceStub) -> None:
    web = observe(stub, "web-1", channel="web", email="Jo.Bloggs@gmail.com", given_name="Jo")
    call = observe(stub, "cc-1", channel="call_centre", phone="07911 123456", given_name="Jo")
    assert web.outcome == pb.OBSERVE_OUTCOME_CREATED and web.model_version
    app = observe(
        stub, "app-1", channel="mobile_app", email="jobloggs@gmail.com", phone="+447911123456"
    )
    assert app.outcome == pb.OBSERVE_OUTCOME_MERGED
    assert app.customer_id == web.customer_id and list(app.absorbed_customer_ids) == [
        call.customer_id
    ]

    answer = stub.Resolve(pb.ResolveRequest(phone="+44 (0) 7911 123456"), timeout=5)
    assert answer.decision == pb.DECISION_MATCH and answer.customer_id == web.customer_id
    assert [i.value for i in answer.matched_identifiers] == ["+447911123456"]

    got = stub.GetCustomer(pb.GetCustomerRequest(customer_id=call.customer_id), timeout=5)
    assert got.customer.customer_id == web.customer_id and got.requested_id == call.customer_id
    assert sorted(got.customer.sources) == ["call_centre", "mobile_app", "web"]
    assert list(got.customer.merged_ids) == [call.customer_id]
    assert {r.record_id for r in got.customer.records} == {"web-1", "cc-1", "app-1"}


def test_no_match_explains_itself(stub: rpc.IdentityServiceStub) -> None:
    answer = stub.Resolve(pb.ResolveRequest(email="test@test.com", phone="07400 123456"), timeout=5)
    assert answer.decision == pb.DECISION_NO_MATCH and answer.customer_id == ""
    outcomes = {e.identifier.value: e.outcome for e in answer.evidence}
    assert outcomes == {
        "test@test.com": pb.EVIDENCE_OUTCOME_PLACEHOLDER,
        "+447400123456": pb.EVIDENCE_OUTCOME_UNKNOWN,
    }


def test_bad_fields_are_warnings_and_only_a_missing_id_is_refused(
    stub: rpc.IdentityServiceStub, server: IdresServer
) -> None:
    first = observe(stub, "ok-1", email="kept@post.co.uk")
    kept = observe(stub, "bad-1", email="kept@post.co.uk", phone="123", handle="@someone")
    assert kept.customer_id == first.customer_id
    found = {w.field: w.reason for w in kept.warnings}
    assert set(found) == {"phone", "handle"} and "platform" in found["handle"]
    assert {w.record_id for w in kept.warnings} == {"bad-1"}
    customer = stub.GetCustomer(pb.GetCustomerRequest(customer_id=kept.customer_id), timeout=5)
    record = next(r for r in customer.customer.records if r.record_id == "bad-1")
    assert {(w.field, w.raw) for w in record.warnings} == {("phone", "123"), ("handle", "@someone")}
    before = stored(server.resolver.db.url)
    with pytest.raises(grpc.RpcError) as err:
        observe(stub, "", email="a@post.co.uk")
    assert violations(err.value) == {"record.record_id": "required"}
    # A lookup is answered on its good fields and names the bad one, without echoing it.
    answer = stub.Resolve(pb.ResolveRequest(email="kept@post.co.uk", phone="12x"), timeout=5)
    assert answer.customer_id == first.customer_id
    assert [(w.field, w.raw) for w in answer.warnings] == [("phone", "")]
    with pytest.raises(grpc.RpcError) as err:
        stub.Resolve(pb.ResolveRequest(dob="31/12/1990"), timeout=5)
    assert set(violations(err.value)) == {"dob"}
    assert stored(server.resolver.db.url) == before


def test_unknown_customer_is_not_found(stub: rpc.IdentityServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.GetCustomer(pb.GetCustomerRequest(customer_id="cus_missing"), timeout=5)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


def test_reusing_a_record_id_with_other_content_is_refused(stub: rpc.IdentityServiceStub) -> None:
    first = observe(stub, "r-1", email="one@post.co.uk")
    again = observe(stub, "r-1", email="ONE@post.co.uk")
    assert first.customer_id == again.customer_id
    with pytest.raises(grpc.RpcError) as err:
        observe(stub, "r-1", email="two@post.co.uk")
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS


def test_health_and_reflection(server: IdresServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "idres.v1.IdentityService", WRITE_HEALTH):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(reflect.ServerReflectionInfo(iter([request]), timeout=5)))
        names = {s.name for s in reply.list_services_response.service}
        assert "idres.v1.IdentityService" in names and "grpc.health.v1.Health" in names
        assert WRITE_HEALTH not in names  # a health name, not a service


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health_of(channel: grpc.Channel, name: str) -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=name), timeout=5
    )
    return int(reply.status)


def seconds_until(check: Callable[[], bool], within: float) -> float:
    """How long `check` took to hold, polled; fails past `within` seconds."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            pytest.fail(f"not within {within} s")
        time.sleep(0.05)
    return time.monotonic() - start


def unavailable_after(call: Callable[[], object]) -> float:
    """Seconds `call` took to fail, asserting it failed UNAVAILABLE."""
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        call()
    elapsed = time.monotonic() - start
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE, err.value.details()
    assert "database unavailable" in (err.value.details() or "")
    return elapsed


@contextmanager
def model_server(settings: Settings) -> Iterator[tuple[IdresServer, grpc.Channel]]:
    """A server on `settings` (whose database has the trained model, for Explain)."""
    server = create_server(settings)
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            yield server, channel
    finally:
        server.stop(grace=0)


def test_database_down_fails_fast_reports_the_write_path_and_recovers(
    with_model: str, settings: Settings, pg_server_url: str
) -> None:
    assert settings.database_url == with_model and settings.pool_wait_s == 2.0
    with model_server(settings) as (server, channel):
        stub = rpc.IdentityServiceStub(channel)
        first = observe(stub, "r-1", email="still@post.co.uk", given_name="Ann", surname="Lee")
        second = observe(stub, "r-2", email="other@post.co.uk", given_name="Bob", surname="Ng")
        assert health_of(channel, WRITE_HEALTH) == SERVING
        dbname = dbname_of(server.resolver.db.url)
        allow_connections(pg_server_url, dbname, False)
        try:
            down = seconds_until(lambda: health_of(channel, WRITE_HEALTH) == NOT_SERVING, 5)
            record = pb.Record(record_id="r-3", email="new@post.co.uk")
            pair = pb.CustomerPair(
                left_customer_id=first.customer_id, right_customer_id=second.customer_id
            )
            waits = {
                # With a 3 s deadline the 2 s cap decides; without one, the cap alone.
                "Observe": unavailable_after(
                    lambda: stub.Observe(pb.ObserveRequest(record=record), timeout=3)
                ),
                "GetCustomer": unavailable_after(
                    lambda: stub.GetCustomer(
                        pb.GetCustomerRequest(customer_id=first.customer_id), timeout=3
                    )
                ),
                "Explain": unavailable_after(
                    lambda: stub.Explain(pb.ExplainRequest(customers=pair), timeout=3)
                ),
                "Observe, no deadline": unavailable_after(
                    lambda: stub.Observe(pb.ObserveRequest(record=record))
                ),
            }
            assert all(wait < 3.5 for wait in waits.values()), waits
            answer = stub.Resolve(pb.ResolveRequest(email="still@post.co.uk"), timeout=5)
            assert answer.customer_id == first.customer_id
            for name in ("", "idres.v1.IdentityService"):
                assert health_of(channel, name) == SERVING  # Resolve keeps the replica ready
            assert health_of(channel, WRITE_HEALTH) == NOT_SERVING
        finally:
            allow_connections(pg_server_url, dbname, True)
        up = seconds_until(lambda: health_of(channel, WRITE_HEALTH) == SERVING, 5)
        start = time.monotonic()
        again = stub.Observe(pb.ObserveRequest(record=record), timeout=5)
        first_write = time.monotonic() - start
        assert again.outcome == pb.OBSERVE_OUTCOME_CREATED
        print(f"NOT_SERVING after {down:.2f} s, SERVING {up:.2f} s after the database")
        print(f"UNAVAILABLE after {waits}; first Observe back in {first_write:.3f} s")


def test_shutdown_reports_the_write_path_not_serving_and_stops_the_probe(
    server: IdresServer,
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=WRITE_HEALTH), timeout=10
        )
        assert next(watch).status == SERVING
        stopping = threading.Thread(target=server.stop, kwargs={"grace": 1.0})
        stopping.start()
        assert next(watch).status == NOT_SERVING
        stopping.join(timeout=10)
    assert not stopping.is_alive()
    assert not server.probe.running
