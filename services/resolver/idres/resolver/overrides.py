"""Operator overrides: `MergeCustomers`, `SplitCustomer`, `idres merge` and `idres split`.

An override is the operator's word against the evidence, and it lasts: a merge's customers
stay one (the online path never splits a customer by itself, and a batch run joins them again),
and a split's parts stay apart, because every later decision, online and in batch, is vetoed
where it would join them (`domain.overrides`). Each is kept with who, when and why, and
announced in the outbox, so every replica applies it without a restart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from idres.resolver.adapters.override_store import Member, OverrideRows, read_overrides
from idres.resolver.adapters.store import RETRYABLE, Transaction
from idres.resolver.domain.errors import (
    FieldViolation,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from idres.resolver.domain.events import EventType, profile_payload
from idres.resolver.domain.overrides import Override, OverrideKind, split_parts
from idres.resolver.domain.profiles import Profile
from idres.resolver.domain.records import Attributes
from idres.resolver.resolution import MAX_ATTEMPTS, Resolver

T = TypeVar("T")
Also = Callable[[Transaction, int], None] | None
"""More work for an override's transaction, given the override's id."""
MAX_REASON = 2000
"""Characters of a reason; a longer one is refused, not cut."""
MAX_IDS = 1000
"""Customers in one merge or records in one split."""
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Merged:
    customer_id: str
    """The survivor: the oldest of the customers."""
    absorbed: tuple[str, ...]
    """The other customers' ids, which now resolve to the survivor."""
    override_id: int | None
    """None when the ids already named one customer: nothing was done."""
    lifted: tuple[int, ...] = ()
    """Earlier splits this merge overruled."""


@dataclass(frozen=True, slots=True)
class Split:
    customer_id: str
    """The customer the named records now belong to."""
    rest_customer_id: str
    """The customer of the other records."""
    new_customer_id: str
    """Whichever of the two is new: the smaller part gets the new id."""
    override_id: int
    moved: tuple[str, ...]
    """The records that changed customer."""


class Overrides:
    """Merges and splits by an operator, on the resolver's store and index."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.store = resolver.store

    def merge(
        self, customer_ids: Sequence[str], *, reason: str, actor: str = "", also: Also = None
    ) -> Merged:
        """`also` runs in the same transaction with the override's id (a review's decision)."""
        wanted = _ids("customer_ids", customer_ids)
        checked = checked_reason(reason), checked_actor(actor)
        if len(set(wanted)) < 2:
            raise ValidationError([FieldViolation("customer_ids", "name at least two customers")])
        return retrying(lambda: self._merge(wanted, *checked, also))

    def apart(
        self, first: str, second: str, *, reason: str, actor: str = "", also: Also = None
    ) -> int:
        """Keeps two customers apart from now on, moving nothing: a split between their records
        as they stand. Returns the override's id."""
        wanted = _ids("customer_ids", [first, second])
        checked = checked_reason(reason), checked_actor(actor)
        return retrying(lambda: self._apart(wanted, *checked, also))

    def split(
        self, customer_id: str, record_ids: Sequence[str], *, reason: str, actor: str = ""
    ) -> Split:
        if not customer_id.strip():
            raise ValidationError([FieldViolation("customer_id", "required")])
        named = _ids("record_ids", record_ids)
        checked = checked_reason(reason), checked_actor(actor)
        return retrying(lambda: self._split(customer_id.strip(), named, *checked))

    def all(self, *, active_only: bool = False) -> list[Override]:
        return read_overrides(self.store, active_only=active_only)

    def _apart(self, wanted: list[str], reason: str, actor: str, also: Also) -> int:
        with self.store.transaction() as tx:
            live = lock_live(tx, wanted)
            first, second = live[wanted[0]], live[wanted[-1]]
            if first == second:
                raise ValidationError(
                    [FieldViolation("customer_ids", "they are one customer: split it instead")]
                )
            rows = OverrideRows(tx)
            oid = rows.next_id()
            sides = (tuple(rows.record_ids([first])), tuple(rows.record_ids([second])))
            kind = OverrideKind.SPLIT
            rows.add(Override(oid, kind, actor, reason, _now(), sides, (first, second)))
            marks = {first: [[oid, 0]], second: [[oid, 1]]}
            for customer in (first, second):
                tx.emit(EventType.OVERRIDDEN, customer, _announced(oid, kind, marks=marks))
            if also is not None:
                also(tx, oid)
            events = tx.flush()
        self.resolver.publish(events)
        return oid

    def _merge(self, wanted: list[str], reason: str, actor: str, also: Also) -> Merged:
        with self.store.transaction() as tx:
            customers = sorted(set(lock_live(tx, wanted).values()))
            if len(customers) < 2:
                return Merged(customers[0], (), None)
            profiles = tx.profiles(customers)
            survivor = min(customers, key=lambda c: profiles[c].seq)
            absorbed = tuple(c for c in customers if c != survivor)
            marks = set().union(*(p.marks for p in profiles.values()))
            lifted = tuple(sorted({o for o, side in marks if (o, 1 - side) in marks}))
            rows = OverrideRows(tx)
            oid = rows.next_id()
            records = tuple(rows.record_ids(customers))
            kind = OverrideKind.MERGE
            rows.add(Override(oid, kind, actor, reason, _now(), (records,), (survivor,)))
            for gone in absorbed:
                tx.merge(gone, survivor)
            rows.lift(lifted, oid)
            tx.emit(EventType.MERGED, survivor, {"absorbed": list(absorbed), "override": oid})
            tx.emit(EventType.OVERRIDDEN, survivor, _announced(oid, kind, lifted=list(lifted)))
            if also is not None:
                also(tx, oid)
            events = tx.flush()
        self.resolver.publish(events)
        return Merged(survivor, absorbed, oid, lifted)

    def _split(self, asked: str, named: list[str], reason: str, actor: str) -> Split:
        with self.store.transaction() as tx:
            live = lock_live(tx, [asked])[asked]
            rows = OverrideRows(tx)
            members = rows.members(live)
            _check_split(live, [m.record_id for m in members], named)
            founding = rows.founding(live)
            kept, moved, named_moved = split_parts([m.record_id for m in members], named, founding)
            new = tx.create_customer(moved[0])
            if founding in moved:
                tx.write(
                    "UPDATE customers SET founding_record_id = %s WHERE id = %s", (kept[0], live)
                )
            tx.emit(EventType.CREATED, new, {})
            oid = rows.next_id()
            merges = rows.merges_across(kept, moved)
            rows.leave_merges(merges, moved)
            rows.move(moved, new, (live, new))
            kind = OverrideKind.SPLIT
            rows.add(Override(oid, kind, actor, reason, _now(), (kept, moved), (live, new)))
            parts = {live: _part(members, kept, (oid, 0)), new: _part(members, moved, (oid, 1))}
            payload = {
                "into": new,
                "records": list(moved),
                "override": oid,
                "profiles": {cid: profile_payload(p) for cid, p in parts.items()},
            }
            tx.emit(EventType.SPLIT, live, payload)
            tx.emit(EventType.OVERRIDDEN, live, _announced(oid, kind, left=merges))
            events = tx.flush()
        self.resolver.publish(events)
        mine, rest = (new, live) if named_moved else (live, new)
        return Split(mine, rest, new, oid, moved)


