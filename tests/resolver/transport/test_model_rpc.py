"""Observe and Resolve over gRPC when the trained model decides: probability and evidence."""

from __future__ import annotations

from typing import Any

from idres.ingest.training import model_version
from idres.resolver.domain.scoring import MatchModel
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

GRACE = {"given_name": "Grace", "surname": "Okafor", "dob": "1991-11-23", "postcode": "BS1 4DJ"}


def record(record_id: str, **fields: str) -> pb.ObserveRequest:
    message = pb.Record(record_id=record_id)
    for name, value in {**GRACE, **fields}.items():
        setattr(message, name, value)
    return pb.ObserveRequest(record=message)


def test_resolve_by_weak_attributes_returns_probability_and_comparisons(
    model_stub: rpc.IdentityServiceStub, trained_model: dict[str, Any]
) -> None:
    version = model_version(trained_model)
    first = model_stub.Observe(record("web-1", email="grace@shop.co.uk"))
    assert first.outcome == pb.OBSERVE_OUTCOME_CREATED and first.model_version == version
    answer = model_stub.Resolve(pb.ResolveRequest(**GRACE), timeout=5)
    assert answer.decision == pb.DECISION_MATCH and answer.customer_id == first.customer_id
    assert answer.model_version == version and answer.probability >= 0.9
    best = answer.candidates[0]
    assert best.customer_id == first.customer_id and best.record_id == "web-1" and not best.veto
    levels = {c.comparison: c for c in best.comparisons}
    assert levels["dob"].gamma > 0 and levels["email"].gamma == -1
    # The prior and the comparisons' weights add up to the match weight.
    prior = MatchModel.from_splink(trained_model).prior_weight
    total = prior + sum(c.match_weight for c in best.comparisons)
    assert abs(total - best.match_weight) < 1e-9
    # Another birth date is another person: vetoed, not matched, and said why.
    other = model_stub.Resolve(pb.ResolveRequest(**{**GRACE, "dob": "1970-01-02"}), timeout=5)
    assert other.decision != pb.DECISION_MATCH
    vetoes = [c.veto for c in other.candidates if c.customer_id == first.customer_id]
    assert vetoes == ["dates of birth differ"]


def test_observe_links_by_name_and_birth_date_and_reports_the_evidence(
    model_stub: rpc.IdentityServiceStub,
) -> None:
    first = model_stub.Observe(record("web-1", email="grace@shop.co.uk"))
    again = model_stub.Observe(record("call-1", phone="07911 123456"))
    assert again.outcome == pb.OBSERVE_OUTCOME_LINKED
    assert again.customer_id == first.customer_id and again.probability >= 0.9
    assert again.candidates[0].record_id == "web-1" and again.candidates[0].comparisons


def test_each_identifier_shows_the_weight_it_contributed(
    model_stub: rpc.IdentityServiceStub,
) -> None:
    record = pb.Record(record_id="w1", email="wen@post.co.uk", given_name="Wen", surname="Ode")
    model_stub.Observe(pb.ObserveRequest(record=record), timeout=10)
    lookup = pb.ResolveRequest(email="wen@post.co.uk")
    reply = model_stub.Resolve(lookup, timeout=10)
    weights = {e.identifier.kind: e.match_weight for e in reply.evidence}
    [link] = [c for c in reply.candidates if c.customer_id == reply.customer_id]
    email = {c.comparison: c.match_weight for c in link.comparisons}["email"]
    assert weights[pb.IDENTIFIER_KIND_EMAIL] == email > 0
