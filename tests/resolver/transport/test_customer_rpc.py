"""GetCustomer's profile and timeline through a real server and store."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from idres.resolver.settings import Settings
from idres.resolver.transport.server import create_server
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations


def _at(seconds: int) -> Timestamp:
    return Timestamp(seconds=1_760_000_000 + seconds)


def _contacts(stub: rpc.IdentityServiceStub) -> str:
    customer = observe(
        stub,
        "c1",
        channel="store",
        ts=_at(0),
        email="eve@post.co.uk",
        phone="07911 123 999",
        given_name="Eve",
        surname="Hart",
    ).customer_id
    observe(
        stub,
        "c2",
        channel="call_centre",
        ts=_at(60),
        email="eve@post.co.uk",
        dob="1990-04-02",
        postcode="sw1a 1aa",
    )
    observe(
        stub,
        "c3",
        channel="web",
        ts=_at(120),
        email="eve@post.co.uk",
        phone="0791",
        given_name="Evie",
    )
    return customer


def test_the_profile_picks_one_value_a_field_and_the_timeline_pages(
    stub: rpc.IdentityServiceStub,
) -> None:
    customer = _contacts(stub)
    reply = stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer, timeline_page_size=2))
    p = reply.profile
    assert (p.name.value, p.name.record_id) == ("Eve Hart", "c1")
    assert p.phone.value == "+447911123999" and p.phone.valid  # not the mistyped newer one
    assert p.email.value == "eve@post.co.uk" and p.email.records == 3
    assert p.email.record_id == "c3"  # the newest of equals
    assert p.dob.value == "1990-04-02" and p.postcode.channel == "call_centre"
    assert [c.record_id for c in reply.timeline] == ["c3", "c2"]
    rest = stub.GetCustomer(
        pb.GetCustomerRequest(
            customer_id=customer,
            timeline_page_size=2,
            timeline_page_token=reply.next_timeline_page_token,
        )
    )
    assert [(c.record_id, c.channel) for c in rest.timeline] == [("c1", "store")]
    assert rest.next_timeline_page_token == ""


def test_a_bad_page_names_the_field(stub: rpc.IdentityServiceStub) -> None:
    customer = _contacts(stub)
    for request, field in (
        (pb.GetCustomerRequest(customer_id=customer, timeline_page_size=-1), "timeline_page_size"),
        (
            pb.GetCustomerRequest(customer_id=customer, timeline_page_token="%%"),
            "timeline_page_token",
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetCustomer(request)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in violations(caught.value)


def test_channel_priority_is_honoured(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        host="127.0.0.1",
        port=0,
        channel_priority=("store",),
    )
    server = create_server(settings)
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = rpc.IdentityServiceStub(channel)
            customer = _contacts(stub)
            reply = stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer))
            assert reply.profile.email.channel == "store"
    finally:
        server.stop(grace=0)
