"""A server deciding with the trained model, for the transport tests that need one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from idres.resolver.settings import Settings
from idres.resolver.transport.server import create_server
from idres.v1 import identity_pb2_grpc as rpc


@pytest.fixture
def model_stub(with_model: str, tmp_path: Path) -> Iterator[rpc.IdentityServiceStub]:
    """A server deciding with the trained model."""
    settings = Settings(
        database_url=with_model, data_dir=tmp_path, host="127.0.0.1", port=0, sync_interval_s=0.05
    )
    server = create_server(settings)
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            yield rpc.IdentityServiceStub(channel)
    finally:
        server.stop(grace=0)
