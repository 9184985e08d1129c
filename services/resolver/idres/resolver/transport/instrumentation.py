"""Call telemetry: a SERVER span and the `rpc.server.call.duration` histogram for every call,
named and labelled as OpenTelemetry's RPC semantic conventions say.

The interceptor is the outermost one, so it sees every refusal of the guard and the final
status of an aborted call (an abort raises; its code is on the context afterwards). It uses
the OpenTelemetry API only: with no SDK configured, a call pays a few microseconds. Calls to
methods the server does not have are not recorded, so a scanner cannot grow the metrics'
label sets.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from idres.resolver.tracing import TRACER_KEY

log = logging.getLogger(__name__)
T = TypeVar("T")
SCOPE = "idres.resolver.transport"
DURATION = "rpc.server.call.duration"
# Resolve takes about a millisecond, so the buckets start well below the conventions' 5 ms.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The conventions' server-side errors; a caller's mistake (INVALID_ARGUMENT, NOT_FOUND...)
# leaves the span's status unset.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


@dataclass(slots=True)
class _Method:
    """One method's span name and attributes, worked out once."""

    span_name: str
    attributes: dict[str, AttributeValue]
    by_status: dict[grpc.StatusCode, dict[str, AttributeValue]] = field(default_factory=dict)

    @classmethod
    def parse(cls, path: str) -> _Method:
        service, _, method = path.lstrip("/").rpartition("/")
        attributes: dict[str, AttributeValue] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
        }
        return cls(f"{service}/{method}", attributes)

    def with_status(self, code: grpc.StatusCode) -> dict[str, AttributeValue]:
        found = self.by_status.get(code)
        if found is None:
            found = {**self.attributes, "rpc.grpc.status_code": code.value[0]}
            self.by_status[code] = found
        return found


class CallTelemetry(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Spans and durations of unary and server-streaming calls; client-streaming calls (only
    reflection has them) pass untouched. The providers default to the global ones."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            DURATION,
            unit="s",
            description="Duration of calls the server answered, until the last reply was sent.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        self._methods: dict[str, _Method] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = self._methods.get(details.method)
        if method is None:
            method = self._methods[details.method] = _Method.parse(details.method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            # A stream written with `context.write` (health's Watch) is a coroutine, awaited
            # like a unary call; wrapped as a generator it would end in UNKNOWN.
            streams = inspect.isasyncgenfunction(handler.unary_stream)
            wrap = self._stream if streams else self._unary
            return grpc.unary_stream_rpc_method_handler(
                wrap(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behaviour: Callable[..., Awaitable[Any]], method: _Method) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            parent = _parent(context)
            span = self.tracer.start_span(
                method.span_name, parent, SpanKind.SERVER, method.attributes
            )
            with_tracer = otel_context.set_value(TRACER_KEY, self.tracer, parent)
            token = otel_context.attach(trace.set_span_in_context(span, with_tracer))
            code = grpc.StatusCode.UNKNOWN
            try:
                reply = await behaviour(request, context)
                code = _status(context, grpc.StatusCode.OK)
                return reply
            except BaseException as exc:
                code = _failure(context, exc)
                raise
            finally:
                otel_context.detach(token)
                self._finish(span, method, code, started)

        return call

    def _stream(self, behaviour: Callable[..., AsyncIterator[Any]], method: _Method) -> Any:
        # The span is not made current: a stream's generator can be closed from another
        # context, where detaching would fail.
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            span = self.tracer.start_span(
                method.span_name, _parent(context), SpanKind.SERVER, method.attributes
            )
            code = grpc.StatusCode.UNKNOWN
            try:
                async for reply in behaviour(request, context):
                    yield reply
                code = _status(context, grpc.StatusCode.OK)
            except BaseException as exc:
                code = _failure(context, exc)
                raise
            finally:
                self._finish(span, method, code, started)

        return call

    def _finish(self, span: Span, method: _Method, code: grpc.StatusCode, started: float) -> None:
        elapsed = time.perf_counter() - started
        self.duration.record(elapsed, method.with_status(code))
        if log.isEnabledFor(logging.DEBUG):  # an access log for `idres -v serve`
            with trace.use_span(span):
                log.debug("%s %s in %.2f ms", method.span_name, code.name, elapsed * 1000)
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in _SERVER_ERRORS:
                span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()


def _parent(context: grpc.aio.ServicerContext) -> Context:
    """The caller's trace, when its metadata carries one (W3C `traceparent` by default)."""
    metadata = context.invocation_metadata() or ()
    return propagate.extract({key: value for key, value in metadata if isinstance(value, str)})


def _status(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return _BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
    return default


def _failure(context: grpc.aio.ServicerContext, exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, grpc.aio.AbortError):
        return _status(context, grpc.StatusCode.UNKNOWN)
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an exception it was not told about


_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ContextPool(futures.ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context, so a call's trace (and its
    tracer) carry on in the worker thread that waits on PostgreSQL."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> futures.Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
