"""The floor: a bare IdentityService that answers every call with a canned response.

It is hosted exactly like the real server (the same `GrpcHost`: asyncio gRPC on its own
event-loop thread, the same channel options, health and reflection), so the gap between its
throughput and the real server's is the cost of resolving, not of gRPC in Python.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from idres.cli.signals import StopSignal
from idres.resolver.settings import Settings
from idres.resolver.transport.server import SERVICE_NAME, GrpcHost, server_options
from idres.v1 import identity_pb2, identity_pb2_grpc

HOST = "127.0.0.1"
DEFAULT_WORKERS = 16
CUSTOMER_ID = "cus_01J9Z8Q4T6V2X3Y5A7B9C1D3E5"
MODEL_VERSION = "fs-2024-10-01.3"

EMAIL = identity_pb2.Identifier(
    kind=identity_pb2.IDENTIFIER_KIND_EMAIL,
    value="jane.doe@example.com",
    status=identity_pb2.IDENTIFIER_STATUS_ACTIVE,
)
PHONE = identity_pb2.Identifier(
    kind=identity_pb2.IDENTIFIER_KIND_PHONE,
    value="+447700900123",
    status=identity_pb2.IDENTIFIER_STATUS_ACTIVE,
)


def _evidence(identifier: identity_pb2.Identifier) -> identity_pb2.Evidence:
    return identity_pb2.Evidence(
        identifier=identifier,
        outcome=identity_pb2.EVIDENCE_OUTCOME_MATCHED,
        customer_ids=[CUSTOMER_ID],
        detail="exact match on a normalized strong identifier held by one customer",
    )


_COMPARISONS = (
    ("email", "Exact match on email", 1, 13.9),
    ("phone", "Exact match on phone", 1, 11.2),
    ("handle", "handle is NULL", -1, 0.0),
    ("device_id", "device_id is NULL", -1, 0.0),
    ("loyalty_card", "loyalty_card is NULL", -1, 0.0),
    ("given_name", "Exact match on given_name", 5, 6.1),
    ("surname", "Exact match on surname", 3, 7.4),
    ("dob", "dob is NULL", -1, 0.0),
    ("postcode", "Exact match on postcode", 3, 14.3),
)


def _candidate() -> identity_pb2.CandidateMatch:
    """One candidate with the model's nine comparisons, as the real server answers."""
    return identity_pb2.CandidateMatch(
        customer_id=CUSTOMER_ID,
        record_id="web:000123",
        match_weight=37.8,
        probability=1.0,
        sure=True,
        comparisons=[
            identity_pb2.ComparisonEvidence(comparison=c, level=lv, gamma=g, match_weight=w)
            for c, lv, g, w in _COMPARISONS
        ],
    )


def resolve_response() -> identity_pb2.ResolveResponse:
    """A MATCH sized like a typical real answer: two identifiers, two evidence entries and the
    model's view of the matched customer."""
    return identity_pb2.ResolveResponse(
        decision=identity_pb2.DECISION_MATCH,
        customer_id=CUSTOMER_ID,
        matched_identifiers=[EMAIL, PHONE],
        evidence=[_evidence(EMAIL), _evidence(PHONE)],
        model_version=MODEL_VERSION,
        probability=1.0,
        candidates=[_candidate()],
    )


def observe_response() -> identity_pb2.ObserveResponse:
    return identity_pb2.ObserveResponse(
        customer_id=CUSTOMER_ID,
        outcome=identity_pb2.OBSERVE_OUTCOME_LINKED,
        identifiers=[EMAIL, PHONE],
        evidence=[_evidence(EMAIL), _evidence(PHONE)],
        model_version=MODEL_VERSION,
    )


def get_customer_response() -> identity_pb2.GetCustomerResponse:
    ts = Timestamp(seconds=1_727_740_800)
    record = identity_pb2.CustomerRecord(
        record_id="web:000123",
        channel="web",
        ts=ts,
        given_name="Jane",
        surname="Doe",
        dob="1984-03-02",
        postcode="SW1A 1AA",
        identifiers=[EMAIL, PHONE],
    )
    customer = identity_pb2.Customer(
        customer_id=CUSTOMER_ID,
        created_at=ts,
        identifiers=[EMAIL, PHONE],
        records=[record, record],
        sources=["web", "store"],
    )
    return identity_pb2.GetCustomerResponse(customer=customer)


