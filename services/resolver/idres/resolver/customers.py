"""`GetCustomer`: the customer's records, profile and timeline, read in one snapshot."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from idres.resolver import tracing
from idres.resolver.adapters.store import CustomerView, StoredRecord
from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.domain.portrait import Best, Seen, best_profile, timeline
from idres.resolver.resolution import Resolver

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class CustomerPage:
    view: CustomerView
    requested: str
    profile: dict[str, Best]
    timeline: list[Seen]
    next_token: str
    """Where the next page of the timeline starts; empty on the last."""


class Customers:
    def __init__(self, resolver: Resolver, priority: Sequence[str] = ()) -> None:
        """`priority`: channels whose values the profile prefers, most trusted first."""
        self.resolver = resolver
        self.priority = tuple(priority)

    def get(self, customer_id: str, page_size: int = 0, page_token: str = "") -> CustomerPage:
        size = _page_size(page_size)
        after = _position(page_token)
        view, requested = self.resolver.customer(customer_id)
        with tracing.span("idres.profile", {"idres.records": len(view.records)}):
            seen = [_seen(r) for r in view.records]
            page, more = timeline(seen, size, after)
            profile = best_profile(seen, view.statuses, self.priority)
        return CustomerPage(view, requested, profile, page, _token(more) if more else "")


def _seen(record: StoredRecord) -> Seen:
    idents = tuple(i for i, placeholder in record.identifiers if not placeholder)
    return Seen(
        record.record_id, record.channel, record.ts, record.attributes, idents, record.flagged
    )


def _page_size(size: int) -> int:
    if size < 0 or size > MAX_PAGE_SIZE:
        raise ValidationError(
            [FieldViolation("timeline_page_size", f"0 (for {PAGE_SIZE}) to {MAX_PAGE_SIZE}")]
        )
    return size or PAGE_SIZE


def _token(position: tuple[datetime, str]) -> str:
    ts, record_id = position
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{record_id}".encode()).decode()


def _position(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        ts, _, record_id = text.partition("|")
        return datetime.fromisoformat(ts), record_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError(
            [FieldViolation("timeline_page_token", "not a token from a previous page")]
        ) from None
