"""Proto messages to domain values and back; no decisions are made here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from idres.resolver.adapters.review_store import Review
from idres.resolver.adapters.store import StoredRecord
from idres.resolver.customers import CustomerPage
from idres.resolver.domain import linking
from idres.resolver.domain.chain import RecordLink
from idres.resolver.domain.erasure import Receipt, Target, TargetKind
from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.domain.events import Change, EventType
from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.portrait import Best
from idres.resolver.domain.records import CANONICAL_COLUMNS, FIELD_OF_KIND, Flagged
from idres.resolver.domain.scoring import Contribution
from idres.resolver.explanation import Explanation, Subject, SubjectKind
from idres.resolver.overrides import Merged, Split
from idres.resolver.resolution import Observation, Outcome
from idres.resolver.reviews import DIFFERENT, SAME
from idres.v1 import identity_pb2 as pb

_RESOLVE_FIELDS = tuple(f.name for f in pb.ResolveRequest.DESCRIPTOR.fields)
# Enum lookups by name cost more than the rest of a response: map them once.
_KINDS = {k: pb.IdentifierKind.Value(f"IDENTIFIER_KIND_{k.name}") for k in IdentifierKind}
_STATUSES = {s: pb.IdentifierStatus.Value(f"IDENTIFIER_STATUS_{s.name}") for s in IdentifierStatus}
_EVIDENCE = {
    o: pb.EvidenceOutcome.Value(f"EVIDENCE_OUTCOME_{o.name}") for o in linking.EvidenceOutcome
}
_DECISIONS = {d: pb.Decision.Value(f"DECISION_{d.name}") for d in linking.Decision}
_OUTCOMES = {
    Outcome.CREATED: pb.OBSERVE_OUTCOME_CREATED,
    Outcome.LINKED: pb.OBSERVE_OUTCOME_LINKED,
    Outcome.MERGED: pb.OBSERVE_OUTCOME_MERGED,
    Outcome.ALREADY_OBSERVED: pb.OBSERVE_OUTCOME_ALREADY_OBSERVED,
}


def record_values(record: pb.Record) -> dict[str, str]:
    """A Record as canonical-schema text, the form files and the API share."""
    values = {name: getattr(record, name) for name in CANONICAL_COLUMNS if name != "ts"}
    if record.HasField("ts"):
        values["ts"] = record.ts.ToDatetime().isoformat() + "Z"
    return values


def query_values(request: pb.ResolveRequest) -> dict[str, str]:
    return {name: getattr(request, name) for name in _RESOLVE_FIELDS}


def warnings(
    flagged: Iterable[Flagged], record_id: str = "", *, raw: bool = True
) -> list[pb.FieldWarning]:
    """Flagged fields as warnings; a lookup's reply leaves the raw value out (the caller
    sent it, and an echo of a long value could outgrow the reply)."""
    return [
        pb.FieldWarning(
            record_id=record_id, field=f.field, reason=f.reason, raw=f.raw if raw else ""
        )
        for f in flagged
    ]


def identifier(ident: Identifier, status: IdentifierStatus) -> pb.Identifier:
    return pb.Identifier(kind=_KINDS[ident.kind], value=ident.value, status=_STATUSES[status])


def evidence(
    items: Iterable[linking.Evidence], weights: Mapping[str, float] | None = None
) -> list[pb.Evidence]:
    """`weights`: the model's match weight per comparison on the link decided on, so each
    identifier shows what it contributed (none under the deterministic rules)."""
    weights = weights or {}
    return [
        pb.Evidence(
            identifier=identifier(item.identifier, _status_of(item)),
            outcome=_EVIDENCE[item.outcome],
            customer_ids=item.customer_ids,
            detail=item.detail,
            match_weight=weights.get(FIELD_OF_KIND[item.identifier.kind], 0.0),
        )
        for item in items
    ]


def _decided_weights(plan: linking.Plan) -> dict[str, float]:
    """Each comparison's weight on the link to the customer decided on, else the best link."""
    chosen = [lk for lk in plan.links if plan.target and lk.customer_id == plan.target]
    links = chosen or list(plan.links)
    if not links:
        return {}
    return {c.comparison: c.match_weight for c in links[0].contributions}


def _status_of(item: linking.Evidence) -> IdentifierStatus:
    if item.outcome is linking.EvidenceOutcome.PLACEHOLDER:
        return IdentifierStatus.PLACEHOLDER
    if item.outcome is linking.EvidenceOutcome.SHARED:
        return IdentifierStatus.SHARED
    return IdentifierStatus.ACTIVE


def comparisons(parts: Iterable[Contribution]) -> list[pb.ComparisonEvidence]:
    return [
        pb.ComparisonEvidence(
            comparison=c.comparison,
            level=c.level,
            gamma=c.gamma,
            match_weight=c.match_weight,
            tf_adjustment=c.tf_adjustment,
        )
        for c in parts
    ]


