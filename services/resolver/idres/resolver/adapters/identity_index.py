"""The in-memory identity index: what `Resolve` reads, so no SQL runs on the read path.

It mirrors the store's identifier states, holders, customer profiles and aliases, and through
its `RecordIndex` every record's model features, for the match model's candidates. It is built
from one snapshot and kept current by applying change events, its own process's right after
commit and other replicas' from the outbox. Applying an event twice changes nothing, so
replaying a window of events is always safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from idres.resolver.adapters.record_index import RecordIndex
from idres.resolver.adapters.store import Snapshot
from idres.resolver.domain.events import ChangeEvent, EventType
from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.linking import ValueState
from idres.resolver.domain.matching import Candidate
from idres.resolver.domain.overrides import Mark
from idres.resolver.domain.profiles import Profile
from idres.resolver.domain.records import Attributes

RECORDS_PER_CUSTOMER = 32
"""A candidate customer is scored against at most this many of its records (by record id),
online and in batch alike, so that a customer with hundreds of records costs no more."""
CANDIDATES = 24
"""At most this many customers are scored for one record, besides every holder of its values."""


def _ident(kind: str, value: str) -> Identifier:
    return Identifier(IdentifierKind(kind), value)


class IdentityIndex:
    def __init__(self, records: RecordIndex | None = None) -> None:
        self._lock = threading.Lock()
        self.records = records if records is not None else RecordIndex(vectors=False)
        self._status: dict[Identifier, IdentifierStatus] = {}
        self._holders: dict[Identifier, set[str]] = {}
        self._profiles: dict[str, Profile] = {}
        self._aliases: dict[str, str] = {}

    @classmethod
    def from_snapshot(cls, snap: Snapshot, records: RecordIndex | None = None) -> IdentityIndex:
        index = cls(records)
        index._profiles = {cid: Profile(cid, seq) for cid, seq in snap.customers}
        index._aliases = dict(snap.aliases)
        for cid, given, surname, dob in snap.attributes:
            if cid in index._profiles:
                index._profiles[cid].add(Attributes(given, surname, dob))
        for kind, value, status in snap.statuses:
            index._status[_ident(kind, value)] = IdentifierStatus(status)
        for kind, value, cid in snap.holders:
            ident = _ident(kind, value)
            index._holders.setdefault(ident, set()).add(cid)
            if cid in index._profiles:
                index._profiles[cid].identifiers.add(ident)
        for cid, override, side in snap.marks:
            if cid in index._profiles:
                index._profiles[cid].marks.add((override, side))
        for rid, cid, features in snap.records:
            index.records.add(rid, cid, features)
        index.records.flush()
        return index

    def lookup(
        self, idents: Iterable[Identifier]
    ) -> tuple[dict[Identifier, ValueState], dict[str, Profile]]:
        """States of the values and copies of their holders' profiles, read consistently."""
        with self._lock:
            states, holders = self._states(idents)
            return states, {cid: self._profiles[cid].copy() for cid in holders}

    def candidates(
        self,
        idents: Iterable[Identifier],
        features: Mapping[str, str | None],
        *,
        nearest: int = 10,
        limit: int = CANDIDATES,
        records_per_customer: int = RECORDS_PER_CUSTOMER,
    ) -> tuple[dict[Identifier, ValueState], list[Candidate]]:
        """Value states and the customers worth scoring: every holder of a query value, then
        customers owning records that share a blocking key, then (only when no value is held)
        the owners of the nearest records by weak attributes; at most `limit` in all."""
        with self._lock:
            states, wanted = self._states(idents)
            ordered = dict.fromkeys(sorted(wanted))
            ordered.update(dict.fromkeys(self._owners(sorted(self.records.blocked(features)))))
            if not wanted:
                ordered.update(dict.fromkeys(self._owners(self.records.nearest(features, nearest))))
            chosen = [c for c in ordered if c in self._profiles][: max(limit, len(wanted))]
            found = [
                Candidate(
                    self._profiles[cid].copy(), self.records.records_of(cid, records_per_customer)
                )
                for cid in chosen
            ]
        return states, found

    def _owners(self, record_ids: Iterable[str]) -> Iterable[str]:
        return (self._live(self.records.owner(rid)) for rid in record_ids)

    def _states(
        self, idents: Iterable[Identifier]
    ) -> tuple[dict[Identifier, ValueState], set[str]]:
        states: dict[Identifier, ValueState] = {}
        everyone: set[str] = set()
        for ident in idents:
            status = self._status.get(ident, IdentifierStatus.ACTIVE)
            holders = {self._live(c) for c in self._holders.get(ident, ())}
            holders &= self._profiles.keys()
            states[ident] = ValueState(status, frozenset(holders))
            everyone |= holders
        return states, everyone

    def canonical(self, customer_id: str) -> str | None:
        with self._lock:
            live = self._live(customer_id)
            return live if live in self._profiles else None

    def _live(self, customer_id: str) -> str:
        """Follows merges: an alias chain is short, each merge adds one hop at most."""
        while customer_id in self._aliases:
            customer_id = self._aliases[customer_id]
        return customer_id

    def counts(self) -> tuple[int, int]:
        """(live customers, known identifier values)."""
        with self._lock:
            return len(self._profiles), len(self._holders.keys() | self._status.keys())

    def apply(self, events: Iterable[ChangeEvent]) -> None:
        """Applies `events` under one hold of the lock, which every lookup waits for: callers
        keep batches short (`EventFollower` applies chunks). An event about no customer (a
        model's activation) changes nothing here."""
        with self._lock:
            for event in events:
                self._apply(event)
            self.records.flush()

    def _apply(self, event: ChangeEvent) -> None:
        if event.type is EventType.MERGED:
            self._merge(event.customer_id, event.payload["absorbed"])
        elif event.type is EventType.FLAGGED:
            if "value" in event.payload:  # an erasure may have taken the value out
                ident = _ident(event.payload["kind"], event.payload["value"])
                self._flag(ident, IdentifierStatus(event.payload["status"]))
        elif event.type is EventType.SPLIT:
            self._split(event)
        elif event.type is EventType.OVERRIDDEN:
            self._lift(set(event.payload.get("lifted", ())))
            for cid, marks in event.payload.get("marks", {}).items():
                if (live := self._live(cid)) in self._profiles:
                    self._profiles[live].marks.update((int(o), int(side)) for o, side in marks)
        elif event.type is EventType.FORGOTTEN:
            self._forget(event)
        elif event.type in (EventType.CREATED, EventType.LINKED):
            self._link(event)

    def _split(self, event: ChangeEvent) -> None:
        """Part of a customer's records move to a new customer; both profiles are rebuilt
        from the event, which holds them whole as the split left them."""
        into = event.payload["into"]
        self.records.relocate(event.payload["records"], into)
        for cid, whole in event.payload["profiles"].items():
            self._rebuild(cid, whole)

    def _forget(self, event: ChangeEvent) -> None:
        """Erased records and values leave the index; the customer keeps what is left, or
        goes when nothing is. The event names no erased value: the index finds them in the
        records it drops and the profile it rebuilds."""
        for record_id in event.payload.get("records", ()):
            self.records.remove(record_id)
        for record_id, columns in event.payload.get("cleared", {}).items():
            self.records.clear(record_id, columns)
        cid = self._live(event.customer_id)
        whole = event.payload.get("profile")
        if whole is not None:
            self._rebuild(cid, whole)
            return
        self._release(cid)
        self._profiles.pop(cid, None)

    def _rebuild(self, cid: str, whole: Mapping[str, Any]) -> None:
        """A customer's profile as an event holds it whole, in place of what the index had."""
        old = self._profiles.get(cid)
        self._release(cid)
        profile = self._profiles[cid] = Profile(cid, old.seq if old else 0)
        profile.given_names = set(whole["given_names"])
        profile.surnames = set(whole["surnames"])
        profile.dobs = {date.fromisoformat(d) for d in whole["dobs"]}
        profile.marks = {(int(o), int(side)) for o, side in whole["marks"]}
        self._hold(profile, Attributes(), (_ident(k, v) for k, v in whole["holds"]))

    def _release(self, cid: str) -> None:
        """The customer holds none of its values any more; a value nobody holds goes."""
        old = self._profiles.get(cid)
        for ident in old.identifiers if old else ():
            holders = self._holders.get(ident)
            if holders is not None:
                holders.discard(cid)
                if not holders:
                    del self._holders[ident]

    def _lift(self, overrides: set[int]) -> None:
        """Lifted splits keep nobody apart any more."""
        if overrides:
            for profile in self._profiles.values():
                if profile.marks:
                    profile.marks = {m for m in profile.marks if m[0] not in overrides}

    def _link(self, event: ChangeEvent) -> None:
        cid = self._live(event.customer_id)
        seq = int(event.payload["seq"]) if "seq" in event.payload else None
        # `created` may arrive after `linked`: only the customer's own event sets its age.
        profile = self._profile(cid, seq if cid == event.customer_id else None)
        given, surname, dob = event.payload.get("attributes", ("", "", None))
        attributes = Attributes(given, surname, date.fromisoformat(dob) if dob else None)
        if "features" in event.payload:
            self.records.add(event.payload["record_id"], cid, event.payload["features"])
        held = (_ident(kind, value) for kind, value in event.payload.get("holds", ()))
        self._hold(profile, attributes, held)

    # The batch clusterer changes the index directly, without events or record features:
    # these are the same steps the events above take, under the same lock.

    def create(self, customer_id: str, seq: int) -> None:
        with self._lock:
            self._profile(customer_id, seq)

    def hold(
        self,
        customer_id: str,
        attributes: Attributes,
        held: Iterable[Identifier],
        marks: Iterable[Mark] = (),
    ) -> None:
        with self._lock:
            profile = self._profile(self._live(customer_id), None)
            self._hold(profile, attributes, held)
            profile.marks.update(marks)

    def flag(self, ident: Identifier, status: IdentifierStatus) -> None:
        with self._lock:
            self._flag(ident, status)

    def merge(self, survivor: str, absorbed: Iterable[str]) -> None:
        with self._lock:
            self._merge(survivor, absorbed)

    def states(self, idents: Iterable[Identifier]) -> tuple[dict[Identifier, ValueState], set[str]]:
        """States of the values, and every live customer holding one of them."""
        with self._lock:
            return self._states(idents)

    def profile(self, customer_id: str) -> Profile:
        """The live profile itself, not a copy: for a caller that holds no other thread."""
        with self._lock:
            return self._profiles[self._live(customer_id)]

    def _profile(self, customer_id: str, seq: int | None) -> Profile:
        profile = self._profiles.get(customer_id)
        if profile is None:
            profile = self._profiles[customer_id] = Profile(customer_id, 0)
        if seq is not None:
            profile.seq = seq
        return profile

    def _hold(self, profile: Profile, attributes: Attributes, held: Iterable[Identifier]) -> None:
        profile.add(attributes)
        for ident in held:
            if self._status.get(ident, IdentifierStatus.ACTIVE) is IdentifierStatus.ACTIVE:
                self._holders.setdefault(ident, set()).add(profile.customer_id)
                profile.identifiers.add(ident)

    def _flag(self, ident: Identifier, status: IdentifierStatus) -> None:
        self._status[ident] = status
        # As in the store: a value that stops linking has no holders.
        for holder in self._holders.pop(ident, ()):
            profile = self._profiles.get(self._live(holder))
            if profile is not None:
                profile.identifiers.discard(ident)

    def _merge(self, survivor: str, absorbed: Iterable[str]) -> None:
        survivor = self._live(survivor)
        target = self._profiles.setdefault(survivor, Profile(survivor, 0))
        for old in absorbed:
            if old == survivor:
                continue
            self._aliases[old] = survivor
            self.records.move(old, survivor)
            gone = self._profiles.pop(old, None)
            if gone is None:
                continue
            target.absorb(gone)
            for ident in gone.identifiers:
                holders = self._holders.get(ident)
                if holders is not None:
                    holders.discard(old)
                    holders.add(survivor)
