"""Deterministic linking: which customer a record or a query belongs to, and why.

One pure function serves both paths, so `Resolve` answers exactly what `Observe` would do.
Strong identifiers link; weak attributes only veto (a different birth date or given name means
another person) or corroborate. Policies stop over-merging:
- placeholder and shared values never link;
- a value that can be shared by a household (phone, device) links only when nothing says the
  holder is someone else (a different loyalty card or handle on the same platform);
- several customers are merged only when none contradicts the survivor, so one record cannot
  glue a household or a store's shoppers together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.names import given_names_may_meet
from idres.resolver.domain.profiles import Profile, contradict, corroborate, profile_of, slot
from idres.resolver.domain.records import Query
from idres.resolver.domain.scoring import Contribution

RULES_VERSION = "deterministic-1"


class Decision(StrEnum):
    MATCH = "match"
    POSSIBLE_MATCH = "possible_match"
    NO_MATCH = "no_match"


class EvidenceOutcome(StrEnum):
    MATCHED = "matched"
    UNKNOWN = "unknown"
    PLACEHOLDER = "placeholder"
    SHARED = "shared"
    CONTRADICTED = "contradicted"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class ValueState:
    """The stored state of one identifier value: its status and the customers holding it."""

    status: IdentifierStatus = IdentifierStatus.ACTIVE
    holders: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    shareable: frozenset[IdentifierKind] = frozenset(
        {IdentifierKind.PHONE, IdentifierKind.DEVICE_ID}
    )
    """Kinds a household or a shop may share: they need the holder not to be someone else."""

    exclusive: frozenset[IdentifierKind] = frozenset(
        {IdentifierKind.LOYALTY_CARD, IdentifierKind.SOCIAL_HANDLE}
    )
    """Kinds where holding another value hints at another person."""

    max_holders: Mapping[IdentifierKind, int] = field(
        default_factory=lambda: {
            IdentifierKind.EMAIL: 2,
            IdentifierKind.PHONE: 4,
            IdentifierKind.SOCIAL_HANDLE: 2,
            IdentifierKind.DEVICE_ID: 4,
            IdentifierKind.LOYALTY_CARD: 2,
        }
    )
    """Distinct customers a value may have before it is flagged shared and stops linking."""

    sole_holder: frozenset[IdentifierKind] = frozenset(
        {IdentifierKind.PHONE, IdentifierKind.DEVICE_ID}
    )
    """Shareable kinds that link as a personal identifier does while one customer alone holds
    the value and nothing contradicts it, nor a value of the record's own of a personal kind
    (another email, card or handle than the customer's: a household's tablet, each member
    logged in as themselves; `matching`). A match model underrates them: its chance that two
    people share a value is counted over records, and one person's many records inflate it."""

    household_guard: bool = True
    """Whether a differing given name or date of birth vetoes a model link (`matching`);
    `guarded` sets it from the model."""


DEFAULT_POLICY = LinkPolicy()


