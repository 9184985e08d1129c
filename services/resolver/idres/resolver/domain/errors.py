"""One error hierarchy for idres; the transport maps each class to a gRPC status in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field: `field` is a path such as `record.email`."""

    field: str
    description: str


class IdresError(Exception):
    """Base of every error idres raises on purpose."""


class InvalidValue(ValueError):  # noqa: N818 (named for what it is: an invalid value)
    """A single value cannot be normalized; the caller knows which field it came from."""


class ValidationError(IdresError):
    """A request or row is invalid; nothing was written."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class NotFoundError(IdresError):
    """The thing asked for does not exist."""


class ConflictError(IdresError):
    """The request contradicts what is stored (a record id re-used with other content)."""


class UnavailableError(IdresError):
    """A dependency (the database) cannot be reached; retrying later may succeed."""


class PreconditionError(IdresError):
    """The system is not in the state the call needs (no trained model); retrying will not help
    until someone acts (runs `idres train`)."""


class OutOfRangeError(IdresError):
    """A position asked for is no longer kept (a change-stream cursor older than retention)."""


class DeadlineError(IdresError):
    """The caller's deadline passed before the work began: it is not done at all."""
