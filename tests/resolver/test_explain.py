"""Explain at the resolver: the recorded chain of links, the model's direct comparison, errors."""

from __future__ import annotations

import psycopg
import pytest

from idres.resolver.adapters.database import Database
from idres.resolver.domain.errors import NotFoundError, PreconditionError, ValidationError
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.explanation import Explanation, Subject, SubjectKind, explain
from idres.resolver.resolution import Outcome, Resolver

RECORDS, CUSTOMERS = SubjectKind.RECORDS, SubjectKind.CUSTOMERS
AMELIA = {"given_name": "Amelia", "surname": "Hartley"}
GRACE = {"given_name": "Grace", "surname": "Whitfield"}


def observe(resolver: Resolver, record_id: str, day: int, **fields: str) -> str:
    values = {"record_id": record_id, "ts": f"2024-01-{day:02d}T10:00:00Z", **fields}
    return resolver.observe_values(values).customer_id


def amelia_chain(resolver: Resolver) -> str:
    """a (name, dob, email) <- b (same email, a phone, postcode) <- c (same phone, postcode)."""
    email, home = "amelia.hartley@shop.co.uk", "LS6 2AB"
    first = observe(resolver, "a", 1, **AMELIA, dob="1988-04-12", email=email)
    second = observe(resolver, "b", 2, **AMELIA, email=email, phone="07911 123456", postcode=home)
    third = observe(resolver, "c", 3, **AMELIA, phone="+44 7911 123456", postcode=home)
    assert first == second == third
    return first


def oliver(resolver: Resolver) -> str:
    return observe(
        resolver,
        "d",
        4,
        given_name="Oliver",
        surname="Pemberton",
        dob="1975-09-30",
        email="o.pemberton@post.co.uk",
        postcode="BS8 1TH",
    )


def records(resolver: Resolver, left: str, right: str) -> Explanation:
    return explain(resolver, Subject(RECORDS, left, right))


def test_a_chain_of_two_links_explains_two_records(model_resolver: Resolver) -> None:
    customer = amelia_chain(model_resolver)
    found = records(model_resolver, "a", "c")
    assert found.same_customer
    assert (found.left.customer_id, found.right.customer_id) == (customer, customer)
    # Each step as stored: the observed record, then the record it matched.
    assert [(s.record_id, s.to_record_id) for s in found.chain] == [("b", "a"), ("c", "b")]
    for step in found.chain:
        assert step.probability >= model_resolver.thresholds.match and not step.merged
        assert {c.comparison for c in step.contributions} >= {"email", "phone", "given_name"}
        assert step.model_version == model_resolver.model_version
    # The email is personal; the phone links as surely while one customer alone holds it.
    assert found.chain[0].sure and found.chain[1].sure
    assert (found.direct.record_id, found.direct.customer_id) == ("c", customer)
    assert found.direct.contributions and not found.direct.veto
    assert found.summary.startswith("same customer: 2 links, weakest p=")
    assert found.model_version == model_resolver.model_version


def test_the_chain_reads_the_same_both_ways(model_resolver: Resolver) -> None:
    amelia_chain(model_resolver)
    backwards = records(model_resolver, "c", "a")
    assert [(s.record_id, s.to_record_id) for s in backwards.chain] == [("c", "b"), ("b", "a")]
    one = records(model_resolver, "a", "b")
    assert [(s.record_id, s.to_record_id) for s in one.chain] == [("b", "a")]
    assert one.summary.startswith("same customer: 1 link,")
    itself = records(model_resolver, "a", "a")
    assert itself.same_customer and itself.chain == () and "same record" in itself.summary


def test_two_people_are_different_customers(model_resolver: Resolver) -> None:
    amelia = amelia_chain(model_resolver)
    other = oliver(model_resolver)
    assert other != amelia
    found = records(model_resolver, "a", "d")
    assert not found.same_customer and found.chain == ()
    assert (found.left.customer_id, found.right.customer_id) == (amelia, other)
    assert found.direct.veto == "dates of birth differ"
    assert found.direct.probability < model_resolver.thresholds.match
    assert found.summary == "different customers; vetoed: dates of birth differ"


def test_without_a_veto_the_summary_gives_the_direct_probability(
    model_resolver: Resolver,
) -> None:
    amelia_chain(model_resolver)
    oliver(model_resolver)
    found = records(model_resolver, "c", "d")  # c has no birth date: only the names differ
    assert found.direct.veto == "given names differ"
    observe(model_resolver, "e", 5, email="someone.else@post.co.uk")  # nothing to contradict
    quiet = records(model_resolver, "a", "e")
    assert not quiet.same_customer and not quiet.direct.veto
    assert quiet.direct.probability < model_resolver.thresholds.match
    assert quiet.summary.startswith("different customers; direct p=")
    assert quiet.summary.endswith("below the match threshold 0.90")


