"""The resolver: validation, linking and the index wired together, shared by gRPC and batch.

`observe` writes through one PostgreSQL transaction; `resolve` reads the in-memory index only.
Both run the same decision (the active match model's `decide_scored`, or the deterministic
rules' `decide` when no model is trained), so a lookup answers what an observation would do.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from opentelemetry import trace

from idres.resolver import tracing
from idres.resolver.adapters.database import Database, open_database
from idres.resolver.adapters.erasure_store import suppression_key as erasure_key
from idres.resolver.adapters.identity_index import RECORDS_PER_CUSTOMER, IdentityIndex
from idres.resolver.adapters.review_store import queue_review
from idres.resolver.adapters.store import RETRYABLE, CustomerView, Store, Transaction
from idres.resolver.domain.erasure import record_digests, sealed
from idres.resolver.domain.errors import (
    ConflictError,
    FieldViolation,
    NotFoundError,
    PreconditionError,
    UnavailableError,
    ValidationError,
)
from idres.resolver.domain.events import ChangeEvent, EventType, flagged_payload, linked_payload
from idres.resolver.domain.identifiers import Identifier, IdentifierStatus
from idres.resolver.domain.linking import (
    DEFAULT_POLICY,
    Decision,
    LinkPolicy,
    Plan,
    ValueState,
    decide,
    holdings,
    newly_shared,
    reviewed,
)
from idres.resolver.domain.matching import (
    DEFAULT_THRESHOLDS,
    Candidate,
    Matcher,
    Thresholds,
)
from idres.resolver.domain.normalize import NormalizationRules
from idres.resolver.domain.profiles import Profile
from idres.resolver.domain.records import (
    Flagged,
    Query,
    Record,
    parse_query,
    parse_record,
    redacted,
    warnings,
)
from idres.resolver.domain.scoring import Features, features
from idres.resolver.serving import ModelSwitch, Serving, ServingOptions
from idres.resolver.settings import Settings

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


class Outcome(StrEnum):
    CREATED = "created"
    LINKED = "linked"
    MERGED = "merged"
    ALREADY_OBSERVED = "already_observed"


@dataclass(frozen=True, slots=True)
class Observation:
    """What `observe` did with one record."""

    customer_id: str
    outcome: Outcome
    absorbed: tuple[str, ...]
    statuses: dict[Identifier, IdentifierStatus]
    plan: Plan | None
    record_id: str = ""
    flagged: tuple[Flagged, ...] = ()
    """The record's fields kept as given but not used to link."""
    model_version: str = ""
    """The model that decided (and that the record's links name)."""


