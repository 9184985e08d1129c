"""Explain over a real gRPC server on loopback, with and without a trained model."""

from __future__ import annotations

import grpc
import pytest

from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations

AMELIA = {"given_name": "Amelia", "surname": "Hartley"}


def explain_records(stub: rpc.IdentityServiceStub, left: str, right: str) -> pb.ExplainResponse:
    pair = pb.RecordPair(left_record_id=left, right_record_id=right)
    response: pb.ExplainResponse = stub.Explain(pb.ExplainRequest(records=pair), timeout=10)
    return response


def explain_customers(stub: rpc.IdentityServiceStub, left: str, right: str) -> pb.ExplainResponse:
    pair = pb.CustomerPair(left_customer_id=left, right_customer_id=right)
    response: pb.ExplainResponse = stub.Explain(pb.ExplainRequest(customers=pair), timeout=10)
    return response


def amelia_chain(stub: rpc.IdentityServiceStub) -> str:
    email = "amelia.hartley@shop.co.uk"
    first = observe(stub, "a", **AMELIA, dob="1988-04-12", email=email)
    second = observe(stub, "b", **AMELIA, email=email, phone="07911 123456", postcode="LS6 2AB")
    third = observe(stub, "c", **AMELIA, phone="+44 7911 123456", postcode="LS6 2AB")
    assert first.outcome == pb.OBSERVE_OUTCOME_CREATED
    assert second.outcome == third.outcome == pb.OBSERVE_OUTCOME_LINKED
    assert first.customer_id == second.customer_id == third.customer_id
    return first.customer_id


def test_explain_walks_the_chain_between_two_records(model_stub: rpc.IdentityServiceStub) -> None:
    customer = amelia_chain(model_stub)
    answer = explain_records(model_stub, "a", "c")
    assert answer.same_customer and answer.model_version.startswith("fs-")
    assert (answer.left_customer_id, answer.right_customer_id) == (customer, customer)
    assert (answer.left_record_id, answer.right_record_id) == ("a", "c")
    assert [(s.from_record_id, s.to_record_id) for s in answer.chain] == [("b", "a"), ("c", "b")]
    for step in answer.chain:
        assert step.probability >= 0.9 and step.comparisons and step.model_version
        assert step.linked_at.seconds > 0
    assert answer.chain[0].sure  # the same email
    assert answer.direct.record_id == "c" and answer.direct.customer_id == customer
    assert answer.direct.comparisons and not answer.direct.veto
    assert answer.summary.startswith("same customer: 2 links")


def test_explain_tells_two_people_apart(model_stub: rpc.IdentityServiceStub) -> None:
    amelia_chain(model_stub)
    oliver = observe(
        model_stub,
        "d",
        given_name="Oliver",
        surname="Pemberton",
        dob="1975-09-30",
        email="o.pemberton@post.co.uk",
    )
    answer = explain_records(model_stub, "a", "d")
    assert not answer.same_customer and not answer.chain
    assert answer.right_customer_id == oliver.customer_id
    assert answer.direct.veto == "dates of birth differ" and answer.direct.probability < 0.9
    assert answer.summary.startswith("different customers")


def test_explain_customers_by_id_and_alias(model_stub: rpc.IdentityServiceStub) -> None:
    email, handle = "grace.w@mail.co.uk", "@gracew"
    x = observe(model_stub, "x", given_name="Grace", surname="Whitfield", email=email)
    y = observe(model_stub, "y", handle=handle, handle_platform="instagram")
    z = observe(
        model_stub,
        "z",
        given_name="Grace",
        surname="Whitfield",
        email=email,
        handle=handle,
        handle_platform="instagram",
    )
    assert z.outcome == pb.OBSERVE_OUTCOME_MERGED
    assert list(z.absorbed_customer_ids) == [y.customer_id]
    joined = explain_customers(model_stub, y.customer_id, x.customer_id)  # the alias first
    assert joined.same_customer
    assert joined.left_customer_id == joined.right_customer_id == x.customer_id
    assert (joined.left_record_id, joined.right_record_id) == ("y", "x")
    assert [(s.from_record_id, s.to_record_id, s.merged) for s in joined.chain] == [
        ("z", "y", True),
        ("z", "x", False),
    ]
    amelia = amelia_chain(model_stub)
    apart = explain_customers(model_stub, x.customer_id, amelia)
    assert not apart.same_customer and not apart.chain
    assert (apart.left_record_id, apart.right_record_id) == ("x", "a")


def test_bad_requests_are_invalid_argument_with_field_violations(
    model_stub: rpc.IdentityServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        model_stub.Explain(pb.ExplainRequest(), timeout=5)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(err.value)) == {"subject"}
    with pytest.raises(grpc.RpcError) as err:
        explain_records(model_stub, "", "")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(err.value) == {
        "records.left_record_id": "required",
        "records.right_record_id": "required",
    }
    with pytest.raises(grpc.RpcError) as err:
        explain_customers(model_stub, "cus_anyone", " ")
    assert violations(err.value) == {"customers.right_customer_id": "required"}


def test_unknown_records_and_customers_are_not_found(model_stub: rpc.IdentityServiceStub) -> None:
    amelia = amelia_chain(model_stub)
    with pytest.raises(grpc.RpcError) as err:
        explain_records(model_stub, "a", "missing")
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert "missing" in (err.value.details() or "")
    with pytest.raises(grpc.RpcError) as err:
        explain_customers(model_stub, "cus_missing", amelia)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


def test_without_a_model_explain_is_a_failed_precondition(stub: rpc.IdentityServiceStub) -> None:
    observe(stub, "r-1", email="one@post.co.uk")
    with pytest.raises(grpc.RpcError) as err:
        explain_records(stub, "r-1", "r-1")
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "idres train" in (err.value.details() or "")
