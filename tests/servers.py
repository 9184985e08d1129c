"""A real server on a loopback port for the length of a `with`: the tests' one way to serve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import grpc

from idres.resolver.settings import Settings
from idres.resolver.transport.server import create_server
from idres.v1 import identity_pb2_grpc as rpc

Serve = Callable[[str], AbstractContextManager[rpc.IdentityServiceStub]]


@contextmanager
def serving(database_url: str, data_dir: Path) -> Iterator[rpc.IdentityServiceStub]:
    settings = Settings(
        database_url=database_url, data_dir=data_dir, host="127.0.0.1", port=0, sync_interval_s=0.05
    )
    server = create_server(settings)
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            yield rpc.IdentityServiceStub(channel)
    finally:
        server.stop(grace=0)
