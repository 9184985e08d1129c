"""Change events: every change to a customer, in the order the store wrote it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from idres.resolver.domain.identifiers import Identifier, IdentifierStatus
from idres.resolver.domain.profiles import Profile
from idres.resolver.domain.records import Record
from idres.resolver.domain.scoring import Features

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class EventType(StrEnum):
    CREATED = "created"
    LINKED = "linked"
    MERGED = "merged"
    FLAGGED = "flagged"
    SPLIT = "split"
    OVERRIDDEN = "overridden"
    FORGOTTEN = "forgotten"
    MODEL_ACTIVATED = "model_activated"
    """Internal: a model was made active (see `adapters.model_store`). It names no customer
    (its customer id is empty) and `WatchChanges` never sends it."""


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One outbox row. Payloads carry what a replica needs to update its index."""

    id: int
    type: EventType
    customer_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    """When it was committed; read back from the store, None before."""


def new_customer_id() -> str:
    """`cus_` and a ULID-style body: sortable by creation time, unguessable, URL-safe."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    body = "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
    return f"cus_{body}"


def linked_payload(record: Record, held: Iterable[Identifier], row: Features) -> dict[str, Any]:
    """A `linked` event: what a replica's index needs of the record (its attributes, the values
    its customer now holds, its model features without the empty ones)."""
    a = record.attributes
    return {
        "record_id": record.record_id,
        "attributes": [a.given_name, a.surname, a.dob.isoformat() if a.dob else None],
        "holds": [[i.kind.value, i.value] for i in held],
        "features": {k: v for k, v in row.items() if v is not None},
    }


def flagged_payload(ident: Identifier, status: IdentifierStatus) -> dict[str, Any]:
    return {"kind": ident.kind.value, "value": ident.value, "status": status.value}


def profile_payload(profile: Profile) -> dict[str, Any]:
    """A customer's whole profile, for an event that rebuilds it (a split's two parts)."""
    return {
        "given_names": sorted(profile.given_names),
        "surnames": sorted(profile.surnames),
        "dobs": sorted(d.isoformat() for d in profile.dobs),
        "holds": sorted([i.kind.value, i.value] for i in profile.identifiers),
        "marks": sorted([o, side] for o, side in profile.marks),
    }


@dataclass(frozen=True, slots=True)
class Change:
    """A change to a customer as channel systems are told of it: ids only, no personal data."""

    cursor: str
    type: EventType
    customer_id: str
    at: datetime | None
    absorbed: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    new_customer_id: str = ""
    override_id: int = 0


def change_of(event: ChangeEvent) -> Change | None:
    """The customer change an outbox event announces; None for one about a value alone (a
    value flagged shared) or about the model, which change no customer."""
    if event.type in (EventType.FLAGGED, EventType.MODEL_ACTIVATED):
        return None
    p = event.payload
    records = p.get("records", [p["record_id"]] if "record_id" in p else [])
    return Change(
        cursor=str(event.id),
        type=event.type,
        customer_id=event.customer_id,
        at=event.at,
        absorbed=tuple(p.get("absorbed", ())),
        record_ids=tuple(records),
        new_customer_id=str(p.get("into", "")),
        override_id=int(p.get("override", 0)),
    )
