"""A server deciding with the trained model, for the transport tests that need one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idres.v1 import identity_pb2_grpc as rpc
from tests.servers import Serve


@pytest.fixture
def model_stub(with_model: str, serve: Serve) -> Iterator[rpc.IdentityServiceStub]:
    """A server deciding with the trained model."""
    with serve(with_model) as stub:
        yield stub