class EchoServicer(identity_pb2_grpc.IdentityServiceServicer):
    """Returns prebuilt messages; serializing them is the only per-call work."""

    def __init__(self) -> None:
        self._resolve = resolve_response()
        self._observe = observe_response()
        self._get_customer = get_customer_response()
        self._explain = identity_pb2.ExplainResponse(
            same_customer=True, direct=_candidate(), model_version=MODEL_VERSION
        )

    async def Resolve(  # noqa: N802 - name fixed by the generated servicer
        self, request: identity_pb2.ResolveRequest, context: Any
    ) -> identity_pb2.ResolveResponse:
        return self._resolve

    async def Observe(  # noqa: N802
        self, request: identity_pb2.ObserveRequest, context: Any
    ) -> identity_pb2.ObserveResponse:
        return self._observe

    async def ObserveBatch(  # noqa: N802
        self, request: identity_pb2.ObserveBatchRequest, context: Any
    ) -> identity_pb2.ObserveBatchResponse:
        result = identity_pb2.ObserveResult(observed=self._observe)
        return identity_pb2.ObserveBatchResponse(results=[result] * len(request.records))

    async def GetCustomer(  # noqa: N802
        self, request: identity_pb2.GetCustomerRequest, context: Any
    ) -> identity_pb2.GetCustomerResponse:
        return self._get_customer

    async def Explain(  # noqa: N802
        self, request: identity_pb2.ExplainRequest, context: Any
    ) -> identity_pb2.ExplainResponse:
        return self._explain

    async def MergeCustomers(  # noqa: N802
        self, request: identity_pb2.MergeCustomersRequest, context: Any
    ) -> identity_pb2.MergeCustomersResponse:
        return identity_pb2.MergeCustomersResponse()

    async def ListReviews(  # noqa: N802
        self, request: identity_pb2.ListReviewsRequest, context: Any
    ) -> identity_pb2.ListReviewsResponse:
        return identity_pb2.ListReviewsResponse()

    async def DecideReview(  # noqa: N802
        self, request: identity_pb2.DecideReviewRequest, context: Any
    ) -> identity_pb2.DecideReviewResponse:
        return identity_pb2.DecideReviewResponse()

    async def WatchChanges(  # noqa: N802
        self, request: identity_pb2.WatchChangesRequest, context: Any
    ) -> AsyncIterator[identity_pb2.CustomerChange]:
        for _ in range(request.limit):
            yield identity_pb2.CustomerChange()

    async def SplitCustomer(  # noqa: N802
        self, request: identity_pb2.SplitCustomerRequest, context: Any
    ) -> identity_pb2.SplitCustomerResponse:
        return identity_pb2.SplitCustomerResponse()

    async def Forget(  # noqa: N802
        self, request: identity_pb2.ForgetRequest, context: Any
    ) -> identity_pb2.ForgetResponse:
        return identity_pb2.ForgetResponse()

    async def LiftSuppression(  # noqa: N802
        self, request: identity_pb2.LiftSuppressionRequest, context: Any
    ) -> identity_pb2.LiftSuppressionResponse:
        return identity_pb2.LiftSuppressionResponse()


def create_server(port: int = 0, max_workers: int = DEFAULT_WORKERS) -> tuple[GrpcHost, int]:
    """Starts an echo server on loopback, hosted exactly as the real one; returns it and its port.

    `max_workers` is accepted for symmetry with the real server, whose thread pool only serves
    the calls that wait on PostgreSQL; the echo answers every call on the event loop.
    """
    del max_workers
    settings = Settings(host=HOST, port=port)
    servicer = EchoServicer()
    host = GrpcHost(
        settings.address,
        server_options(settings),
        lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server),
        (SERVICE_NAME,),
    )
    host.start()
    return host, host.port


def _start_siblings(count: int, port: int, workers: int) -> list[subprocess.Popen[str]]:
    """Start `count` more echo processes on the same port; the kernel spreads connections."""
    siblings = []
    for _ in range(count):
        cmd = [sys.executable, __file__, "--port", str(port), "--workers", str(workers)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        siblings.append(proc)
    for proc in siblings:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on"):
            for other in siblings:
                other.terminate()
            raise RuntimeError(f"echo sibling failed to start: {line!r}")
    return siblings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks one")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="thread pool size")
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes sharing the port"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Installed before serving so a SIGTERM sent right after startup still stops cleanly.
    stop = StopSignal().install()
    server, port = create_server(args.port, args.workers)
    siblings = _start_siblings(max(args.processes - 1, 0), port, args.workers)
    print(f"listening on {HOST}:{port}", flush=True)
    stop.wait()
    for proc in siblings:
        proc.terminate()
    server.stop(grace=5)
    for proc in siblings:
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
