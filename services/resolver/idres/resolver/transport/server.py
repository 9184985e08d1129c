"""The server factory: `create_server(settings)` builds a real server that tests start on port 0."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from idres.resolver.resolution import Resolver
from idres.resolver.settings import Settings
from idres.resolver.transport.servicer import IdentityServicer
from idres.v1 import identity_pb2, identity_pb2_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Connections are recycled so that new replicas behind a load balancer get traffic."""
    return [
        ("grpc.max_connection_age_ms", settings.max_connection_age_s * 1000),
        ("grpc.max_connection_age_grace_ms", 30_000),
        ("grpc.so_reuseport", 1),
    ]


class IdresServer:
    """A gRPC server bound to its resolver; `stop` drains calls, then closes the database."""

    def __init__(self, settings: Settings, resolver: Resolver) -> None:
        self.settings = settings
        self.resolver = resolver
        self.health = health.HealthServicer()
        self.grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="rpc"),
            options=server_options(settings),
        )
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(
            IdentityServicer(resolver), self.grpc
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.grpc
        )
        self.port = self.grpc.add_insecure_port(settings.address)
        if self.port == 0:
            raise OSError(f"cannot bind {settings.address}")

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    def start(self) -> None:
        self.resolver.start_sync()
        self.grpc.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving idres.v1 on %s", self.address)

    def wait(self) -> None:
        self.grpc.wait_for_termination()

    def stop(self, grace: float | None = None) -> None:
        self.health.enter_graceful_shutdown()
        self.grpc.stop(self.settings.shutdown_grace_s if grace is None else grace).wait()
        self.resolver.close()
        log.info("stopped")


def create_server(settings: Settings, resolver: Resolver | None = None) -> IdresServer:
    return IdresServer(settings, resolver or Resolver.from_settings(settings))
