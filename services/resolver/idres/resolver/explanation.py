"""Explain: why two stored records, or two customers, are or are not one customer.

Two kinds of evidence answer it. The chain is history: the links the resolver recorded as
records were observed, walked from one record to the other. The direct comparison is the
active model's view of the two records today, which may differ: the two may have been joined
through others, and term frequencies move as records arrive. A customer stands for the record
whose observation created it (an alias too: its founding record now lives in the survivor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from opentelemetry import trace

from idres.resolver.adapters.link_store import LinkReader, LinkStore, RecordView
from idres.resolver.domain.chain import RecordLink, shortest_chain, weakest
from idres.resolver.domain.errors import (
    FieldViolation,
    NotFoundError,
    PreconditionError,
    ValidationError,
)
from idres.resolver.domain.linking import Link, LinkPolicy
from idres.resolver.domain.matching import Scorer, Thresholds
from idres.resolver.domain.profiles import contradict, profile_of
from idres.resolver.resolution import Resolver

tracer = trace.get_tracer("idres.resolver")


class SubjectKind(StrEnum):
    RECORDS = "records"
    CUSTOMERS = "customers"


_ID_FIELD = {SubjectKind.RECORDS: "record_id", SubjectKind.CUSTOMERS: "customer_id"}


@dataclass(frozen=True, slots=True)
class Subject:
    """What to explain: two record ids, or two customer ids (or aliases)."""

    kind: SubjectKind
    left: str
    right: str


@dataclass(frozen=True, slots=True)
class Explanation:
    same_customer: bool
    left: RecordView
    right: RecordView
    """The records compared: those asked for, or the customers' founding records."""
    chain: tuple[RecordLink, ...]
    """The recorded links from the left record to the right one; empty when they are the
    same record, belong to different customers, or no recorded links join them."""
    direct: Link
    """The active model's comparison of the left record with the right one."""
    summary: str
    model_version: str


def explain(resolver: Resolver, subject: Subject | None) -> Explanation:
    """Raises ValidationError for a missing subject or id, PreconditionError without an active
    model, NotFoundError for an unknown record or customer."""
    wanted = _checked(subject)
    matcher = resolver.matcher
    if matcher is None:
        raise PreconditionError("no active match model: run `idres train` to train one")
    with tracer.start_as_current_span("idres.explain"), LinkStore(resolver.store).reader() as rd:
        left, right = _sides(rd, wanted)
        same = left.customer_id == right.customer_id
        links = rd.links_within(left.customer_id) if same else []
    chain = shortest_chain(links, left.record_id, right.record_id)
    direct = compare(matcher.scorer, left, right, matcher.policy)
    identical = left.record_id == right.record_id
    text = summary(same, identical, chain, direct, matcher.thresholds)
    return Explanation(same, left, right, chain, direct, text, matcher.scorer.version)


def _checked(subject: Subject | None) -> Subject:
    if subject is None:
        raise ValidationError([FieldViolation("subject", "required: records or customers")])
    left, right = subject.left.strip(), subject.right.strip()
    field = f"{subject.kind.value}.{{}}_{_ID_FIELD[subject.kind]}"
    problems = [
        FieldViolation(field.format(side), "required")
        for side, value in (("left", left), ("right", right))
        if not value
    ]
    if problems:
        raise ValidationError(problems)
    return Subject(subject.kind, left, right)


def _sides(reader: LinkReader, subject: Subject) -> tuple[RecordView, RecordView]:
    ids = [subject.left, subject.right]
    if subject.kind is SubjectKind.CUSTOMERS:
        founding = [reader.founding_record(cid) for cid in ids]
        _require(ids, founding, "customer")
        ids = [found[1] for found in founding if found]
    views = [reader.record(rid) for rid in ids]
    _require(ids, views, "record")
    left, right = (view for view in views if view)
    return left, right


def _require(ids: Sequence[str], found: Sequence[object | None], noun: str) -> None:
    missing = [repr(i) for i, f in zip(ids, found, strict=True) if f is None]
    if missing:
        raise NotFoundError(f"no {noun} {' or '.join(dict.fromkeys(missing))}")


def compare(scorer: Scorer, left: RecordView, right: RecordView, policy: LinkPolicy) -> Link:
    """The model's score of the pair as a link to the right record's customer; `sure` when a
    personal identifier that may still link is on both records and nothing contradicts."""
    score = scorer.model.score(left.features, right.features, scorer.tf)
    veto = ""
    if policy.household_guard:
        veto = contradict(profile_of(left.attributes), profile_of(right.attributes))
    personal = [i for i in left.active & right.active if i.kind not in policy.shareable]
    return Link(
        customer_id=right.customer_id,
        record_id=right.record_id,
        match_weight=score.match_weight,
        probability=score.probability,
        contributions=score.contributions,
        sure=bool(personal) and not veto,
        veto=veto,
    )


def summary(
    same: bool,
    identical: bool,
    chain: tuple[RecordLink, ...],
    direct: Link,
    thresholds: Thresholds,
) -> str:
    """One line for people, e.g. "same customer: 2 links, weakest p=0.97"."""
    if identical:
        return "same customer: the same record"
    if same:
        return _joined(chain)
    if direct.veto:
        return f"different customers; vetoed: {direct.veto}"
    p, limit = direct.probability, thresholds.match
    relation = "at or above" if p >= limit else "below"
    shared = ", sharing a personal identifier" if direct.sure else ""
    head = f"different customers{shared}; direct p={p:.2f}"
    return f"{head} {relation} the match threshold {limit:.2f}"


def _joined(chain: tuple[RecordLink, ...]) -> str:
    link = weakest(chain)
    if link is None:
        return (
            "same customer; no recorded links join the two records"
            " (linked by the rules, or before links were recorded)"
        )
    count = f"{len(chain)} link{'s' if len(chain) != 1 else ''}"
    exact = " (exact identifier)" if link.sure else ""
    return f"same customer: {count}, weakest p={link.probability:.2f}{exact}"
