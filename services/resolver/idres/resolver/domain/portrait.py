"""The customer as an agent sees them: the best value of each field, and the contacts' timeline.

The best value of a field is chosen among the customer's records by one rule, field by field:

1. a valid value over one kept only as given (a mistyped phone), and a personal value over one
   many people share (a store's phone); placeholders never;
2. the channel the deployment trusts most (`IDRES_CHANNEL_PRIORITY`, first listed first;
   channels it does not list come after, alike);
3. the most recent record;
4. the value seen on the most records;
5. the smallest record id, so that the answer never depends on read order.

A name is a record's given name and surname together, so the profile never pairs one person's
given name with another's surname; a record with both beats one with a part only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.records import Attributes, Flagged

PROFILE_FIELDS = ("name", "email", "phone", "postcode", "dob")


@dataclass(frozen=True, slots=True)
class Seen:
    """One record as the profile reads it."""

    record_id: str
    channel: str
    ts: datetime
    attributes: Attributes
    identifiers: tuple[Identifier, ...]
    flagged: tuple[Flagged, ...] = ()


@dataclass(frozen=True, slots=True)
class Best:
    """The value chosen for one field, and the record it came from."""

    field: str
    value: str
    record_id: str
    channel: str
    ts: datetime
    valid: bool = True
    """False for a value kept as given because it did not validate."""
    records: int = 1
    """Records that hold this value."""


@dataclass(frozen=True, slots=True)
class _Offer:
    value: str
    record: Seen
    rank: int
    """0 valid and personal, 1 valid but shared, 2 kept as given (invalid)."""


def best_profile(
    records: Sequence[Seen],
    statuses: Mapping[Identifier, IdentifierStatus],
    priority: Sequence[str] = (),
) -> dict[str, Best]:
    """The best value of each profile field that any record holds."""
    order = {channel.lower(): n for n, channel in enumerate(priority)}
    offers: dict[str, list[_Offer]] = {name: [] for name in PROFILE_FIELDS}
    for record in records:
        for name, offer in _offers(record, statuses):
            offers[name].append(offer)
    chosen = {name: _choose(name, found, order) for name, found in offers.items() if found}
    return {name: best for name, best in chosen.items() if best is not None}


def _offers(
    record: Seen, statuses: Mapping[Identifier, IdentifierStatus]
) -> Iterable[tuple[str, _Offer]]:
    a = record.attributes
    if a.given_name or a.surname:
        both = 0 if a.given_name and a.surname else 1
        yield "name", _Offer(" ".join(p for p in (a.given_name, a.surname) if p), record, both)
    if a.postcode:
        yield "postcode", _Offer(a.postcode, record, 0)
    if a.dob:
        yield "dob", _Offer(a.dob.isoformat(), record, 0)
    for ident in record.identifiers:
        name = _FIELD.get(ident.kind)
        status = statuses.get(ident, IdentifierStatus.ACTIVE)
        if name and status is not IdentifierStatus.PLACEHOLDER:
            yield name, _Offer(ident.value, record, 0 if status is IdentifierStatus.ACTIVE else 1)
    for flagged in record.flagged:
        if flagged.field in ("email", "phone", "postcode", "dob") and flagged.raw.strip():
            yield flagged.field, _Offer(flagged.raw.strip(), record, 2)


_FIELD = {IdentifierKind.EMAIL: "email", IdentifierKind.PHONE: "phone"}


def _choose(name: str, offers: list[_Offer], order: Mapping[str, int]) -> Best | None:
    counts = Counter(o.value for o in offers)
    unlisted = len(order)

    def key(o: _Offer) -> tuple[int, int, float, int, str]:
        channel = order.get(o.record.channel.lower(), unlisted)
        return (o.rank, channel, -o.record.ts.timestamp(), -counts[o.value], o.record.record_id)

    best = min(offers, key=key)
    r = best.record
    return Best(name, best.value, r.record_id, r.channel, r.ts, best.rank < 2, counts[best.value])


def timeline(
    records: Sequence[Seen], size: int, after: tuple[datetime, str] | None = None
) -> tuple[list[Seen], tuple[datetime, str] | None]:
    """Contacts newest first, a page of `size` after the position `after`; and the position
    to continue from, or None at the end."""
    ordered = sorted(records, key=lambda r: (r.ts, r.record_id), reverse=True)
    if after is not None:
        ordered = [r for r in ordered if (r.ts, r.record_id) < after]
    page = ordered[:size]
    more = len(ordered) > size
    return page, ((page[-1].ts, page[-1].record_id) if more else None)
