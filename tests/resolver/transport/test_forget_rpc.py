"""Forget and LiftSuppression through real servers and the store: erasure with a receipt.

The proof that data is gone is a `pg_dump` of the whole database, which must not hold a single
erased value, while a kept customer's values stay in it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pgserver
import pytest

from idres.ingest.training import model_version
from idres.resolver.adapters.database import Database
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.records import parse_record
from idres.resolver.domain.scoring import features
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe, violations
from tests.servers import Serve

ZEB = {
    "given_name": "Zebulon",
    "surname": "Quixotely",
    "dob": "1971-04-23",
    "postcode": "ZE2 9QT",
}
EMAIL = "zebulon.quixote@quixmail.co.uk"
PHONES = ("+447911123456", "+447911123457")
ERASED = (EMAIL, "Zebulon", "Quixotely", "1971-04-23", "ZE2 9QT", "7911123456", "7911123457")
KEPT = "amy.keeper@keepmail.co.uk"


def _dump(database_url: str) -> str:
    tool = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    done = subprocess.run(
        [str(tool), "--no-owner", "--dbname", database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.lower()


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _owner(stub: rpc.IdentityServiceStub, **lookup: str) -> str:
    reply: pb.ResolveResponse = stub.Resolve(pb.ResolveRequest(**lookup), timeout=10)
    return reply.customer_id


def _forget(stub: rpc.IdentityServiceStub, **target: Any) -> pb.ForgetResponse:
    reply: pb.ForgetResponse = stub.Forget(
        pb.ForgetRequest(reason="the customer asked", actor="dpo", **target), timeout=20
    )
    return reply


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    code: grpc.StatusCode = caught.value.code()
    return code


@pytest.fixture
def remembered(database_url: str, trained: tuple[dict[str, Any], dict[str, Any]]) -> str:
    """The database with the trained model active, its training facts holding Zebulon's email
    and names as term frequencies, as a model trained on his records would."""
    model, facts = trained
    row = features(parse_record({"record_id": "x", "email": EMAIL, **ZEB}))
    counts = {c: dict(v) for c, v in facts["tf_counts"].items()}
    for column in counts:
        if row.get(column):
            counts[column][str(row[column])] = 2
    assert any(EMAIL in v for v in counts.values()), "the model weighs emails by frequency"
    seeded = {**facts, "tf_counts": counts}
    db = Database(database_url, pool_size=1)
    ModelStore(Store(db)).save(model_version(model), model, seeded, activate=True)
    db.close()
    return database_url


@pytest.fixture
def two(remembered: str, serve: Serve) -> Iterator[tuple[rpc.IdentityServiceStub, ...]]:
    with serve(remembered) as one, serve(remembered) as other:
        yield one, other


def _zebulon(stub: rpc.IdentityServiceStub) -> str:
    first = observe(stub, "z1", email=EMAIL, phone=PHONES[0], channel="web", **ZEB)
    second = observe(stub, "z2", email=EMAIL, phone=PHONES[1], channel="call_centre", **ZEB)
    assert second.customer_id == first.customer_id
    observe(stub, "a1", email=KEPT, given_name="Amy", surname="Keeper")
    return first.customer_id


def test_forgetting_a_customer_leaves_no_value_in_the_database(
    two: tuple[rpc.IdentityServiceStub, ...], remembered: str
) -> None:
    one, other = two
    customer = _zebulon(one)
    assert _eventually(lambda: _owner(other, email=EMAIL) == customer)
    receipt = _forget(one, customer_id=customer)
    assert sorted(receipt.record_ids) == ["z1", "z2"]
    assert list(receipt.forgotten_customer_ids) == [customer] and receipt.target == "customer"
    assert receipt.removed["records"] == 2 and receipt.removed["identifiers"] == 4
    assert receipt.removed["model_terms"] >= 3 and receipt.removed["suppressions"] == 5
    dump = _dump(remembered)
    assert KEPT in dump and "keeper" in dump
    assert [v for v in ERASED if v.lower() in dump] == []
    for stub in (one, other):
        assert _eventually(lambda s=stub: _owner(s, email=EMAIL) == "")  # type: ignore[misc]
        assert _owner(stub, phone=PHONES[0], **ZEB) == ""
    assert _code(lambda: one.GetCustomer(pb.GetCustomerRequest(customer_id=customer))) == (
        grpc.StatusCode.NOT_FOUND
    )
    pair = pb.ExplainRequest(records=pb.RecordPair(left_record_id="z1", right_record_id="z2"))
    assert _code(lambda: one.Explain(pair, timeout=10)) == grpc.StatusCode.NOT_FOUND


def test_a_replay_does_not_bring_erased_values_back_until_lifted(
    two: tuple[rpc.IdentityServiceStub, ...],
) -> None:
    one, other = two
    customer = _zebulon(one)
    _forget(one, customer_id=customer)

    def replay() -> pb.ObserveResponse:
        return observe(other, "z1", email=EMAIL, phone=PHONES[0], **ZEB)

    assert _code(replay) == grpc.StatusCode.FAILED_PRECONDITION
    fresh = observe(other, "z9", email=EMAIL, channel="app")
    assert fresh.customer_id != customer and not fresh.identifiers
    assert [w.field for w in fresh.warnings] == ["email"]
    lifted = one.LiftSuppression(
        pb.LiftSuppressionRequest(record_id="z1", reason="came back", actor="dpo"), timeout=10
    )
    assert lifted.lifted == 1
    back = replay()
    assert back.outcome == pb.OBSERVE_OUTCOME_CREATED and back.customer_id != customer
    assert sorted(w.field for w in back.warnings) == ["email", "phone"]
    assert not back.identifiers
    email = pb.IdentifierValue(kind=pb.IDENTIFIER_KIND_EMAIL, value=EMAIL.upper())
    request = pb.LiftSuppressionRequest(identifier=email, reason="came back")
    assert one.LiftSuppression(request, timeout=10).lifted == 1
    assert observe(one, "z10", email=EMAIL).identifiers[0].value == EMAIL


def test_forgetting_an_identifier_keeps_the_customer_and_its_other_values(
    two: tuple[rpc.IdentityServiceStub, ...], remembered: str
) -> None:
    one, other = two
    customer = _zebulon(one)
    assert _eventually(lambda: _owner(other, email=EMAIL) == customer)
    email = pb.IdentifierValue(kind=pb.IDENTIFIER_KIND_EMAIL, value=f" {EMAIL.upper()} ")
    receipt = _forget(one, identifier=email)
    assert list(receipt.customer_ids) == [customer] and not receipt.forgotten_customer_ids
    assert not receipt.record_ids and receipt.target == "identifier:email"
    assert receipt.removed["identifiers"] == 2 and receipt.removed["holders"] == 1
    assert EMAIL not in _dump(remembered)
    assert _eventually(lambda: _owner(other, email=EMAIL) == "")
    assert _owner(other, phone=PHONES[1]) == customer
    view = one.GetCustomer(pb.GetCustomerRequest(customer_id=customer), timeout=10).customer
    assert {r.record_id for r in view.records} == {"z1", "z2"}
    assert EMAIL not in str(view)
    again = observe(other, "z1", email=EMAIL, phone=PHONES[0], channel="web", **ZEB)
    assert again.outcome == pb.OBSERVE_OUTCOME_ALREADY_OBSERVED
    assert again.customer_id == customer


def test_forgetting_a_record_keeps_what_the_others_hold(
    two: tuple[rpc.IdentityServiceStub, ...], remembered: str
) -> None:
    one, other = two
    customer = _zebulon(one)
    assert _eventually(lambda: _owner(other, phone=PHONES[1]) == customer)
    receipt = _forget(one, record_id="z2")
    assert list(receipt.record_ids) == ["z2"] and not receipt.forgotten_customer_ids
    dump = _dump(remembered)
    assert PHONES[1][3:] not in dump and EMAIL in dump
    assert _eventually(lambda: _owner(other, phone=PHONES[1]) == "")
    assert _owner(other, email=EMAIL) == customer
    view = other.GetCustomer(pb.GetCustomerRequest(customer_id=customer), timeout=10).customer
    assert [r.record_id for r in view.records] == ["z1"]
    changes = other.WatchChanges(pb.WatchChangesRequest(), timeout=10)
    gone = next(c for c in changes if c.type == pb.CHANGE_TYPE_FORGOTTEN)
    changes.cancel()
    assert (gone.customer_id, list(gone.record_ids)) == (customer, ["z2"])


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ForgetRequest(reason="x"), "target"),
        (pb.ForgetRequest(record_id="z1"), "reason"),
        (pb.ForgetRequest(identifier=pb.IdentifierValue(value="a@b.example"), reason="x"),
         "identifier.kind"),
    ],
)  # fmt: skip
def test_a_bad_forget_names_the_field(
    stub: rpc.IdentityServiceStub, request_: pb.ForgetRequest, field: str
) -> None:
    observe(stub, "z1", email=EMAIL)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Forget(request_, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(caught.value)
    assert _owner(stub, email=EMAIL)  # nothing was erased


def test_forgetting_the_unknown_is_not_found(stub: rpc.IdentityServiceStub) -> None:
    for target in ({"customer_id": "cus_nobody"}, {"record_id": "nope"}):
        assert _code(lambda t=target: _forget(stub, **t)) == grpc.StatusCode.NOT_FOUND  # type: ignore[misc]
