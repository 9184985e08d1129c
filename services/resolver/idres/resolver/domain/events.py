"""Change events: every change to a customer, in the order the store wrote it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class EventType(StrEnum):
    CREATED = "created"
    LINKED = "linked"
    MERGED = "merged"
    FLAGGED = "flagged"


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One outbox row. Payloads carry what a replica needs to update its index."""

    id: int
    type: EventType
    customer_id: str
    payload: dict[str, Any] = field(default_factory=dict)


def new_customer_id() -> str:
    """`cus_` and a ULID-style body: sortable by creation time, unguessable, URL-safe."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    body = "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
    return f"cus_{body}"
