"""Routing each call to its tenant: the token says which, the tenant's own resolver answers.

Every tenant has a resolver of its own (its schema in the store, its in-memory and faiss
indexes, its model, its outbox follower), so isolation does not rest on a filter that a query
could forget. The router is a generic handler: it reads the call's bearer token, refuses a
missing or unknown one (UNAUTHENTICATED) or one without the method's scope
(PERMISSION_DENIED), and otherwise hands the call to the tenant's servicer. Health checks and
reflection are other services, answered without a token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import grpc

from idres.resolver.domain.errors import IdresError
from idres.resolver.resolution import Resolver
from idres.resolver.transport.access import TokenFile, bearer, scope_of
from idres.v1 import identity_pb2_grpc

log = logging.getLogger(__name__)
_PREFIX = "/idres.v1.IdentityService/"


class _Registry:
    """Collects the handlers the generated code registers for one servicer."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # the same handlers arrive below, by name

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.handlers.update({f"/{service}/{name}": h for name, h in handlers.items()})


def method_handlers(servicer: identity_pb2_grpc.IdentityServiceServicer) -> dict[str, Any]:
    registry = _Registry()
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, registry)
    return registry.handlers


class Tenants:
    """The open tenants; one named for the first time is opened then (its schema is created
    and migrated, its indexes built), which holds that call for as long."""

    def __init__(
        self,
        primary: str,
        resolver: Resolver,
        open_resolver: Callable[[str], Resolver],
        servicer: Callable[[Resolver], identity_pb2_grpc.IdentityServiceServicer],
    ) -> None:
        """`resolver` is `primary`'s, the tenant a server without tokens serves."""
        self.primary = primary
        self._open, self._servicer = open_resolver, servicer
        self._lock = threading.Lock()
        self._started = False
        self.resolvers: dict[str, Resolver] = {}
        self.handlers: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        self._add(primary, resolver)

    def _add(self, tenant: str, resolver: Resolver) -> None:
        self.handlers[tenant] = method_handlers(self._servicer(resolver))
        self.resolvers[tenant] = resolver
        if self._started:
            resolver.start_sync()

    def of(self, tenant: str) -> dict[str, grpc.RpcMethodHandler]:
        """The handlers of `tenant`'s servicer, opening the tenant on first use."""
        handlers = self.handlers.get(tenant)
        if handlers is not None:
            return handlers
        with self._lock:
            if tenant not in self.handlers:
                log.info("opening tenant %s", tenant)
                self._add(tenant, self._open(tenant))
            return self.handlers[tenant]

    def start(self) -> None:
        with self._lock:
            self._started = True
            for resolver in self.resolvers.values():
                resolver.start_sync()

    def close(self) -> None:
        with self._lock:
            for resolver in self.resolvers.values():
                resolver.close()


def _refusal(template: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> Any:
    """A handler shaped like `template` that refuses the call without reading it."""

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)
        yield  # pragma: no cover (abort raises)

    def empty(_data: bytes) -> Any:
        return template.request_deserializer(b"")

    if template.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream, request_deserializer=empty, response_serializer=template.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        unary, request_deserializer=empty, response_serializer=template.response_serializer
    )


class TenantRouter(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, tenants: Tenants, tokens: TokenFile | None) -> None:
        self.tenants, self.tokens = tenants, tokens

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = details.method
        template = self.tenants.handlers[self.tenants.primary].get(method)
        if template is None:
            return None  # another service (health, reflection) or an unknown method
        if self.tokens is None:
            return template
        token = bearer(details.invocation_metadata)
        if token is None:
            return _refusal(
                template,
                grpc.StatusCode.UNAUTHENTICATED,
                "send a bearer token: authorization: Bearer TOKEN",
            )
        grant = self.tokens.grant(token)
        if grant is None:
            return _refusal(template, grpc.StatusCode.UNAUTHENTICATED, "the token is not valid")
        scope = scope_of(method)
        if scope not in grant.scopes:
            name = method.removeprefix(_PREFIX)
            return _refusal(
                template,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{name} needs the {scope} scope; the token has {', '.join(sorted(grant.scopes))}",
            )
        try:
            return self.tenants.of(grant.tenant)[method]
        except Exception as exc:  # a tenant whose schema cannot be opened now
            log.exception("cannot open tenant %s", grant.tenant)
            reason = str(exc) if isinstance(exc, IdresError) else "the server logged why"
            return _refusal(
                template,
                grpc.StatusCode.UNAVAILABLE,
                f"tenant {grant.tenant} cannot be opened: {reason}"[:1000],
            )
