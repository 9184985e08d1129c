"""Tokens and tenants through a real server and store: who may call, and whose data they see."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idres.ingest.training import model_version
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.linking import RULES_VERSION
from idres.resolver.settings import Settings
from idres.resolver.transport.access import token_digest
from idres.resolver.transport.server import IdresServer, create_server
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

KEY = "test-token-key"
TOKENS = f"""# token tenant scopes
acme-all acme resolve,observe,admin
acme-read acme resolve
globex-all globex resolve,observe,admin
hmac-sha256:{token_digest(KEY.encode(), "globex-hashed")} globex observe   # a hashed token
"""


def metadata(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def guarded(settings: Settings, tmp_path: Path) -> Iterator[IdresServer]:
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    server = create_server(replace(settings, auth_tokens_file=str(tokens), auth_token_key=KEY))
    server.start()
    yield server
    server.stop(grace=0)


@pytest.fixture
def stub(guarded: IdresServer) -> Iterator[rpc.IdentityServiceStub]:
    with grpc.insecure_channel(guarded.address) as channel:
        yield rpc.IdentityServiceStub(channel)


def observe(stub: rpc.IdentityServiceStub, token: str, record_id: str, **fields: Any) -> str:
    request = pb.ObserveRequest(record=pb.Record(record_id=record_id, **fields))
    response = stub.Observe(request, timeout=10, metadata=metadata(token))
    return str(response.customer_id)


def code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    status: grpc.StatusCode = caught.value.code()
    return status


def test_calls_need_a_valid_token_with_the_methods_scope(
    guarded: IdresServer, stub: rpc.IdentityServiceStub
) -> None:
    lookup = pb.ResolveRequest(email="a@example.com")
    assert code(lambda: stub.Resolve(lookup, timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    wrong = metadata("not-a-token")
    assert code(lambda: stub.Resolve(lookup, timeout=5, metadata=wrong)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # The hash in the file is not itself a token.
    hashed_line = TOKENS.splitlines()[4].split()[0]
    assert code(lambda: stub.Resolve(lookup, timeout=5, metadata=metadata(hashed_line))) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    record = pb.ObserveRequest(record=pb.Record(record_id="r1", email="a@example.com"))
    read_only = metadata("acme-read")
    with pytest.raises(grpc.RpcError) as denied:
        stub.Observe(record, timeout=5, metadata=read_only)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "observe scope" in str(denied.value.details())
    forget = pb.ForgetRequest(record_id="r1", reason="test")
    assert code(lambda: stub.Forget(forget, timeout=5, metadata=read_only)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    watch = pb.WatchChangesRequest(limit=1)
    assert code(lambda: list(stub.WatchChanges(watch, timeout=5))) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # The scoped token works; so does the hashed one for its scope; health needs no token.
    assert stub.Resolve(lookup, timeout=5, metadata=read_only).decision == pb.DECISION_NO_MATCH
    assert observe(stub, "globex-hashed", "g0", email="h.w@gmail.com")
    with grpc.insecure_channel(guarded.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_tenants_never_see_or_link_each_others_data(
    guarded: IdresServer, stub: rpc.IdentityServiceStub, settings: Settings
) -> None:
    acme = observe(stub, "acme-all", "a1", email="jo.lee@gmail.com", given_name="Jo", surname="Lee")
    globex = observe(stub, "globex-all", "g1", email="jo.lee@gmail.com", phone="+447911123456")
    assert acme != globex

    def resolve(token: str, **fields: str) -> pb.ResolveResponse:
        answer: pb.ResolveResponse = stub.Resolve(
            pb.ResolveRequest(**fields), timeout=5, metadata=metadata(token)
        )
        return answer

    assert resolve("acme-all", email="jo.lee@gmail.com").customer_id == acme
    assert resolve("globex-all", email="jo.lee@gmail.com").customer_id == globex
    assert resolve("acme-all", phone="+447911123456").decision == pb.DECISION_NO_MATCH
    # The same record id in another tenant is another record, not a conflict.
    assert observe(stub, "globex-all", "a1", email="other.one@gmail.com") != acme

    other = pb.GetCustomerRequest(customer_id=globex)
    assert code(lambda: stub.GetCustomer(other, timeout=5, metadata=metadata("acme-all"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    merge = pb.MergeCustomersRequest(customer_ids=[acme, globex], reason="test")
    assert code(lambda: stub.MergeCustomers(merge, timeout=5, metadata=metadata("acme-all"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    seen: set[str] = set()
    changes = stub.WatchChanges(pb.WatchChangesRequest(), timeout=2, metadata=metadata("acme-all"))
    with pytest.raises(grpc.RpcError) as ended:  # the stream follows until its deadline
        seen.update(change.customer_id for change in changes)
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert seen == {acme}

    forgotten = pb.ForgetRequest(customer_id=acme, reason="test")
    stub.Forget(forgotten, timeout=10, metadata=metadata("acme-all"))
    assert resolve("acme-all", email="jo.lee@gmail.com").decision == pb.DECISION_NO_MATCH
    assert resolve("globex-all", email="jo.lee@gmail.com").customer_id == globex

    # Each tenant is a schema of its own; the default tenant (public) holds nothing.
    with psycopg.connect(settings.database_url) as conn:
        counts = {
            schema: conn.execute(f"SELECT count(*) FROM {schema}.records").fetchone()
            for schema in ("public", "tenant_acme", "tenant_globex")
        }
    assert counts == {"public": (0,), "tenant_acme": (0,), "tenant_globex": (2,)}


def test_a_second_server_serves_the_same_tenants(
    guarded: IdresServer, stub: rpc.IdentityServiceStub
) -> None:
    acme = observe(stub, "acme-all", "a1", email="jo.lee@gmail.com")
    second = create_server(guarded.settings)
    second.start()
    try:
        with grpc.insecure_channel(second.address) as channel:
            other = rpc.IdentityServiceStub(channel)
            answer = other.Resolve(
                pb.ResolveRequest(email="jo.lee@gmail.com"),
                timeout=5,
                metadata=metadata("acme-all"),
            )
            assert answer.customer_id == acme
            missing = other.Resolve(
                pb.ResolveRequest(email="jo.lee@gmail.com"),
                timeout=5,
                metadata=metadata("globex-all"),
            )
            assert missing.decision == pb.DECISION_NO_MATCH
    finally:
        second.stop(grace=0)


def test_tokens_rotate_without_a_restart(
    guarded: IdresServer, stub: rpc.IdentityServiceStub
) -> None:
    assert observe(stub, "globex-all", "g1", email="jo.lee@gmail.com")
    path = Path(guarded.settings.auth_tokens_file)
    path.write_text("globex-new globex resolve,observe\nnewco-all newco resolve,observe\n")
    deadline = time.monotonic() + 10
    lookup = pb.ResolveRequest(email="jo.lee@gmail.com")
    while time.monotonic() < deadline:  # the file is checked at most once a second
        try:
            stub.Resolve(lookup, timeout=5, metadata=metadata("globex-all"))
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
            break
        time.sleep(0.2)
    else:
        pytest.fail("the removed token kept working")
    assert stub.Resolve(lookup, timeout=5, metadata=metadata("globex-new")).customer_id
    # A tenant named for the first time is opened on its first call, empty.
    assert observe(stub, "newco-all", "n1", email="jo.lee@gmail.com")
    # A file that no longer parses keeps the tokens in force.
    path.write_text("this line is not a token line\n")
    time.sleep(1.2)
    assert stub.Resolve(lookup, timeout=5, metadata=metadata("globex-new")).customer_id


def test_each_tenant_decides_with_its_own_model(
    settings: Settings, tmp_path: Path, trained: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    model, facts = trained
    db = open_database(settings.database_url, tmp_path, pool_size=1, tenant="acme")
    ModelStore(Store(db)).save(model_version(model), model, facts, activate=True)
    db.close()
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    server = create_server(replace(settings, auth_tokens_file=str(tokens), auth_token_key=KEY))
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = rpc.IdentityServiceStub(channel)
            versions = {
                token: stub.Resolve(
                    pb.ResolveRequest(email="jo.lee@gmail.com"), timeout=5, metadata=metadata(token)
                ).model_version
                for token in ("acme-all", "globex-all")
            }
    finally:
        server.stop(grace=0)
    assert versions == {"acme-all": model_version(model), "globex-all": RULES_VERSION}
