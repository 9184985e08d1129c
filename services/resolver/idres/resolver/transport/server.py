"""The server factory: `create_server(settings)` builds a real server that tests start on port 0.

The server is grpc's asyncio server on an event loop of its own thread, so synchronous code
(the CLI, the tests, the batch jobs) drives it with plain calls. Resolve runs on the loop: it
is pure CPU against memory, and skipping a hop to a worker thread is most of what makes it
cheap. Observe and GetCustomer wait on PostgreSQL, so they run on a thread pool.
Health reports the server and IdentityService SERVING while it runs, since Resolve answers from
memory, and `WRITE_HEALTH` (see `readiness`) whether the store answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from idres.resolver.resolution import Resolver
from idres.resolver.settings import Settings
from idres.resolver.transport.access import TokenFile, load_tokens
from idres.resolver.transport.credentials import server_credentials
from idres.resolver.transport.guard import RequestGuard
from idres.resolver.transport.instrumentation import CallTelemetry, ContextPool
from idres.resolver.transport.readiness import WRITE_HEALTH, StoreProbe
from idres.resolver.transport.servicer import IdentityServicer
from idres.resolver.transport.tenancy import TenantRouter, Tenants
from idres.v1 import identity_pb2

log = logging.getLogger(__name__)
SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
T = TypeVar("T")


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Connections are recycled so that new replicas behind a load balancer get traffic."""
    return [
        ("grpc.max_connection_age_ms", settings.max_connection_age_s * 1000),
        ("grpc.max_connection_age_grace_ms", 30_000),
        ("grpc.so_reuseport", 1),
        # Records are small: a message this big is a mistake or an attack, refused before
        # it is parsed (RESOURCE_EXHAUSTED).
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
    ]


class GrpcHost:
    """A `grpc.aio` server with health and reflection, running on its own event-loop thread."""

    def __init__(
        self,
        address: str,
        options: Sequence[tuple[str, int]],
        register: Callable[[grpc.aio.Server], None],
        services: Sequence[str],
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        credentials: grpc.ServerCredentials | None = None,
        checks: Sequence[str] = (),
    ) -> None:
        """`checks`: health names beyond `services` (parts of one, such as its write path),
        reported like them but not listed by reflection, which lists services only."""
        self.services = tuple(services)
        self.checks = tuple(checks)
        self._interceptors = list(interceptors)
        self.credentials = credentials
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="grpc-loop", daemon=True
        )
        self._thread.start()
        self.health = HealthServicer()
        self.server, self.port = self._run(self._build(address, options, register))

    async def _build(
        self,
        address: str,
        options: Sequence[tuple[str, int]],
        register: Callable[[grpc.aio.Server], None],
    ) -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(options=list(options), interceptors=self._interceptors)
        register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (*self.services, HEALTH_SERVICE, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)
        if self.credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, self.credentials)
        if port == 0:
            raise OSError(f"cannot bind {address}")
        return server, port

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def start(self) -> None:
        self._run(self.server.start())
        for name in ("", *self.services, *self.checks):
            self.set_serving(name, True)

    def set_serving(self, name: str, serving: bool) -> None:
        """Reports `name` SERVING or NOT_SERVING; ignored once shutdown began, so a draining
        server stays NOT_SERVING."""
        status = health_pb2.HealthCheckResponse.NOT_SERVING
        if serving:
            status = health_pb2.HealthCheckResponse.SERVING
        if self._loop.is_running():
            self._run(self.health.set(name, status))

    def stop(self, grace: float) -> None:
        """Reports NOT_SERVING, lets in-flight calls finish for `grace` seconds, then stops."""
        if not self._loop.is_running():
            return
        self._run(self.health.enter_graceful_shutdown())
        self._run(self.server.stop(grace))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class IdresServer:
    """The idres gRPC server bound to its resolver; `stop` drains calls, then closes the store."""

    def __init__(
        self,
        settings: Settings,
        resolver: Resolver,
        credentials: grpc.ServerCredentials | None = None,
        tokens: TokenFile | None = None,
        telemetry: CallTelemetry | None = None,
    ) -> None:
        """`resolver` serves `settings.tenant`; the tokens' other tenants open their own.
        `credentials`: TLS (None serves plaintext); `tokens`: None serves without auth;
        `telemetry`: the calls' spans and metrics (None: the global providers')."""
        self.settings = settings
        self.resolver = resolver
        self.executor = ContextPool(max_workers=settings.max_workers, thread_name_prefix="rpc")
        self.tokens = tokens
        self.tenants = Tenants(settings.tenant, resolver, self._open_tenant, self._servicer)
        for tenant in sorted(self.tokens.tenants() if self.tokens else ()):
            self.tenants.of(tenant)
        router = TenantRouter(self.tenants, self.tokens)
        self.host = GrpcHost(
            settings.address,
            server_options(settings),
            lambda server: server.add_generic_rpc_handlers((router,)),
            (SERVICE_NAME,),
            # Outermost, so it sees every refusal of the guard.
            (telemetry or CallTelemetry(), RequestGuard()),
            credentials,
            (WRITE_HEALTH,),
        )
        self.port = self.host.port
        # Tenants' stores are schemas of the same database: probing the default one is enough.
        self.probe = StoreProbe(resolver.db.reachable, self._report_store)

    def _report_store(self, reachable: bool) -> None:
        self.host.set_serving(WRITE_HEALTH, reachable)
        if not reachable:
            log.warning("%s is NOT_SERVING until PostgreSQL answers", WRITE_HEALTH)

    def _open_tenant(self, tenant: str) -> Resolver:
        return Resolver.from_settings(replace(self.settings, tenant=tenant))

    def _servicer(self, resolver: Resolver) -> IdentityServicer:
        settings = self.settings
        return IdentityServicer(
            resolver,
            self.executor,
            settings.sync_interval_s,
            settings.channel_priority,
            settings.pool_wait_s,
        )

    @property
    def tls(self) -> bool:
        return self.host.credentials is not None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    def start(self) -> None:
        self.tenants.start()
        self.host.start()
        self.probe.start()
        log.info("serving idres.v1 on %s", self.address)

    def stop(self, grace: float | None = None) -> None:
        self.probe.stop()  # before the loop it reports on stops
        self.host.stop(self.settings.shutdown_grace_s if grace is None else grace)
        self.executor.shutdown(wait=True)
        self.tenants.close()
        log.info("stopped")


def create_server(
    settings: Settings, resolver: Resolver | None = None, *, telemetry: CallTelemetry | None = None
) -> IdresServer:
    """The server of `settings`; certificates and tokens are read before the store is opened,
    so a mistake in them fails at once."""
    credentials = server_credentials(settings)
    tokens = load_tokens(settings.auth_tokens_file, settings.auth_token_key)
    opened = resolver is None
    resolver = resolver or Resolver.from_settings(settings)
    try:
        return IdresServer(settings, resolver, credentials, tokens, telemetry)
    except BaseException:
        if opened:
            resolver.close()
        raise
