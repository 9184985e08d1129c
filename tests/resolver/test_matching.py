"""The trained model deciding Observe and Resolve, on a real PostgreSQL.

Households are where a model that adds fields up goes wrong: twins share a surname, a birthday
and an address, a family shares a tablet, a father and son share a name and a landline. These
tests hold idres to keeping them apart while still linking one person's records by name,
birth date and postcode alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from idres.ingest.training import model_version
from idres.resolver.adapters.database import Database
from idres.resolver.domain.linking import Decision
from idres.resolver.domain.matching import Thresholds
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.domain.records import parse_query
from idres.resolver.domain.scoring import MatchModel, features
from idres.resolver.resolution import Outcome, Resolver

HOME = {"surname": "Bennett", "postcode": "LS6 2AB"}


def observe(resolver: Resolver, record_id: str, **values: str) -> str:
    return resolver.observe_values({"record_id": record_id, **values}).customer_id


def test_answers_name_the_trained_model(
    model_resolver: Resolver, trained_model: dict[str, Any]
) -> None:
    assert model_resolver.model_version == model_version(trained_model)
    obs = model_resolver.observe_values({"record_id": "r1", "email": "ann@shop.co.uk"})
    assert obs.outcome is Outcome.CREATED


def test_weak_attributes_alone_find_the_customer(model_resolver: Resolver) -> None:
    ann = observe(
        model_resolver,
        "web-1",
        given_name="Annabel",
        surname="Whitfield",
        dob="1984-03-07",
        postcode="BS1 4DJ",
        email="annabel.w@shop.co.uk",
    )
    plan = model_resolver.resolve_values(
        {"given_name": "Anabel", "surname": "Whitfield", "dob": "1984-03-07", "postcode": "BS1 4DJ"}
    )
    assert plan.decision is Decision.MATCH and plan.target == ann
    best = plan.best
    assert best is not None and best.probability >= 0.9 and best.record_id == "web-1"
    levels = {c.comparison: c.level for c in best.contributions}
    assert levels["dob"].lower().startswith("exact") and "postcode" in levels
    # The caller who gives a name, a postcode and a new phone is recognised and linked.
    obs = model_resolver.observe_values(
        {
            "record_id": "call-1",
            "given_name": "Annabel",
            "surname": "Whitfield",
            "postcode": "BS1 4DJ",
            "dob": "1984-03-07",
            "phone": "07911 123456",
        }
    )
    assert obs.customer_id == ann and obs.outcome is Outcome.LINKED


def test_twins_sharing_an_address_stay_two_customers(model_resolver: Resolver) -> None:
    twin = {**HOME, "dob": "1990-05-01"}
    oliver = observe(
        model_resolver, "w-o", given_name="Oliver", email="oliver.b@shop.co.uk", **twin
    )
    harry = observe(model_resolver, "w-h", given_name="Harry", email="harry.b@shop.co.uk", **twin)
    assert oliver != harry
    # Harry again, from the till with a new phone: everything but the first name fits Oliver.
    again = observe(model_resolver, "s-h", given_name="Harry", phone="07911 222333", **twin)
    assert again == harry
    # Surname, birthday and address without a first name fit both twins equally.
    plan = model_resolver.resolve_values(twin)
    assert plan.decision is not Decision.MATCH
    assert model_resolver.customer(oliver)[0].customer_id == oliver
    obs = model_resolver.observe_values({"record_id": "c-anon", **twin})
    assert obs.customer_id not in {oliver, harry} and not obs.absorbed


def test_a_household_tablet_links_nobody_by_itself(model_resolver: Resolver) -> None:
    tablet = "0c045cf2-c919-4cab-9707-d17544dc8653"
    home = {"surname": "Khan", "postcode": "M14 5RT"}
    sarah = observe(
        model_resolver,
        "app-s",
        given_name="Sarah",
        device_id=tablet,
        email="sarah.khan@shop.co.uk",
        **home,
    )
    adam = observe(
        model_resolver, "app-a", given_name="Adam", device_id=tablet, email="adamk@mail.co.uk"
    )
    assert sarah != adam
    assert model_resolver.resolve_values({"device_id": tablet}).decision is not Decision.MATCH
    plan = model_resolver.resolve_values({"device_id": tablet, "given_name": "Adam"})
    assert plan.decision is Decision.MATCH and plan.target == adam
    vetoed = {lk.customer_id: lk.veto for lk in plan.links if lk.veto}
    assert vetoed == {sarah: "given names differ"}


def test_father_and_son_with_one_name_are_not_glued(model_resolver: Resolver) -> None:
    home = {"given_name": "John", "surname": "Hartley", "postcode": "YO1 7HH"}
    father = observe(
        model_resolver,
        "c-f",
        dob="1961-02-14",
        phone="01904 123456",
        email="jh61@shop.co.uk",
        **home,
    )
    son = observe(
        model_resolver,
        "c-s",
        dob="1992-08-30",
        phone="01904 123456",
        email="jh92@shop.co.uk",
        **home,
    )
    assert father != son
    # Name, address and the shared landline, no birth date: either of them.
    obs = model_resolver.observe_values({"record_id": "s-anon", "phone": "01904 123456", **home})
    assert not obs.absorbed and obs.customer_id not in {father, son}
    # The son again, with his birth date: his customer, never his father's.
    again = observe(model_resolver, "w-s", dob="1992-08-30", **home)
    assert again == son
    assert model_resolver.customer(father)[0].customer_id == father


def test_thresholds_are_configurable(with_model: str) -> None:
    strict = Resolver(
        Database(with_model, pool_size=2),
        rules=DEFAULT_RULES,
        thresholds=Thresholds(match=0.999999999, possible=0.5, merge=0.9),
    )
    try:
        observe(
            strict,
            "w-1",
            given_name="Grace",
            surname="Okafor",
            dob="1991-11-23",
            postcode="BS1 4DJ",
        )
        plan = strict.resolve_values({"given_name": "Grace", "surname": "Okafor"})
        assert plan.decision is not Decision.MATCH
    finally:
        strict.close()
    with pytest.raises(ValueError, match="possible <= match"):
        Thresholds(match=0.4, possible=0.6)


def test_a_phone_one_customer_holds_finds_them_and_a_shared_one_does_not(
    model_resolver: Resolver,
) -> None:
    ann = observe(
        model_resolver, "c-ann", given_name="Ann", phone="0113 245 7781", email="ann@shop.co.uk"
    )
    # Nothing but the number: it links as surely as an email would.
    plan = model_resolver.resolve_values({"phone": "0113 245 7781"})
    assert (plan.decision, plan.target) == (Decision.MATCH, ann)
    assert plan.links[0].sure
    # The number with someone else's email: a household's landline, not a sure link.
    plan = model_resolver.resolve_values({"phone": "0113 245 7781", "email": "kim@post.co.uk"})
    assert plan.decision is not Decision.MATCH
    assert not any(lk.sure for lk in plan.links if lk.customer_id == ann)
    # Once a second person holds it, the number alone is no longer enough.
    bob = observe(
        model_resolver, "c-bob", given_name="Bob", phone="0113 245 7781", email="bob@shop.co.uk"
    )
    assert bob != ann
    plan = model_resolver.resolve_values({"phone": "0113 245 7781"})
    assert plan.decision is Decision.POSSIBLE_MATCH and {ann, bob} <= set(plan.others)


def test_a_card_failing_only_its_check_digit_is_weighed_but_never_an_identifier(
    trained_model: dict[str, Any],
) -> None:
    slip = {"record_id": "till-1", "loyalty_card": "4992 7398 717"}  # the last digit mistyped
    assert not parse_query(slip).identifiers  # nothing links on it
    row = features(slip)
    assert row["loyalty_card"] == "49927398717"
    model = MatchModel.from_splink(trained_model)
    score = model.score(row, features({"loyalty_card": "4992 7398 716"}))
    level = {c.comparison: c.level for c in score.contributions}["loyalty_card"]
    assert level == "One digit off"
    assert features({"loyalty_card": "4992 73"})["loyalty_card"] is None  # too short to weigh
