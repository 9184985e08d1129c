"""Bad input against a real server: every malformed request is INVALID_ARGUMENT naming the
field, never UNKNOWN, and never changes what is stored."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from idres.resolver.resolution import Resolver
from idres.resolver.settings import Settings
from idres.resolver.transport.server import create_server
from idres.resolver.transport.servicer import IdentityServicer
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations

FUZZ_CALLS = 400


def _raw(channel: grpc.Channel, method: str) -> Callable[..., bytes]:
    call: Callable[..., bytes] = channel.unary_unary(
        f"/idres.v1.IdentityService/{method}",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    return call


CASES: list[tuple[str, Callable[[rpc.IdentityServiceStub], object], str]] = [
    ("nul in a postcode",
     lambda s: s.Observe(pb.ObserveRequest(record=pb.Record(record_id="n1", postcode="SW1\x00"))),
     "record.postcode"),
    ("nul in a channel",
     lambda s: s.Observe(pb.ObserveRequest(record=pb.Record(record_id="n2", channel="w\x00"))),
     "record.channel"),
    ("nul in a customer id",
     lambda s: s.GetCustomer(pb.GetCustomerRequest(customer_id="c\x00")), "customer_id"),
    ("nul in a merge",
     lambda s: s.MergeCustomers(pb.MergeCustomersRequest(customer_ids=["a", "b\x00"], reason="x")),
     "customer_ids[1]"),
    ("nul in a lookup", lambda s: s.Resolve(pb.ResolveRequest(email="a\x00@b.co.uk")), "email"),
    ("a year past 9999",
     lambda s: s.Observe(pb.ObserveRequest(
         record=pb.Record(record_id="t1", ts=Timestamp(seconds=253_402_300_800)))),
     "record.ts"),
    ("negative nanos",
     lambda s: s.Observe(pb.ObserveRequest(
         record=pb.Record(record_id="t2", ts=Timestamp(seconds=1, nanos=-1)))),
     "record.ts"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "call", "field"), CASES, ids=[c[0] for c in CASES])
def test_malformed_fields_are_named(
    stub: rpc.IdentityServiceStub,
    case: str,
    call: Callable[[rpc.IdentityServiceStub], object],
    field: str,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(stub)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, case
    assert field in violations(caught.value)


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x0a\x05\x0a\x03\xff\xfe\xfd"])
def test_bytes_that_are_no_message_are_invalid_argument(server: Any, body: bytes) -> None:
    with grpc.insecure_channel(server.address) as channel:
        for method in ("Observe", "Resolve", "Forget"):
            with pytest.raises(grpc.RpcError) as caught:
                _raw(channel, method)(body, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "request" in violations(caught.value)


def test_a_huge_id_is_not_echoed_whole(stub: rpc.IdentityServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCustomer(pb.GetCustomerRequest(customer_id="x" * 10_000), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(caught.value.details() or "") <= 1000


def test_a_name_too_long_for_anyone_is_flagged_not_cut(stub: rpc.IdentityServiceStub) -> None:
    reply = observe(stub, "l1", given_name="A" * 300, surname="Lee", email="l@post.co.uk")
    assert [(w.field, w.reason) for w in reply.warnings] == [
        ("given_name", "longer than 256 characters")
    ]


def _mutated(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.7:
            data.insert(rng.randrange(len(data) + 1), rng.choice([0, 0xFF, 0xC3, 0x80, 0x0A]))
        elif data:
            del data[rng.randrange(len(data))]
    return bytes(data)


def test_fuzzed_requests_never_end_in_unknown(stub: rpc.IdentityServiceStub, server: Any) -> None:
    """A bounded fuzzing client: valid requests with bytes flipped, inserted and dropped."""
    observe(stub, "f1", email="fuzz@post.co.uk", given_name="Fay")
    seeds = {
        "Observe": pb.ObserveRequest(
            record=pb.Record(record_id="f2", email="fay@post.co.uk", given_name="Fay",
                             postcode="SW1A 1AA", ts=Timestamp(seconds=1_700_000_000))),
        "Resolve": pb.ResolveRequest(email="fuzz@post.co.uk", given_name="Fay"),
        "GetCustomer": pb.GetCustomerRequest(customer_id="cus_x", timeline_page_size=3),
        "MergeCustomers": pb.MergeCustomersRequest(customer_ids=["a", "b"], reason="r"),
        "Forget": pb.ForgetRequest(record_id="nope", reason="r"),
        "ListReviews": pb.ListReviewsRequest(page_size=5, page_token="abc"),
    }  # fmt: skip
    rng = random.Random(20261204)
    codes: dict[str, int] = {}
    with grpc.insecure_channel(server.address) as channel:
        calls = {m: _raw(channel, m) for m in seeds}
        for _ in range(FUZZ_CALLS):
            method = rng.choice(sorted(seeds))
            body = _mutated(rng, seeds[method].SerializeToString())
            try:
                calls[method](body, timeout=10)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            codes[code] = codes.get(code, 0) + 1
    assert "UNKNOWN" not in codes and "INTERNAL" not in codes, codes
    assert codes.get("INVALID_ARGUMENT", 0) > FUZZ_CALLS // 10


def test_a_call_past_its_deadline_is_not_worked_on(resolver: Resolver) -> None:
    """The servicer checks the deadline as a pool thread picks the call up."""

    class Late:
        code: grpc.StatusCode | None = None

        def time_remaining(self) -> float:
            return -0.5

        async def abort_with_status(self, status: grpc.Status) -> None:
            self.code = status.code
            raise RuntimeError("aborted")

    ran: list[bool] = []
    context = Late()
    with ThreadPoolExecutor(1) as pool:
        servicer = IdentityServicer(resolver, pool)
        with pytest.raises(RuntimeError):
            asyncio.run(servicer._offload(context, lambda: ran.append(True)))
    assert ran == [] and context.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_message_over_the_size_limit_is_refused_before_parsing(settings: Settings) -> None:
    server = create_server(replace(settings, max_message_bytes=2048))
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = rpc.IdentityServiceStub(channel)
            assert observe(stub, "small", given_name="Jo").customer_id
            with pytest.raises(grpc.RpcError) as caught:
                observe(stub, "big", given_name="J" * 4096)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        server.stop(grace=0)