class Resolver:
    def __init__(
        self,
        db: Database,
        *,
        rules: NormalizationRules,
        policy: LinkPolicy = DEFAULT_POLICY,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        use_model: bool = True,
        vectors: bool = True,
        sync_interval_s: float = 0.5,
        event_retention_days: float = 0.0,
        suppression_key: str = "",
    ) -> None:
        """`event_retention_days`: change events older than this are pruned while the sync
        runs; 0 keeps them. `suppression_key`: the key erased values are hashed with (the
        store's own when empty)."""
        self.db = db
        self.store = Store(db)
        self.suppression_key = erasure_key(self.store, suppression_key)
        self.rules = rules
        self.policy = policy
        self.thresholds = thresholds
        keep = timedelta(days=event_retention_days) if event_retention_days > 0 else None
        options = ServingOptions(thresholds, policy, use_model, vectors, sync_interval_s, keep)
        self._models = ModelSwitch(self.store, options)

    @property
    def serving(self) -> Serving:
        """The model deciding now, with its index: read it once per call, since a newly
        activated model replaces it whole (see `idres.resolver.serving`)."""
        return self._models.serving

    @property
    def index(self) -> IdentityIndex:
        return self.serving.index

    @property
    def matcher(self) -> Matcher | None:
        return self.serving.matcher

    @property
    def model_version(self) -> str:
        return self.serving.version

    @classmethod
    def from_settings(cls, settings: Settings, *, durable: bool = True) -> Resolver:
        """`durable=False` is for bulk loads: see `Database`."""
        db = open_database(
            settings.database_url,
            settings.data_dir,
            pool_size=settings.pool_size,
            durable=durable,
            tenant=settings.tenant,
            apply_migrations=settings.migrate_on_start,
        )
        rules = settings.normalization_rules
        return cls(
            db,
            rules=rules,
            thresholds=settings.thresholds,
            use_model=settings.use_model,
            vectors=settings.vector_index,
            sync_interval_s=settings.sync_interval_s,
            event_retention_days=settings.event_retention_days,
            suppression_key=settings.suppression_key,
        )

    def start_sync(self) -> None:
        """Follows other replicas' writes and newly activated models; a batch job that is the
        only writer needs none."""
        self._models.start()

    def close(self) -> None:
        self._models.close()
        self.db.close()

    # --- write path -------------------------------------------------------------------

    def observe_values(self, values: Mapping[str, str]) -> Observation:
        return self.observe(parse_record(values, self.rules))

    def observe(self, record: Record) -> Observation:
        with tracing.span("idres.observe") as span:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    result = self._observe_once(record)
                except RETRYABLE:
                    span.add_event("retry", {"attempt": attempt})
                    time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
                    continue
                span.set_attribute("idres.outcome", result.outcome)
                return result
        raise UnavailableError("too much write contention; retry the call")

    def _observe_once(self, record: Record) -> Observation:
        with tracing.span("idres.database", tracing.DATABASE), self.store.transaction() as tx:
            idents = [o.identifier for o in record.identifiers]
            tx.lock_keys([f"record|{record.record_id}", *(i.key for i in idents)])
            digests = record_digests(self.suppression_key, record)
            seen, suppressed = tx.recall(record.record_id, list(digests))
            if suppressed:
                record = self._without_erased(record, digests, suppressed)
                idents = [o.identifier for o in record.identifiers]
            if seen is not None:
                return self._repeat(tx, record, *seen)
            row = features(record)
            serving = self.serving  # one model decides and is named in the links
            plan, states = self._plan(tx, record, idents, row, serving)
            shared = newly_shared(record.query, states, plan, self.policy)
            observation = self._apply(tx, record, row, plan, states, shared, serving.version)
            events = tx.events
        self.publish(events)
        return observation

    def _without_erased(
        self,
        record: Record,
        digests: Mapping[str, Identifier | Flagged | None],
        suppressed: set[str],
    ) -> Record:
        """The record without the values an erasure suppressed; refused when it is itself an
        erased record."""
        erased = [digests[d] for d in suppressed if d in digests]
        if None in erased:
            raise PreconditionError(
                f"record {record.record_id!r} was erased on request; lift its suppression"
                " (idres forget --lift --record ID) to observe it again"
            )
        values = [e for e in erased if e is not None]
        return redacted(record, values, sealed(self.suppression_key, record.fingerprint))

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        """This replica's own committed events reach its index now, not at the next poll."""
        self._models.publish(list(events))

    def _repeat(self, tx: Transaction, record: Record, customer: str, fp: str) -> Observation:
        if fp != record.fingerprint:
            raise ConflictError(
                f"record {record.record_id!r} was observed before with other content"
            )
        live = tx.lock_customers([customer]).get(customer) or customer
        states = tx.value_states([o.identifier for o in record.identifiers])
        statuses = _statuses(record, states)
        return Observation(
            live,
            Outcome.ALREADY_OBSERVED,
            (),
            statuses,
            None,
            record.record_id,
            record.flagged,
            self.model_version,
        )

    def _plan(
        self,
        tx: Transaction,
        record: Record,
        idents: list[Identifier],
        row: Features,
        serving: Serving,
    ) -> tuple[Plan, dict[Identifier, ValueState]]:
        if serving.matcher is None:
            with tracing.span("idres.retrieval"):
                states, profiles = self._locked_view(tx, idents, set())
            with tracing.span("idres.scoring"):
                return decide(record.query, states, profiles, self.policy), states
        # Weak candidates come from the index (it may trail other replicas by a sync interval);
        # their profiles and records are then read, locked, from the store.
        with tracing.span("idres.retrieval") as retrieval:
            _, near = serving.index.candidates(idents, row)
            states, profiles = self._locked_view(tx, idents, {c.customer_id for c in near})
            rows = tx.record_features(profiles)
            candidates = [
                Candidate(profiles[c], sorted(rows[c])[:RECORDS_PER_CUSTOMER])
                for c in sorted(profiles)
            ]
            retrieval.set_attribute("idres.candidates", len(candidates))
        with tracing.span("idres.scoring"):
            return serving.matcher.decide(record.query, row, states, candidates), states

    @staticmethod
    def _locked_view(
        tx: Transaction, idents: list[Identifier], weak: set[str]
    ) -> tuple[dict[Identifier, ValueState], dict[str, Profile]]:
        """Value states with every holder and weak candidate row-locked and live; re-reads after
        a racing merge, following it to the survivor."""
        while True:
            states = tx.value_states(idents)
            holders = {h for s in states.values() for h in s.holders}
            locked = tx.lock_customers(holders | weak)
            if all(locked.get(h) is None and h in locked for h in holders | weak):
                return states, tx.profiles(holders | weak)
            weak = {locked[w] or w for w in weak if w in locked}

    def _apply(
        self,
        tx: Transaction,
        record: Record,
        row: Features,
        plan: Plan,
        states: dict[Identifier, ValueState],
        shared: tuple[Identifier, ...],
        version: str,
    ) -> Observation:
        if plan.target is None:
            target = tx.create_customer(record.record_id)
            outcome = Outcome.CREATED
            tx.emit(EventType.CREATED, target, {})
        else:
            target = plan.target
            outcome = Outcome.MERGED if plan.absorbed else Outcome.LINKED
        for absorbed in plan.absorbed:
            tx.merge(absorbed, target)
        if plan.absorbed:
            tx.emit(EventType.MERGED, target, {"absorbed": list(plan.absorbed)})
        tx.insert_record(record, target)
        if plan.decision is Decision.POSSIBLE_MATCH:
            queue_review(tx, record.record_id, target, reviewed(plan))
        tx.add_links(record.record_id, plan.joined_links(), plan.absorbed, version)
        held = self._classify(tx, record, shared, states, target)
        tx.emit(EventType.LINKED, target, linked_payload(record, held, row))
        tx.flush()
        statuses = _statuses(record, states, shared)
        return Observation(
            target,
            outcome,
            plan.absorbed,
            statuses,
            plan,
            record.record_id,
            record.flagged,
            version,
        )

    @staticmethod
    def _classify(
        tx: Transaction,
        record: Record,
        shared: tuple[Identifier, ...],
        states: dict[Identifier, ValueState],
        target: str,
    ) -> tuple[Identifier, ...]:
        """Stores each value's status; returns the active values the target now holds."""
        result = holdings(record.query, states, shared)
        for ident, status in result.flags:
            tx.set_status(ident, status)
            tx.emit(EventType.FLAGGED, target, flagged_payload(ident, status))
        tx.activate(result.fresh)
        tx.add_holders(result.held, target)
        return result.held

    # --- read path --------------------------------------------------------------------

    def resolve_values(self, values: Mapping[str, str]) -> Plan:
        return self.resolve(self.query(values))

    def query(self, values: Mapping[str, str]) -> Query:
        """A lookup as this deployment's rules read it: a bad field is flagged and the lookup
        answered on the others. Raises ValidationError when every field given is bad."""
        channel = values.get("channel")
        if channel:  # recorded in traces only
            trace.get_current_span().set_attribute("idres.channel", channel[:100])
        query = parse_query(values, self.rules)
        if query.flagged and not query.identifiers and query.attributes.empty:
            raise ValidationError(warnings(query.flagged))
        return query

    def lookup(self, query: Query) -> tuple[Plan, str]:
        """The plan and the version of the model that made it, taken together: a model
        switch between deciding and answering cannot name the wrong one."""
        serving = self.serving
        return self.resolve(query, serving), serving.version

    def resolve(self, query: Query, serving: Serving | None = None) -> Plan:
        serving = serving or self.serving
        idents = [o.identifier for o in query.identifiers]
        if serving.matcher is None:
            with tracing.span("idres.retrieval"):
                states, profiles = serving.index.lookup(idents)
            with tracing.span("idres.scoring"):
                return decide(query, states, profiles, self.policy)
        row: Features = features(query)
        with tracing.span("idres.retrieval") as retrieval:
            states, candidates = serving.index.candidates(idents, row)
            retrieval.set_attribute("idres.candidates", len(candidates))
        with tracing.span("idres.scoring"):
            return serving.matcher.decide(query, row, states, candidates)

    def customer(self, customer_id: str) -> tuple[CustomerView, str]:
        """The live customer for an id or alias, and the id asked for."""
        if not customer_id.strip():
            raise ValidationError([FieldViolation("customer_id", "required")])
        with tracing.span("idres.database", tracing.DATABASE):
            view = self.store.customer(customer_id.strip())
        if view is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        return view, customer_id.strip()


def _statuses(
    record: Record,
    states: Mapping[Identifier, ValueState],
    newly_shared: tuple[Identifier, ...] = (),
) -> dict[Identifier, IdentifierStatus]:
    out = {}
    for observed in record.identifiers:
        ident = observed.identifier
        if ident in newly_shared:
            out[ident] = IdentifierStatus.SHARED
        elif ident in states:
            out[ident] = states[ident].status
        else:
            out[ident] = (
                IdentifierStatus.PLACEHOLDER if observed.placeholder else IdentifierStatus.ACTIVE
            )
    return out


def is_match(plan: Plan) -> bool:
    return plan.decision is Decision.MATCH