def candidate(link: linking.Link) -> pb.CandidateMatch:
    return pb.CandidateMatch(
        customer_id=link.customer_id,
        record_id=link.record_id,
        match_weight=link.match_weight if math.isfinite(link.match_weight) else -1e9,
        probability=link.probability,
        sure=link.sure,
        veto=link.veto,
        comparisons=comparisons(link.contributions),
    )


def _probability(plan: linking.Plan) -> float:
    best = plan.best
    return best.probability if best else 0.0


def observe_response(obs: Observation, model_version: str) -> pb.ObserveResponse:
    plan = obs.plan
    return pb.ObserveResponse(
        customer_id=obs.customer_id,
        outcome=_OUTCOMES[obs.outcome],
        absorbed_customer_ids=obs.absorbed,
        identifiers=[identifier(i, s) for i, s in sorted(obs.statuses.items())],
        evidence=evidence(plan.evidence, _decided_weights(plan)) if plan else [],
        model_version=model_version,
        probability=_probability(plan) if plan and plan.target else 0.0,
        candidates=[candidate(lk) for lk in plan.links] if plan else [],
        warnings=warnings(obs.flagged, obs.record_id, raw=False),
    )


def resolve_response(
    plan: linking.Plan, model_version: str, flagged: Iterable[Flagged] = ()
) -> pb.ResolveResponse:
    matched = [
        identifier(e.identifier, IdentifierStatus.ACTIVE)
        for e in plan.evidence
        if e.outcome is linking.EvidenceOutcome.MATCHED
    ]
    return pb.ResolveResponse(
        decision=_DECISIONS[plan.decision],
        customer_id=plan.target or "",
        matched_identifiers=matched if plan.target else [],
        evidence=evidence(plan.evidence, _decided_weights(plan)),
        other_customer_ids=plan.others,
        model_version=model_version,
        probability=_probability(plan),
        candidates=[candidate(lk) for lk in plan.links],
        warnings=warnings(flagged, raw=False),
    )


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def customer_response(page: CustomerPage) -> pb.GetCustomerResponse:
    view, requested = page.view, page.requested
    idents = [identifier(i, s) for i, s in sorted(view.statuses.items())]
    customer = pb.Customer(
        customer_id=view.customer_id,
        created_at=timestamp(view.created_at),
        identifiers=idents,
        records=[_record(r, view.statuses) for r in view.records],
        sources=sorted({r.channel for r in view.records if r.channel}),
        merged_ids=view.merged_ids,
    )
    alias = requested if requested != view.customer_id else ""
    return pb.GetCustomerResponse(
        customer=customer,
        requested_id=alias,
        profile=pb.CustomerProfile(**{k: _profile_value(v) for k, v in page.profile.items()}),
        timeline=[
            pb.Contact(record_id=c.record_id, channel=c.channel, ts=timestamp(c.ts))
            for c in page.timeline
        ],
        next_timeline_page_token=page.next_token,
    )


def _profile_value(best: Best) -> pb.ProfileValue:
    return pb.ProfileValue(
        value=best.value,
        record_id=best.record_id,
        channel=best.channel,
        ts=timestamp(best.ts),
        valid=best.valid,
        records=best.records,
    )


def _record(rec: StoredRecord, statuses: dict[Identifier, IdentifierStatus]) -> pb.CustomerRecord:
    a = rec.attributes
    return pb.CustomerRecord(
        record_id=rec.record_id,
        channel=rec.channel,
        ts=timestamp(rec.ts),
        given_name=a.given_name,
        surname=a.surname,
        dob=a.dob.isoformat() if a.dob else "",
        postcode=a.postcode,
        identifiers=[
            identifier(i, statuses.get(i, IdentifierStatus.ACTIVE)) for i, _ in rec.identifiers
        ],
        street_number=a.street_number,
        street=a.street,
        locality=a.locality,
        state=a.state,
        warnings=warnings(rec.flagged, rec.record_id),
    )


def explain_subject(request: pb.ExplainRequest) -> Subject | None:
    """The pair to explain; None when the request names neither records nor customers."""
    which = request.WhichOneof("subject")
    if which == "records":
        pair = request.records
        return Subject(SubjectKind.RECORDS, pair.left_record_id, pair.right_record_id)
    if which == "customers":
        people = request.customers
        return Subject(SubjectKind.CUSTOMERS, people.left_customer_id, people.right_customer_id)
    return None


