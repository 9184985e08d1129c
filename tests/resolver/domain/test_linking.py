"""The linking rules on their own: pure inputs, pure answers."""

from __future__ import annotations

from datetime import date

from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.linking import (
    Decision,
    EvidenceOutcome,
    ValueState,
    crowded,
    decide,
    newly_shared,
)
from idres.resolver.domain.profiles import Profile, differing
from idres.resolver.domain.records import Attributes, Observed, Query

EMAIL_A = Identifier(IdentifierKind.EMAIL, "ann@post.co.uk")
EMAIL_B = Identifier(IdentifierKind.EMAIL, "bob@post.co.uk")
PHONE = Identifier(IdentifierKind.PHONE, "+442079460000")
CARD_1 = Identifier(IdentifierKind.LOYALTY_CARD, "4000000000000002")
CARD_2 = Identifier(IdentifierKind.LOYALTY_CARD, "4000000000000010")


def profile(
    cid: str, seq: int, given: str = "", dob: date | None = None, *held: Identifier
) -> Profile:
    p = Profile(cid, seq, identifiers=set(held))
    p.add(Attributes(given_name=given, surname="Smith", dob=dob))
    return p


def query(
    *idents: Identifier, given: str = "", dob: date | None = None, placeholder: bool = False
) -> Query:
    attrs = Attributes(given_name=given, surname="Smith" if given else "", dob=dob)
    return Query(attrs, tuple(Observed(i, placeholder) for i in idents))


def held(*cids: str) -> ValueState:
    return ValueState(IdentifierStatus.ACTIVE, frozenset(cids))


def test_nothing_known_means_a_new_customer() -> None:
    plan = decide(query(EMAIL_A), {}, {})
    assert plan.decision is Decision.NO_MATCH and plan.target is None
    assert [e.outcome for e in plan.evidence] == [EvidenceOutcome.UNKNOWN]


def test_a_held_email_links_to_its_holder() -> None:
    plan = decide(
        query(EMAIL_A, given="Ann"), {EMAIL_A: held("c1")}, {"c1": profile("c1", 1, "Ann")}
    )
    assert (plan.decision, plan.target, plan.absorbed) == (Decision.MATCH, "c1", ())


def test_a_bridging_record_merges_into_the_oldest_customer() -> None:
    profiles = {"c2": profile("c2", 2, "Ann"), "c1": profile("c1", 1, "Annie")}
    states = {EMAIL_A: held("c2"), EMAIL_B: held("c1")}
    plan = decide(query(EMAIL_A, EMAIL_B, given="Ann"), states, profiles)
    assert (plan.target, plan.absorbed) == ("c1", ("c2",))


def test_a_store_phone_does_not_glue_named_shoppers() -> None:
    profiles = {"c1": profile("c1", 1, "Alice", None, CARD_1, PHONE)}
    plan = decide(query(CARD_2, PHONE, given="Bob"), {PHONE: held("c1")}, profiles)
    assert plan.target is None
    phone = next(e for e in plan.evidence if e.identifier == PHONE)
    assert phone.outcome is EvidenceOutcome.CONTRADICTED and "given names differ" in phone.detail


def test_a_store_phone_does_not_glue_anonymous_card_holders() -> None:
    profiles = {"c1": profile("c1", 1, "", None, CARD_1, PHONE)}
    plan = decide(query(CARD_2, PHONE), {PHONE: held("c1")}, profiles)
    assert plan.target is None
    assert "another loyalty card" in next(e.detail for e in plan.evidence if e.identifier == PHONE)


def test_a_household_landline_alone_is_only_a_possible_match() -> None:
    profiles = {"c1": profile("c1", 1, "Ann"), "c2": profile("c2", 2, "Bob")}
    plan = decide(query(PHONE), {PHONE: held("c1", "c2")}, profiles)
    assert plan.decision is Decision.POSSIBLE_MATCH and plan.target is None
    assert set(plan.others) == {"c1", "c2"}


def test_a_name_picks_the_right_household_member() -> None:
    profiles = {"c1": profile("c1", 1, "Ann"), "c2": profile("c2", 2, "Bob")}
    plan = decide(query(PHONE, given="Robert"), {PHONE: held("c1", "c2")}, profiles)
    assert (plan.decision, plan.target) == (Decision.MATCH, "c2")


