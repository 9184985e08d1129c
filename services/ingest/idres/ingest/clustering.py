"""Batch clustering that decides exactly as the online resolver does, without a database.

Records are taken in time order and each one goes through the resolver's own candidate
retrieval (`IdentityIndex`: strong identifiers, the model's blocking keys, faiss) and its own
decision (`decide_scored`): the same vetoes, sure links, thresholds and direct-evidence merges.
The outcome is applied to the index as the change events `Observe` would have written, so a
batch run and a stream through `Observe` agree record for record, up to the order of ties.

Splink's connected components would join every pair above the threshold, and one weak link
then glues two people together; deciding record by record is what keeps households apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.adapters.record_index import RecordIndex
from idres.resolver.adapters.store import Snapshot
from idres.resolver.domain.events import ChangeEvent, EventType, flagged_payload, linked_payload
from idres.resolver.domain.linking import (
    DEFAULT_POLICY,
    Decision,
    Holdings,
    Link,
    LinkPolicy,
    Plan,
    holdings,
    newly_shared,
    reviewed,
)
from idres.resolver.domain.matching import (
    DEFAULT_THRESHOLDS,
    Matcher,
    Scorer,
    Thresholds,
    guarded,
)
from idres.resolver.domain.records import Record
from idres.resolver.domain.scoring import Features, MatchModel, features


@dataclass(slots=True)
class Kept:
    """Everything a run decided, in order: what a bulk load writes to the store."""

    events: list[ChangeEvent] = field(default_factory=list)
    created: list[tuple[str, int, str]] = field(default_factory=list)
    """(customer, seq, founding record) of each new customer."""
    merges: list[tuple[str, str]] = field(default_factory=list)
    """(absorbed, survivor at the time)."""
    links: list[tuple[str, Link, bool]] = field(default_factory=list)
    """(record, the link it made, whether the link merged the linked customer)."""
    reviews: list[tuple[str, str, list[Link]]] = field(default_factory=list)
    """(record, the customer it started, its candidates) of each possible match: it waits
    for a person, as it does after `Observe`."""

    def keep(self, record: Record, plan: Plan, target: str, events: list[ChangeEvent]) -> None:
        self.events.extend(events)
        for event in events:
            if event.type is EventType.CREATED:
                self.created.append((target, int(event.payload["seq"]), record.record_id))
        self.merges.extend((absorbed, target) for absorbed in plan.absorbed)
        self.links.extend(
            (record.record_id, lk, lk.customer_id in plan.absorbed) for lk in plan.joined_links()
        )
        if plan.decision is Decision.POSSIBLE_MATCH:
            self.reviews.append((record.record_id, target, reviewed(plan)))


@dataclass(slots=True)
class ClusterCounts:
    """What the clustering did, for the closing summary."""

    created: int = 0
    linked: int = 0
    merged: int = 0
    possible: int = 0
    """Records that fit two customers about equally and started their own."""
    absorbed: int = 0
    """Customers merged into others."""
    most_candidates: int = 0
    """The most candidate customers one record was scored against: bounded by the retrieval's
    limit however hot a value is."""

    def add(self, other: ClusterCounts) -> None:
        """Adds the counts of another share of the records."""
        self.created += other.created
        self.linked += other.linked
        self.merged += other.merged
        self.possible += other.possible
        self.absorbed += other.absorbed
        self.most_candidates = max(self.most_candidates, other.most_candidates)

    def count(self, plan: Plan, candidates: int) -> None:
        self.most_candidates = max(self.most_candidates, candidates)
        if plan.target is None:
            self.created += 1
            self.possible += plan.decision is Decision.POSSIBLE_MATCH
        elif plan.absorbed:
            self.merged += 1
            self.absorbed += len(plan.absorbed)
        else:
            self.linked += 1


class StreamClusterer:
    """The online resolver's decisions over records held in memory, one record at a time."""

    def __init__(
        self,
        model: Mapping[str, Any],
        version: str,
        *,
        facts: Mapping[str, Any] | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        policy: LinkPolicy = DEFAULT_POLICY,
        vectors: bool = True,
        snapshot: Snapshot | None = None,
        new_id: Callable[[], str] | None = None,
        keep: bool = False,
    ) -> None:
        """`snapshot` starts from what a store holds (its customers keep their ids); `new_id`
        names new customers; `keep` keeps every event and link for writing them out."""
        match_model = MatchModel.from_splink(model)
        records = RecordIndex.for_model(match_model, facts or {}, vectors=vectors)
        if snapshot is None:
            self.index = IdentityIndex(records)
        else:
            self.index = IdentityIndex.from_snapshot(snapshot, records)
        scorer = Scorer(match_model, version, records.tf)
        self.matcher = Matcher(scorer, thresholds, guarded(policy, match_model))
        self.counts = ClusterCounts()
        self._owner: dict[str, str] = {}
        self._seq = max((seq for _, seq in snapshot.customers), default=0) if snapshot else 0
        self._new_id = new_id or (lambda: f"c{self._seq}")
        self._event = 0
        self.kept: Kept | None = Kept() if keep else None
        self.last_plan: Plan | None = None
        """The plan of the record added last: reports read its evidence."""

    def add(self, record: Record) -> str:
        """Decides and applies one record; returns the customer it joined (live at the time)."""
        row = features(record)
        idents = [o.identifier for o in record.identifiers]
        states, candidates = self.index.candidates(idents, row)
        plan = self.matcher.decide(record.query, row, states, candidates)
        self.counts.count(plan, len(candidates))
        self.last_plan = plan
        shared = newly_shared(record.query, states, plan, self.matcher.policy)
        target = plan.target or self._new_customer()
        events = self._events(record, row, plan, target, holdings(record.query, states, shared))
        self.index.apply(events)
        self._owner[record.record_id] = target
        if self.kept is not None:
            self.kept.keep(record, plan, target, events)
        return target

    def clusters(self) -> Iterator[tuple[str, str]]:
        """(record_id, customer) for every record added, merges followed."""
        for record_id, customer in self._owner.items():
            yield record_id, self.index.canonical(customer) or customer

    def _new_customer(self) -> str:
        self._seq += 1
        return self._new_id()

    def _events(
        self, record: Record, row: Features, plan: Plan, target: str, held: Holdings
    ) -> list[ChangeEvent]:
        events: list[ChangeEvent] = []
        if plan.target is None:
            events.append(self._make(EventType.CREATED, target, {"seq": self._seq}))
        if plan.absorbed:
            events.append(self._make(EventType.MERGED, target, {"absorbed": list(plan.absorbed)}))
        for ident, status in held.flags:
            events.append(self._make(EventType.FLAGGED, target, flagged_payload(ident, status)))
        events.append(self._make(EventType.LINKED, target, linked_payload(record, held.held, row)))
        return events

    def _make(self, type_: EventType, customer: str, payload: dict[str, Any]) -> ChangeEvent:
        self._event += 1
        return ChangeEvent(self._event, type_, customer, payload)