def merged_customers(resolver: Resolver) -> tuple[str, str]:
    """x (email) and y (a handle, no attributes) are two customers until z carries both."""
    email, handle = "grace.w@mail.co.uk", "@gracew"
    x = observe(resolver, "x", 1, **GRACE, email=email)
    y = observe(resolver, "y", 2, handle=handle, handle_platform="instagram")
    assert x != y
    bridge = resolver.observe_values(
        {"record_id": "z", "ts": "2024-01-03T10:00:00Z", **GRACE, "email": email}
        | {"handle": handle, "handle_platform": "instagram"}
    )
    assert bridge.outcome is Outcome.MERGED and bridge.customer_id == x
    assert bridge.absorbed == (y,)
    return x, y


def test_customers_are_explained_through_their_founding_records(model_resolver: Resolver) -> None:
    survivor, alias = merged_customers(model_resolver)
    found = explain(model_resolver, Subject(CUSTOMERS, survivor, alias))
    assert found.same_customer
    assert (found.left.customer_id, found.right.customer_id) == (survivor, survivor)
    assert (found.left.record_id, found.right.record_id) == ("x", "y")
    assert [(s.record_id, s.to_record_id, s.merged) for s in found.chain] == [
        ("z", "x", False),
        ("z", "y", True),
    ]
    amelia = amelia_chain(model_resolver)
    apart = explain(model_resolver, Subject(CUSTOMERS, alias, amelia))
    assert not apart.same_customer and apart.chain == ()
    assert (apart.left.customer_id, apart.right.customer_id) == (survivor, amelia)
    assert (apart.left.record_id, apart.right.record_id) == ("y", "a")
    assert apart.summary.startswith("different customers")


def test_a_customer_without_a_founding_record_stands_for_its_earliest(
    model_resolver: Resolver,
) -> None:
    customer = amelia_chain(model_resolver)
    with psycopg.connect(model_resolver.db.url, autocommit=True) as conn:
        conn.execute("UPDATE customers SET founding_record_id = NULL")
    found = explain(model_resolver, Subject(CUSTOMERS, customer, customer))
    assert (found.left.record_id, found.right.record_id) == ("a", "a")


def test_records_linked_before_links_were_recorded_have_no_chain(
    with_model: str, model_resolver: Resolver
) -> None:
    rules = Resolver(Database(with_model, pool_size=1), rules=DEFAULT_RULES, use_model=False)
    try:
        email = "pat.jones@post.co.uk"
        assert observe(rules, "p1", 1, email=email) == observe(rules, "p2", 2, email=email)
    finally:
        rules.close()
    found = records(model_resolver, "p1", "p2")
    assert found.same_customer and found.chain == ()
    assert "no recorded links" in found.summary
    assert found.direct.sure and not found.direct.veto  # the same email, nothing against it


def test_bad_requests_name_their_fields(model_resolver: Resolver) -> None:
    with pytest.raises(ValidationError) as err:
        explain(model_resolver, None)
    assert [v.field for v in err.value.violations] == ["subject"]
    with pytest.raises(ValidationError) as err:
        explain(model_resolver, Subject(RECORDS, "", "  "))
    assert [v.field for v in err.value.violations] == [
        "records.left_record_id",
        "records.right_record_id",
    ]
    with pytest.raises(ValidationError) as err:
        explain(model_resolver, Subject(CUSTOMERS, "cus_x", ""))
    assert [v.field for v in err.value.violations] == ["customers.right_customer_id"]


def test_unknown_records_and_customers_are_not_found(model_resolver: Resolver) -> None:
    amelia = amelia_chain(model_resolver)
    with pytest.raises(NotFoundError, match="no record 'nope'"):
        records(model_resolver, "a", "nope")
    with pytest.raises(NotFoundError, match="no customer 'cus_missing'"):
        explain(model_resolver, Subject(CUSTOMERS, "cus_missing", amelia))


def test_without_a_model_explain_asks_for_training(resolver: Resolver) -> None:
    observe(resolver, "r1", 1, email="one@post.co.uk")
    with pytest.raises(PreconditionError, match="idres train"):
        records(resolver, "r1", "r1")
