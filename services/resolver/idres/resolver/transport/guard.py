"""The request guard: every call is checked before the servicer sees it, so that no request
ends in UNKNOWN.

Bytes that are not a valid message (or hold text that is not UTF-8), text with NUL bytes
(which PostgreSQL refuses) and timestamps outside protobuf's range get INVALID_ARGUMENT naming
the field; anything the servicer did not expect becomes INTERNAL, logged with its traceback,
never echoed to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.transport.errors import to_status

log = logging.getLogger(__name__)
_EARLIEST = -62_135_596_800  # 0001-01-01T00:00:00Z
_LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z
_TIMESTAMP = "google.protobuf.Timestamp"
_SERVICE = "/idres.v1.IdentityService/"


@dataclass(frozen=True, slots=True)
class Malformed:
    """What the lenient deserializer returns for bytes it cannot parse."""

    type_name: str
    reason: str


def violations(message: Message, prefix: str = "") -> Iterator[FieldViolation]:
    """The fields of `message`, at any depth, that no store or clock can take."""
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue  # requests carry no maps
        path = prefix + field.name
        repeated = field.is_repeated
        for number, item in enumerate(value) if repeated else [(-1, value)]:
            where = f"{path}[{number}]" if repeated else path
            if isinstance(item, str) and "\x00" in item:
                yield FieldViolation(where, "contains a NUL byte")
            elif isinstance(item, Message):
                yield from _message(item, where)


def _message(item: Message, where: str) -> Iterator[FieldViolation]:
    if item.DESCRIPTOR.full_name == _TIMESTAMP:
        seconds, nanos = getattr(item, "seconds"), getattr(item, "nanos")  # noqa: B009
        if not _EARLIEST <= seconds <= _LATEST or not 0 <= nanos <= 999_999_999:
            yield FieldViolation(where, "a time between the years 1 and 9999")
        return
    yield from violations(item, where + ".")


def _lenient(parse: Callable[[bytes], Any], type_name: str) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:
            return Malformed(type_name, type(exc).__name__)

    return deserialize


async def _refusal(request: Any, context: grpc.aio.ServicerContext) -> None:
    """Aborts with INVALID_ARGUMENT when the request cannot be worked on."""
    if isinstance(request, Malformed):
        found = [FieldViolation("request", f"not a valid {request.type_name} message")]
    else:
        found = list(violations(request))
    if found:
        await context.abort_with_status(to_status(ValidationError(found)))


async def _internal(context: grpc.aio.ServicerContext, method: str) -> None:
    log.exception("unexpected error in %s", method)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error: the server logged it")


def _unary(behaviour: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await _refusal(request, context)
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception:
            await _internal(context, method)

    return call


def _stream(behaviour: Callable[..., AsyncIterator[Any]], method: str) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await _refusal(request, context)
        try:
            async for reply in behaviour(request, context):
                yield reply
        except grpc.aio.AbortError:
            raise
        except Exception:
            await _internal(context, method)

    return call


class RequestGuard(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps the idres service's handlers; health and reflection pass untouched."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or not method.startswith(_SERVICE):
            return handler
        type_name = f"idres.v1.{method.removeprefix(_SERVICE)}Request"
        parse = _lenient(handler.request_deserializer, type_name)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, method),
                request_deserializer=parse,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _stream(handler.unary_stream, method),
                request_deserializer=parse,
                response_serializer=handler.response_serializer,
            )
        return handler