@dataclass(frozen=True, slots=True)
class Evidence:
    identifier: Identifier
    outcome: EvidenceOutcome
    customer_ids: tuple[str, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class Link:
    """How well the query fits one candidate customer, by the match model."""

    customer_id: str
    record_id: str
    """The customer's record that fits best; the model's evidence is about this pair."""
    match_weight: float
    probability: float
    contributions: tuple[Contribution, ...]
    sure: bool
    """A personal identifier (email, handle, card) matched and nothing contradicts it."""
    veto: str
    """Why the customer cannot be the query's person, or ""."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with a record; `target` None means a new customer."""

    decision: Decision
    target: str | None
    absorbed: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    others: tuple[str, ...]
    links: tuple[Link, ...] = ()
    """The model's view of each candidate, the decided customer's first; empty for the rules."""

    @property
    def best(self) -> Link | None:
        return self.links[0] if self.links and not self.links[0].veto else None

    def joined_links(self) -> tuple[Link, ...]:
        """The links to the customers the record joins or merges: the chain Explain walks."""
        if self.target is None:
            return ()
        joined = {self.target, *self.absorbed}
        return tuple(
            lk for lk in self.links if lk.customer_id in joined and not lk.veto and lk.record_id
        )


@dataclass(slots=True)
class Scan:
    """The query's identifiers judged one by one: evidence, and the holders they accept."""

    mine: Profile
    """The query as a profile, its usable identifiers included."""
    accepted: dict[str, list[Identifier]] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    sole: set[Identifier] = field(default_factory=set)
    """Accepted values that one customer alone holds."""


def decide(
    query: Query,
    states: Mapping[Identifier, ValueState],
    profiles: Mapping[str, Profile],
    policy: LinkPolicy = DEFAULT_POLICY,
) -> Plan:
    """Decides the customer for `query` from the states of its values and their holders."""
    scan = scan_identifiers(query, states, profiles, policy)
    if not scan.accepted:
        return Plan(Decision.NO_MATCH, None, (), tuple(scan.evidence), ())
    ranks = {c: _rank(c, scan.accepted[c], profiles, policy) for c in scan.accepted}
    ranked = sorted(ranks, key=ranks.__getitem__)
    merged = _mergeable(ranked, profiles)
    others = tuple(c for c in ranked if c not in merged)
    if others and ranks[others[0]][:2] == ranks[ranked[0]][:2]:
        # Two people fit equally well: guessing would attach the record to the wrong one.
        return Plan(Decision.POSSIBLE_MATCH, None, (), tuple(scan.evidence), tuple(ranked))
    survivor = min(merged, key=lambda c: profiles[c].seq)
    absorbed = tuple(sorted(c for c in merged if c != survivor))
    evidence = _settle(scan.evidence, set(merged)) if others else tuple(scan.evidence)
    return Plan(Decision.MATCH, survivor, absorbed, evidence, others)


def scan_identifiers(
    query: Query,
    states: Mapping[Identifier, ValueState],
    profiles: Mapping[str, Profile],
    policy: LinkPolicy = DEFAULT_POLICY,
) -> Scan:
    mine = profile_of(query.attributes)
    mine.identifiers = {o.identifier for o in query.identifiers if not o.placeholder}
    scan = Scan(mine)
    for observed in query.identifiers:
        ident = observed.identifier
        state = states.get(ident, ValueState())
        if observed.placeholder or state.status is IdentifierStatus.PLACEHOLDER:
            scan.evidence.append(Evidence(ident, EvidenceOutcome.PLACEHOLDER, (), "placeholder"))
            continue
        if state.status is IdentifierStatus.SHARED:
            detail = f"shared by more than {policy.max_holders[ident.kind]} people"
            scan.evidence.append(Evidence(ident, EvidenceOutcome.SHARED, (), detail))
            continue
        scan.evidence.append(_judge(ident, state.holders, mine, profiles, policy, scan))
    return scan


def _judge(
    ident: Identifier,
    holders: frozenset[str],
    mine: Profile,
    profiles: Mapping[str, Profile],
    policy: LinkPolicy,
    scan: Scan,
) -> Evidence:
    if not holders:
        return Evidence(ident, EvidenceOutcome.UNKNOWN, (), "no customer holds it")
    fits, reasons = [], []
    for holder in sorted(holders):
        reason = _veto(ident, mine, profiles[holder], policy)
        if reason:
            reasons.append(f"{holder}: {reason}")
        else:
            fits.append(holder)
            scan.accepted.setdefault(holder, []).append(ident)
    if fits:
        if len(holders) == 1:
            scan.sole.add(ident)
        return Evidence(ident, EvidenceOutcome.MATCHED, tuple(fits), "exact match")
    return Evidence(ident, EvidenceOutcome.CONTRADICTED, tuple(sorted(holders)), "; ".join(reasons))


def _veto(ident: Identifier, mine: Profile, holder: Profile, policy: LinkPolicy) -> str:
    """Why the holder of `ident` is not the person in `mine`, or ""."""
    reason = contradict(mine, holder)
    if reason or ident.kind not in policy.shareable or corroborate(mine, holder):
        return reason
    for other in mine.identifiers:
        if other.kind in policy.exclusive and other not in holder.identifiers:
            held = [i for i in holder.identifiers if slot(i) == slot(other)]
            if held:
                return f"holds another {other.kind.value.replace('_', ' ')}"
    return ""


def _rank(
    customer: str, matched: list[Identifier], profiles: Mapping[str, Profile], policy: LinkPolicy
) -> tuple[int, int, int]:
    """Best first: more personal identifiers, then more identifiers, then the older customer."""
    personal = sum(1 for i in matched if i.kind not in policy.shareable)
    return (-personal, -len(matched), profiles[customer].seq)


def _mergeable(ranked: list[str], profiles: Mapping[str, Profile]) -> list[str]:
    """Grows the merge set from the best candidate, admitting only non-contradicting ones."""
    group = [ranked[0]]
    if len(ranked) == 1:
        return group
    combined = Profile("", 0)
    combined.absorb(profiles[ranked[0]])
    for candidate in ranked[1:]:
        if not contradict(combined, profiles[candidate]):
            group.append(candidate)
            combined.absorb(profiles[candidate])
    return group


def _settle(evidence: list[Evidence], merged: set[str]) -> tuple[Evidence, ...]:
    """Matches that point only at customers left out become conflicts."""
    settled = []
    for item in evidence:
        if item.outcome is EvidenceOutcome.MATCHED and not merged.intersection(item.customer_ids):
            item = Evidence(
                item.identifier,
                EvidenceOutcome.CONFLICT,
                item.customer_ids,
                "held by another customer that contradicts the match",
            )
        settled.append(item)
    return tuple(settled)


def newly_shared(
    query: Query,
    states: Mapping[Identifier, ValueState],
    plan: Plan,
    policy: LinkPolicy = DEFAULT_POLICY,
) -> tuple[Identifier, ...]:
    """Values whose holder count, once `plan` is carried out, exceeds their kind's limit.

    Only writing needs this, so `decide` leaves it out of the read path."""
    survivor, absorbed = plan.target, plan.absorbed
    flagged = []
    for observed in query.identifiers:
        state = states.get(observed.identifier, ValueState())
        if observed.placeholder or state.status is not IdentifierStatus.ACTIVE:
            continue
        holders = set(state.holders) - set(absorbed)
        holders.add(survivor or "\x00new")
        if len(holders) > policy.max_holders[observed.identifier.kind]:
            flagged.append(observed.identifier)
    return tuple(flagged)


@dataclass(frozen=True, slots=True)
class Holdings:
    """What carrying out a plan does to the record's values."""

    held: tuple[Identifier, ...]
    """Active values the customer now holds."""
    fresh: tuple[Identifier, ...]
    """Values seen for the first time."""
    flags: tuple[tuple[Identifier, IdentifierStatus], ...]
    """Values that stop linking: newly shared, or placeholders seen for the first time."""


def holdings(
    query: Query,
    states: Mapping[Identifier, ValueState],
    shared: tuple[Identifier, ...],
    known: Mapping[Identifier, ValueState] | None = None,
) -> Holdings:
    """Classifies each of the record's values once its plan is carried out; `known` holds the
    values the store already has a row for (defaults to `states`)."""
    rows = states if known is None else known
    held: list[Identifier] = []
    fresh: list[Identifier] = []
    flags: list[tuple[Identifier, IdentifierStatus]] = []
    for observed in query.identifiers:
        ident = observed.identifier
        state = rows.get(ident)
        if ident in shared:
            flags.append((ident, IdentifierStatus.SHARED))
        elif observed.placeholder:
            if state is None or state.status is not IdentifierStatus.PLACEHOLDER:
                flags.append((ident, IdentifierStatus.PLACEHOLDER))
        elif state is None or state.status is IdentifierStatus.ACTIVE:
            if state is None:
                fresh.append(ident)
            held.append(ident)
    return Holdings(tuple(held), tuple(fresh), tuple(flags))


SPARE_NAMES = 1
"""Given names a value may be seen with beyond its kind's holder limit before `crowded` calls
it shared: one person's name is sometimes written as something else (the surname, a handle)."""


def crowded(queries: Iterable[Query], policy: LinkPolicy = DEFAULT_POLICY) -> frozenset[Identifier]:
    """Values seen with more given names, none a variant of another, than their kind's holder
    limit allows (`SPARE_NAMES` aside): a store's own card or phone, typed in for customers
    who have none. A whole file shows it at once; decided one record at a time, the records
    with no name that come first would all join the card's first holder."""
    seen: dict[Identifier, str | set[str]] = {}
    for query in queries:
        given = query.attributes.given_name
        if not given:
            continue
        for observed in query.identifiers:
            if observed.placeholder:
                continue
            names = seen.setdefault(observed.identifier, given)
            if isinstance(names, set):
                names.add(given)
            elif names != given:  # most values only ever see one name: keep it as text
                seen[observed.identifier] = {names, given}
    return frozenset(
        ident
        for ident, names in seen.items()
        if isinstance(names, set)
        and _distinct(names) > policy.max_holders[ident.kind] + SPARE_NAMES
    )


def _distinct(names: set[str]) -> int:
    """Names that are not typos, prefixes or nicknames of one another."""
    kept: list[str] = []
    for name in sorted(names):
        if not any(given_names_may_meet(name, other) for other in kept):
            kept.append(name)
    return len(kept)


def reviewed(plan: Plan) -> list[Link]:
    """The customers a possible match may belong to, best first: the model's links, or the
    rules' bare candidates."""
    links = [lk for lk in plan.links if not lk.veto]
    if links:
        return links
    return [Link(c, "", -float("inf"), 0.0, (), False, "") for c in plan.others]