def link_step(link: RecordLink) -> pb.LinkStep:
    return pb.LinkStep(
        from_record_id=link.record_id,
        to_record_id=link.to_record_id,
        merged=link.merged,
        match_weight=link.match_weight,
        probability=link.probability,
        sure=link.sure,
        comparisons=comparisons(link.contributions),
        model_version=link.model_version,
        linked_at=timestamp(link.linked_at),
    )


def explain_response(explanation: Explanation) -> pb.ExplainResponse:
    left, right = explanation.left, explanation.right
    return pb.ExplainResponse(
        same_customer=explanation.same_customer,
        left_customer_id=left.customer_id,
        right_customer_id=right.customer_id,
        left_record_id=left.record_id,
        right_record_id=right.record_id,
        chain=[link_step(link) for link in explanation.chain],
        direct=candidate(explanation.direct),
        summary=explanation.summary,
        model_version=explanation.model_version,
        warnings=[
            *warnings(left.flagged, left.record_id),
            *(
                warnings(right.flagged, right.record_id)
                if right.record_id != left.record_id
                else ()
            ),
        ],
    )


def merge_response(merged: Merged) -> pb.MergeCustomersResponse:
    return pb.MergeCustomersResponse(
        customer_id=merged.customer_id,
        absorbed_customer_ids=merged.absorbed,
        override_id=merged.override_id or 0,
        lifted_override_ids=merged.lifted,
    )


def split_response(split: Split) -> pb.SplitCustomerResponse:
    return pb.SplitCustomerResponse(
        customer_id=split.customer_id,
        rest_customer_id=split.rest_customer_id,
        new_customer_id=split.new_customer_id,
        override_id=split.override_id,
        moved_record_ids=split.moved,
    )


_CHANGE_TYPES = {
    EventType.CREATED: pb.CHANGE_TYPE_CREATED,
    EventType.LINKED: pb.CHANGE_TYPE_LINKED,
    EventType.MERGED: pb.CHANGE_TYPE_MERGED,
    EventType.SPLIT: pb.CHANGE_TYPE_SPLIT,
    EventType.OVERRIDDEN: pb.CHANGE_TYPE_OVERRIDDEN,
    EventType.FORGOTTEN: pb.CHANGE_TYPE_FORGOTTEN,
}


def customer_change(change: Change) -> pb.CustomerChange:
    out = pb.CustomerChange(
        cursor=change.cursor,
        type=_CHANGE_TYPES.get(change.type, pb.CHANGE_TYPE_UNSPECIFIED),
        customer_id=change.customer_id,
        absorbed_customer_ids=change.absorbed,
        record_ids=change.record_ids,
        new_customer_id=change.new_customer_id,
        override_id=change.override_id,
    )
    if change.at is not None:
        out.at.CopyFrom(timestamp(change.at))
    return out


REVIEW_DECISIONS = {pb.REVIEW_DECISION_SAME: SAME, pb.REVIEW_DECISION_DIFFERENT: DIFFERENT}
_DECISION_OF = {name: value for value, name in REVIEW_DECISIONS.items()}


def review(item: Review) -> pb.Review:
    return pb.Review(
        review_id=item.id,
        record_id=item.record_id,
        customer_id=item.customer_id,
        candidates=[candidate(link) for link in item.candidates],
        created_at=timestamp(item.created_at),
        decision=_DECISION_OF.get(item.decision or "", pb.REVIEW_DECISION_UNSPECIFIED),
        override_id=item.override_id or 0,
    )


_KIND_OF = {number: kind for kind, number in _KINDS.items()}


def erasure_target(request: pb.ForgetRequest | pb.LiftSuppressionRequest) -> Target:
    """What a Forget or LiftSuppression names; which of the oneof is set decides."""
    which = request.WhichOneof("target")
    if which == "customer_id" and isinstance(request, pb.ForgetRequest):
        return Target(TargetKind.CUSTOMER, request.customer_id.strip())
    if which == "record_id":
        return Target(TargetKind.RECORD, request.record_id.strip())
    if which == "identifier":
        kind = _KIND_OF.get(request.identifier.kind)
        if kind is None:
            raise ValidationError([FieldViolation("identifier.kind", "required")])
        return Target(TargetKind.IDENTIFIER, request.identifier.value, FIELD_OF_KIND[kind])
    named = "customer_id, record_id or identifier"
    if isinstance(request, pb.LiftSuppressionRequest):
        named = "record_id or identifier"
    raise ValidationError([FieldViolation("target", f"required: one of {named}")])


def forget_response(receipt: Receipt) -> pb.ForgetResponse:
    return pb.ForgetResponse(
        erasure_id=receipt.erasure_id,
        at=timestamp(receipt.at),
        target=receipt.target,
        customer_ids=receipt.customer_ids,
        forgotten_customer_ids=receipt.forgotten_customer_ids,
        record_ids=receipt.record_ids,
        removed=receipt.removed,
    )
