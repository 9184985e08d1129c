"""The gRPC servicer: convert, call the resolver, map errors. Nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc
from opentelemetry import trace

from idres.resolver.domain.errors import IdresError
from idres.resolver.resolution import Resolver
from idres.resolver.transport import convert
from idres.resolver.transport.errors import to_status
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

T = TypeVar("T")
tracer = trace.get_tracer("idres.transport")


class IdentityServicer(rpc.IdentityServiceServicer):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def Observe(  # noqa: N802 (gRPC method names)
        self, request: pb.ObserveRequest, context: grpc.ServicerContext
    ) -> pb.ObserveResponse:
        def call() -> pb.ObserveResponse:
            values = convert.record_values(request.record)
            obs = self.resolver.observe_values(values)
            return convert.observe_response(obs, self.resolver.model_version)

        return _guard(context, call)

    def Resolve(  # noqa: N802
        self, request: pb.ResolveRequest, context: grpc.ServicerContext
    ) -> pb.ResolveResponse:
        def call() -> pb.ResolveResponse:
            res = self.resolver.resolve_values(convert.query_values(request))
            return convert.resolve_response(res, self.resolver.model_version)

        return _guard(context, call)

    def GetCustomer(  # noqa: N802
        self, request: pb.GetCustomerRequest, context: grpc.ServicerContext
    ) -> pb.GetCustomerResponse:
        def call() -> pb.GetCustomerResponse:
            view, requested = self.resolver.customer(request.customer_id)
            return convert.customer_response(view, requested)

        return _guard(context, call)


def _guard(context: grpc.ServicerContext, call: Callable[[], T]) -> T:
    try:
        return call()
    except IdresError as exc:
        trace.get_current_span().record_exception(exc)
        context.abort_with_status(to_status(exc))
        raise  # unreachable: abort_with_status raises
