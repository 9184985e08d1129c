"""The channel every verb that calls a server opens: TLS and a bearer token when configured."""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from idres.resolver.settings import Settings


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Adds `authorization: Bearer TOKEN` to every call; works on plaintext channels too,
    which call credentials do not."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> _Details:
        metadata = [*(details.metadata or ()), self._header]
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details), request)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS when a CA or a client certificate is configured; None means plaintext."""
    if not (settings.tls_ca_file or settings.tls_client_cert_file):
        return None

    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(settings.tls_ca_file),
        private_key=read(settings.tls_client_key_file),
        certificate_chain=read(settings.tls_client_cert_file),
    )


def open_channel(target: str, settings: Settings) -> grpc.Channel:
    """A channel to `target` with the settings' TLS and token."""
    credentials = channel_credentials(settings)
    if credentials is None:
        channel = grpc.insecure_channel(target)
    else:
        channel = grpc.secure_channel(target, credentials)
    if settings.token:
        return grpc.intercept_channel(channel, BearerToken(settings.token))
    return channel
