"""The one place where idres errors become gRPC statuses."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from idres.resolver.domain.errors import (
    ConflictError,
    DeadlineError,
    IdresError,
    NotFoundError,
    OutOfRangeError,
    PreconditionError,
    UnavailableError,
    ValidationError,
)
from idres.v1 import identity_pb2 as pb

_CODES: list[tuple[type[IdresError], int]] = [
    (ValidationError, code_pb2.INVALID_ARGUMENT),
    (NotFoundError, code_pb2.NOT_FOUND),
    (ConflictError, code_pb2.ALREADY_EXISTS),
    (PreconditionError, code_pb2.FAILED_PRECONDITION),
    (UnavailableError, code_pb2.UNAVAILABLE),
    (OutOfRangeError, code_pb2.OUT_OF_RANGE),
    (DeadlineError, code_pb2.DEADLINE_EXCEEDED),
]


MAX_MESSAGE = 1000
"""Characters of an error message: one that echoes a huge id must still fit gRPC's metadata."""


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def to_status(error: IdresError) -> grpc.Status:
    """A rich status: field violations travel as `google.rpc.BadRequest` details."""
    code = next((c for cls, c in _CODES if isinstance(error, cls)), code_pb2.INTERNAL)
    status = status_pb2.Status(code=code, message=_short(str(error)))
    if isinstance(error, ValidationError):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=_short(v.field), description=_short(v.description)
                    )
                    for v in error.violations
                ]
            )
        )
        status.details.append(detail)
    return rpc_status.to_status(status)


def record_error(error: IdresError) -> pb.RecordError:
    """The status of one record of a batch, as `to_status` would give it for the whole call."""
    code = next((c for cls, c in _CODES if isinstance(error, cls)), code_pb2.INTERNAL)
    violations = error.violations if isinstance(error, ValidationError) else []
    return pb.RecordError(
        code=code_pb2.Code.Name(code),
        message=_short(str(error)),
        field_violations=[
            pb.FieldViolation(field=_short(v.field), description=_short(v.description))
            for v in violations
        ],
    )
