"""The gRPC API on a real server on loopback, over a real PostgreSQL."""

from __future__ import annotations

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from idres.resolver.transport.server import IdresServer
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
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
        for name in ("", "idres.v1.IdentityService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(reflect.ServerReflectionInfo(iter([request]), timeout=5)))
        names = {s.name for s in reply.list_services_response.service}
        assert "idres.v1.IdentityService" in names and "grpc.health.v1.Health" in names


def test_database_down_is_unavailable_and_resolve_keeps_answering(
    stub: rpc.IdentityServiceStub, server: IdresServer, pg_server_url: str
) -> None:
    known = observe(stub, "r-1", email="still@post.co.uk")
    dbname = psycopg.conninfo.conninfo_to_dict(server.resolver.db.url)["dbname"]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,)
        )
        conn.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false')
    try:
        with pytest.raises(grpc.RpcError) as err:
            observe(stub, "r-2", email="new@post.co.uk")
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        answer = stub.Resolve(pb.ResolveRequest(email="still@post.co.uk"), timeout=5)
        assert answer.customer_id == known.customer_id
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true')
