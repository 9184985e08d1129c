"""MergeCustomers and SplitCustomer through a real server and store: overrides that last."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest

from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations
from tests.servers import Serve


def _merge(stub: rpc.IdentityServiceStub, *ids: str) -> pb.MergeCustomersResponse:
    reply: pb.MergeCustomersResponse = stub.MergeCustomers(
        pb.MergeCustomersRequest(customer_ids=ids, reason="same person", actor="ops"), timeout=10
    )
    return reply


def _split(stub: rpc.IdentityServiceStub, customer: str, *records: str) -> pb.SplitCustomerResponse:
    reply: pb.SplitCustomerResponse = stub.SplitCustomer(
        pb.SplitCustomerRequest(
            customer_id=customer, record_ids=records, reason="twins", actor="ops"
        ),
        timeout=10,
    )
    return reply


def _owner(stub: rpc.IdentityServiceStub, **lookup: str) -> str:
    reply: pb.ResolveResponse = stub.Resolve(pb.ResolveRequest(**lookup), timeout=10)
    return reply.customer_id


def _records(stub: rpc.IdentityServiceStub, customer: str) -> set[str]:
    reply = stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer), timeout=10)
    return {r.record_id for r in reply.customer.records}


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _household(stub: rpc.IdentityServiceStub) -> str:
    """Three records one email joins; r3 brings a phone of its own."""
    first = observe(stub, "r1", email="kim@post.co.uk", phone="+447911100001").customer_id
    observe(stub, "r2", email="kim@post.co.uk", given_name="Kim")
    assert observe(stub, "r3", email="kim@post.co.uk", phone="+447911100003").customer_id == first
    return first


def test_merge_joins_customers_and_keeps_the_oldest_id(stub: rpc.IdentityServiceStub) -> None:
    a = observe(stub, "m1", email="ann@post.co.uk").customer_id
    b = observe(stub, "m2", phone="+447911200002").customer_id
    assert a != b
    merged = _merge(stub, b, a)
    assert merged.customer_id == a and list(merged.absorbed_customer_ids) == [b]
    assert merged.override_id > 0
    assert _owner(stub, phone="+447911200002") == a
    assert _records(stub, b) == {"m1", "m2"}  # the absorbed id still resolves
    again = _merge(stub, a, b)
    assert again.customer_id == a and again.override_id == 0


def test_split_moves_the_smaller_part_and_holds_against_a_bridging_record(
    stub: rpc.IdentityServiceStub,
) -> None:
    first = _household(stub)
    split = _split(stub, first, "r3")
    assert split.rest_customer_id == first
    assert split.customer_id == split.new_customer_id != first
    assert list(split.moved_record_ids) == ["r3"]
    assert _records(stub, first) == {"r1", "r2"} and _records(stub, split.customer_id) == {"r3"}
    assert _owner(stub, phone="+447911100003") == split.customer_id
    # A record bridging both parts joins one and merges nothing; replaying changes nothing.
    bridge = observe(stub, "r4", email="kim@post.co.uk", phone="+447911100003")
    assert bridge.customer_id in {first, split.customer_id} and not bridge.absorbed_customer_ids
    for rid, fields in (("r1", {"phone": "+447911100001"}), ("r3", {"phone": "+447911100003"})):
        replay = observe(stub, rid, email="kim@post.co.uk", **fields)
        assert replay.outcome == pb.OBSERVE_OUTCOME_ALREADY_OBSERVED
    assert _owner(stub, phone="+447911100001") == first
    assert _owner(stub, phone="+447911100003") == split.customer_id


def test_the_larger_part_keeps_the_id(stub: rpc.IdentityServiceStub) -> None:
    first = _household(stub)
    split = _split(stub, first, "r2", "r3")
    assert split.customer_id == first and split.rest_customer_id == split.new_customer_id
    assert list(split.moved_record_ids) == ["r1"]


def test_a_merge_lifts_the_split_it_overrules(stub: rpc.IdentityServiceStub) -> None:
    first = _household(stub)
    split = _split(stub, first, "r3")
    merged = _merge(stub, first, split.customer_id)
    assert list(merged.lifted_override_ids) == [split.override_id]
    bridge = observe(stub, "r5", email="kim@post.co.uk", phone="+447911100003")
    assert bridge.customer_id == first
    assert _records(stub, first) == {"r1", "r2", "r3", "r5"}


def test_a_second_server_sees_the_split_without_a_restart(database_url: str, serve: Serve) -> None:
    with serve(database_url) as one, serve(database_url) as two:
        first = _household(one)
        assert _eventually(lambda: _owner(two, phone="+447911100003") == first)
        split = _split(one, first, "r3")
        assert _eventually(lambda: _owner(two, phone="+447911100003") == split.customer_id)
        bridge = observe(two, "r6", email="kim@post.co.uk", phone="+447911100003")
        assert not bridge.absorbed_customer_ids
        merged = _merge(two, first, split.customer_id)
        assert _eventually(lambda: _owner(one, phone="+447911100003") == merged.customer_id)


def test_a_model_server_honours_the_split(model_stub: rpc.IdentityServiceStub) -> None:
    first = _household(model_stub)
    split = _split(model_stub, first, "r3")
    bridge = observe(
        model_stub, "r7", email="kim@post.co.uk", phone="+447911100003", given_name="Kim"
    )
    assert bridge.customer_id in {first, split.customer_id} and not bridge.absorbed_customer_ids
    assert _records(model_stub, first) & _records(model_stub, split.customer_id) == set()


@pytest.mark.parametrize(
    ("records", "reason", "field"),
    [
        (["r3"], "", "reason"),
        (["nope"], "x", "record_ids"),
        (["r1", "r2", "r3"], "x", "record_ids"),
        ([], "x", "record_ids"),
    ],
)
def test_a_bad_split_names_the_field_and_changes_nothing(
    stub: rpc.IdentityServiceStub, records: list[str], reason: str, field: str
) -> None:
    first = _household(stub)
    with pytest.raises(grpc.RpcError) as caught:
        stub.SplitCustomer(
            pb.SplitCustomerRequest(customer_id=first, record_ids=records, reason=reason)
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(caught.value)
    assert _records(stub, first) == {"r1", "r2", "r3"}


def test_unknown_customers_are_not_found(stub: rpc.IdentityServiceStub) -> None:
    a = observe(stub, "u1", email="uma@post.co.uk").customer_id
    with pytest.raises(grpc.RpcError) as caught:
        _merge(stub, a, "cus_nobody")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        _split(stub, "cus_nobody", "u1")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        _merge(stub, a)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_server_started_after_the_split_keeps_the_parts_apart(
    database_url: str, serve: Serve
) -> None:
    with serve(database_url) as one:
        first = _household(one)
        split = _split(one, first, "r3")
    with serve(database_url) as fresh:
        assert _owner(fresh, phone="+447911100003") == split.customer_id
        bridge = observe(fresh, "r8", email="kim@post.co.uk", phone="+447911100003")
        assert not bridge.absorbed_customer_ids
        kept, moved = _records(fresh, first), _records(fresh, split.customer_id)
        assert {"r1", "r2"} <= kept and "r3" in moved and not kept & moved