def lock_live(tx: Transaction, asked: Sequence[str]) -> dict[str, str]:
    """Each asked id's live customer, row-locked; follows a merge that races the lock."""
    while True:
        found = tx.lock_customers(asked)
        missing = sorted(set(asked) - found.keys())
        if missing:
            raise NotFoundError(f"no customer {missing[0]!r}")
        live = {a: found[a] or a for a in asked}
        locked = tx.lock_customers(live.values())
        if all(locked.get(c, "") is None for c in live.values()):
            return live


def _check_split(customer: str, members: list[str], named: list[str]) -> None:
    held = set(members)
    foreign = [r for r in named if r not in held]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise ValidationError(
            [FieldViolation("record_ids", f"{foreign[0]!r} is not a record of {customer}{more}")]
        )
    if held <= set(named):
        raise ValidationError(
            [FieldViolation("record_ids", "names every record of the customer; leave some")]
        )


def _part(members: list[Member], records: Sequence[str], mark: tuple[int, int]) -> Profile:
    """A part's profile as the index rebuilds it: names, dates, linking values and marks."""
    chosen = set(records)
    profile = Profile("", 0, marks={mark})
    for m in members:
        if m.record_id in chosen:
            profile.add(Attributes(m.given_name, m.surname, m.dob))
            profile.identifiers.update(m.holds)
            profile.marks.update(m.marks)
    return profile


def _announced(override: int, kind: OverrideKind, **changes: object) -> dict[str, object]:
    return {"override": override, "kind": kind.value, **changes}


def _ids(name: str, values: Sequence[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if not cleaned:
        raise ValidationError([FieldViolation(name, "required")])
    if len(cleaned) > MAX_IDS:
        raise ValidationError([FieldViolation(name, f"at most {MAX_IDS} in one call")])
    for number, value in enumerate(cleaned):
        if not value:
            raise ValidationError([FieldViolation(f"{name}[{number}]", "empty")])
    return list(dict.fromkeys(cleaned))


def checked_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationError([FieldViolation("reason", "required: say why, for the audit")])
    if len(text) > MAX_REASON:
        raise ValidationError([FieldViolation("reason", f"at most {MAX_REASON} characters")])
    return text


def checked_actor(actor: str) -> str:
    text = actor.strip()
    if len(text) > 200:
        raise ValidationError([FieldViolation("actor", "at most 200 characters")])
    return text or ANONYMOUS


def _now() -> datetime:
    return datetime.now(UTC)


def retrying(call: Callable[[], T]) -> T:
    """Runs a write again after a deadlock or serialization failure, as `observe` does."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return call()
        except RETRYABLE:
            time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
    raise UnavailableError("too much write contention; retry the call")