def test_a_record_bridging_two_different_people_merges_nobody() -> None:
    profiles = {"c1": profile("c1", 1, "Ann"), "c2": profile("c2", 2, "Bob")}
    states = {EMAIL_A: held("c1"), PHONE: held("c2")}
    plan = decide(query(EMAIL_A, PHONE), states, profiles)
    assert (plan.target, plan.absorbed, plan.others) == ("c1", (), ("c2",))
    phone = next(e for e in plan.evidence if e.identifier == PHONE)
    assert phone.outcome is EvidenceOutcome.CONFLICT


def test_father_and_son_with_one_name_stay_apart() -> None:
    father = profile("c1", 1, "John", date(1960, 5, 1), PHONE)
    plan = decide(
        query(PHONE, given="John", dob=date(1990, 8, 9)), {PHONE: held("c1")}, {"c1": father}
    )
    assert plan.target is None


def test_a_swapped_day_and_month_is_the_same_birth_date() -> None:
    ann = profile("c1", 1, "Ann", date(1980, 3, 4))
    plan = decide(
        query(EMAIL_A, given="Ann", dob=date(1980, 4, 3)), {EMAIL_A: held("c1")}, {"c1": ann}
    )
    assert plan.target == "c1"


def test_placeholders_and_shared_values_never_link() -> None:
    states = {PHONE: ValueState(IdentifierStatus.SHARED, frozenset())}
    plan = decide(query(PHONE), states, {})
    assert plan.target is None and plan.evidence[0].outcome is EvidenceOutcome.SHARED
    plan = decide(query(EMAIL_A, placeholder=True), {EMAIL_A: held("c1")}, {"c1": profile("c1", 1)})
    assert plan.target is None and plan.evidence[0].outcome is EvidenceOutcome.PLACEHOLDER


def test_a_value_is_flagged_shared_once_too_many_people_hold_it() -> None:
    holders = {
        f"c{i}": profile(f"c{i}", i, name) for i, name in enumerate(["Al", "Bea", "Cy", "Di"])
    }
    states = {PHONE: held(*holders)}
    eve = query(PHONE, given="Eve")
    plan = decide(eve, states, holders)
    assert plan.target is None and newly_shared(eve, states, plan) == (PHONE,)
    fewer = {PHONE: held("c0", "c1")}
    assert newly_shared(eve, fewer, decide(eve, fewer, holders)) == ()


def test_kinds_differ_only_where_both_hold_one_and_share_none() -> None:
    insta_a = Identifier(IdentifierKind.SOCIAL_HANDLE, "instagram:ann.smith")
    insta_b = Identifier(IdentifierKind.SOCIAL_HANDLE, "instagram:bobsmith")
    tiktok = Identifier(IdentifierKind.SOCIAL_HANDLE, "tiktok:ann.smith")
    ann = profile("c1", 1, "Ann", None, EMAIL_A, CARD_1, insta_a)
    assert differing(ann, profile("c2", 2, "Ann", None, EMAIL_A, PHONE)) == set()
    # Another email and another card; a handle on another platform is no competitor.
    other = profile("c2", 2, "Ann", None, EMAIL_B, CARD_2, tiktok)
    assert differing(ann, other) == {IdentifierKind.EMAIL, IdentifierKind.LOYALTY_CARD}
    # One email in common outweighs a second one the other lacks.
    both = profile("c3", 3, "Ann", None, EMAIL_A, EMAIL_B, insta_b)
    assert differing(ann, both) == {IdentifierKind.SOCIAL_HANDLE}


def _named(given: str, *idents: Identifier, placeholder: bool = False) -> Query:
    attrs = Attributes(given_name=given, surname="Smith")
    return Query(attrs, tuple(Observed(i, placeholder) for i in idents))


def test_a_value_typed_in_for_many_people_is_crowded() -> None:
    till = [_named(name, CARD_1) for name in ("ann", "bob", "cat", "dan")]
    # One person's name written four ways, and a phone four households could share.
    robert = [_named(name, CARD_2, PHONE) for name in ("robert", "bob", "rob", "robrt")]
    shared_line = [_named(name, PHONE) for name in ("eve", "fay", "gus")]
    junk = [_named(name, EMAIL_A, placeholder=True) for name in ("hal", "ivy", "jo", "kim")]
    found = crowded([*till, *robert, *shared_line, *junk, query(EMAIL_B)])
    assert found == {CARD_1}
