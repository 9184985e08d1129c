"""The review queue through a real server and store: possible matches wait, a decision lasts."""

from __future__ import annotations

import grpc
import pytest

from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations

HANDLE = {"handle": "@bea_rev", "handle_platform": "twitter"}


def _possible(stub: rpc.IdentityServiceStub) -> tuple[str, str, str]:
    """A record whose email one customer holds and whose handle another holds, two people
    who cannot be one: it fits both equally and starts its own customer."""
    ann = observe(stub, "a1", email="ann@post.co.uk", given_name="Ann").customer_id
    bea = observe(stub, "b1", given_name="Bea", **HANDLE).customer_id
    both = observe(stub, "q1", email="ann@post.co.uk", **HANDLE)
    assert both.outcome == pb.OBSERVE_OUTCOME_CREATED
    return ann, bea, both.customer_id


def _waiting(stub: rpc.IdentityServiceStub, **kw: object) -> list[pb.Review]:
    reply = stub.ListReviews(pb.ListReviewsRequest(**kw), timeout=10)  # type: ignore[arg-type]
    return list(reply.reviews)


def _decide(
    stub: rpc.IdentityServiceStub, review: int, decision: int, candidate: str = ""
) -> pb.DecideReviewResponse:
    reply: pb.DecideReviewResponse = stub.DecideReview(
        pb.DecideReviewRequest(
            review_id=review,
            decision=decision,  # type: ignore[arg-type]
            candidate_customer_id=candidate,
            reason="checked the account",
            actor="agent-7",
        ),
        timeout=10,
    )
    return reply


def test_a_possible_match_waits_and_same_merges_it(stub: rpc.IdentityServiceStub) -> None:
    ann, bea, own = _possible(stub)
    [review] = _waiting(stub)
    assert (review.record_id, review.customer_id) == ("q1", own)
    assert {c.customer_id for c in review.candidates} == {ann, bea}
    decided = _decide(stub, review.review_id, pb.REVIEW_DECISION_SAME, ann)
    assert decided.customer_id == ann and decided.review.override_id > 0
    assert decided.review.decision == pb.REVIEW_DECISION_SAME
    found = stub.GetCustomer(pb.GetCustomerRequest(customer_id=own), timeout=10)
    assert found.customer.customer_id == ann  # the record's customer now resolves to Ann
    assert _waiting(stub) == []
    [done] = _waiting(stub, include_decided=True)
    assert done.decision == pb.REVIEW_DECISION_SAME and done.customer_id == ann
    with pytest.raises(grpc.RpcError) as caught:
        _decide(stub, review.review_id, pb.REVIEW_DECISION_DIFFERENT)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_different_keeps_them_apart_as_an_override(stub: rpc.IdentityServiceStub) -> None:
    _, bea, own = _possible(stub)
    [review] = _waiting(stub)
    decided = _decide(stub, review.review_id, pb.REVIEW_DECISION_DIFFERENT, bea)
    assert decided.customer_id == own and decided.review.override_id > 0
    # Both customers now carry the split's sides: only an operator's merge joins them, and it
    # lifts the decision.
    merged = stub.MergeCustomers(
        pb.MergeCustomersRequest(customer_ids=[own, bea], reason="after all"), timeout=10
    )
    assert list(merged.lifted_override_ids) == [decided.review.override_id]


def test_bad_decisions_name_the_field(stub: rpc.IdentityServiceStub) -> None:
    _, _, _ = _possible(stub)
    [review] = _waiting(stub)
    for request, code, field in (
        (
            pb.DecideReviewRequest(review_id=review.review_id, reason="x"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "decision",
        ),
        (
            pb.DecideReviewRequest(
                review_id=review.review_id,
                decision=pb.REVIEW_DECISION_SAME,
                candidate_customer_id="cus_x",
                reason="x",
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "candidate_customer_id",
        ),
        (
            pb.DecideReviewRequest(review_id=review.review_id, decision=pb.REVIEW_DECISION_SAME),
            grpc.StatusCode.INVALID_ARGUMENT,
            "reason",
        ),
        (
            pb.DecideReviewRequest(review_id=999, decision=pb.REVIEW_DECISION_SAME, reason="x"),
            grpc.StatusCode.NOT_FOUND,
            "",
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stub.DecideReview(request, timeout=10)
        assert caught.value.code() is code
        if field:
            assert field in violations(caught.value)
    assert len(_waiting(stub)) == 1
