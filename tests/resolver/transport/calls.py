"""Calls the transport tests share: one Observe, and the field violations of an error."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc


def observe(stub: rpc.IdentityServiceStub, record_id: str, **fields: Any) -> pb.ObserveResponse:
    response: pb.ObserveResponse = stub.Observe(
        pb.ObserveRequest(record=pb.Record(record_id=record_id, **fields)), timeout=10
    )
    return response


def violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None
    found = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        found.update({v.field: v.description for v in bad.field_violations})
    return found
