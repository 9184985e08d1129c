"""Observe and Resolve against a real PostgreSQL: linking, merging, policies, events."""

from __future__ import annotations

import psycopg
import pytest

from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.domain.errors import ConflictError, NotFoundError, ValidationError
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.linking import Decision
from idres.resolver.resolution import Outcome, Resolver

STORE_PHONE = "020 7946 0018"


def rec(record_id: str, **values: str) -> dict[str, str]:
    return {"record_id": record_id, **values}


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def test_observe_creates_links_and_merges(resolver: Resolver) -> None:
    a = resolver.observe_values(rec("w-1", email="Ann.Lee@gmail.com", given_name="Ann"))
    b = resolver.observe_values(rec("c-1", phone="07911 123456", given_name="Ann"))
    assert a.outcome == Outcome.CREATED and b.outcome == Outcome.CREATED
    same = resolver.observe_values(rec("w-2", email="annlee+shop@googlemail.com"))
    assert (same.outcome, same.customer_id) == (Outcome.LINKED, a.customer_id)
    bridge = resolver.observe_values(rec("a-1", email="ANNLEE@gmail.com", phone="+44 7911 123456"))
    assert bridge.outcome == Outcome.MERGED
    assert bridge.customer_id == a.customer_id  # the older customer survives
    assert bridge.absorbed == (b.customer_id,)
    view, asked = resolver.customer(b.customer_id)  # the absorbed id still resolves
    assert view.customer_id == a.customer_id and asked == b.customer_id
    assert {r.record_id for r in view.records} == {"w-1", "c-1", "w-2", "a-1"}
    assert view.merged_ids == (b.customer_id,)
    answer = resolver.resolve_values({"phone": "07911123456"})
    assert (answer.decision, answer.target) == (Decision.MATCH, a.customer_id)


def test_every_change_writes_its_event(resolver: Resolver) -> None:
    resolver.observe_values(rec("r1", email="x1@post.co.uk"))
    resolver.observe_values(rec("r2", phone="07911 123457"))
    resolver.observe_values(rec("r3", email="x1@post.co.uk", phone="07911 123457"))
    with psycopg.connect(resolver.db.url) as conn:
        types = [row[0] for row in conn.execute("SELECT type FROM change_events ORDER BY id")]
    assert types == ["created", "linked", "created", "linked", "merged", "linked"]


def test_a_repeated_record_is_a_no_op_and_a_changed_one_is_refused(resolver: Resolver) -> None:
    first = resolver.observe_values(rec("r1", email="x1@post.co.uk", ts="2024-01-01T00:00:00Z"))
    again = resolver.observe_values(rec("r1", email="X1@post.co.uk", ts="2024-01-01T00:00:00Z"))
    assert (again.outcome, again.customer_id) == (Outcome.ALREADY_OBSERVED, first.customer_id)
    with pytest.raises(ConflictError):
        resolver.observe_values(rec("r1", email="other@post.co.uk", ts="2024-01-01T00:00:00Z"))
    assert count(resolver.db.url, "records") == 1


def test_bad_fields_are_kept_flagged_and_never_link(resolver: Resolver) -> None:
    values = rec("r1", email="not-an-email", phone="12", dob="1990-13-01", surname="Hale")
    obs = resolver.observe_values({**values, "loyalty_card": "4000000000000002"})
    assert {f.field for f in obs.flagged} == {"email", "phone", "dob"}
    assert [i.kind.value for i in obs.statuses] == ["loyalty_card"]
    stored = resolver.customer(obs.customer_id)[0].records[0]
    assert {(f.field, f.raw) for f in stored.flagged} == {
        ("email", "not-an-email"),
        ("phone", "12"),
        ("dob", "1990-13-01"),
    }
    assert stored.attributes.surname == "Hale"
    # The same bad value elsewhere links nobody: it is not an identifier.
    other = resolver.observe_values(rec("r2", email="not-an-email", given_name="Zed"))
    assert other.customer_id != obs.customer_id


def test_only_a_record_without_a_usable_id_is_rejected(resolver: Resolver) -> None:
    with pytest.raises(ValidationError):
        resolver.observe_values({"email": "a@post.co.uk"})
    with pytest.raises(ValidationError):
        resolver.observe_values({"record_id": "has space", "email": "a@post.co.uk"})
    assert count(resolver.db.url, "records") == 0 and count(resolver.db.url, "customers") == 0


def test_unknown_customer_is_not_found(resolver: Resolver) -> None:
    with pytest.raises(NotFoundError):
        resolver.customer("cus_nobody")


def test_a_shared_store_phone_does_not_glue_shoppers(resolver: Resolver) -> None:
    names = ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon"]
    cards = ["4000000000000002", "4000000000000010", "4000000000000028", "4000000000000036"]
    for i, name in enumerate(names):
        card = cards[i] if i < len(cards) else ""
        resolver.observe_values(
            rec(
                f"till-{i}",
                given_name=name,
                surname=name + "son",
                phone=STORE_PHONE,
                loyalty_card=card,
            )
        )
    assert count(resolver.db.url, "customers") == len(names)
    answer = resolver.resolve_values({"phone": STORE_PHONE})
    assert answer.decision is Decision.NO_MATCH
    assert answer.evidence[0].outcome.value == "shared"
    # Once shared, the phone links nobody, not even a shopper with no name.
    resolver.observe_values(rec("till-x", phone=STORE_PHONE))
    assert count(resolver.db.url, "customers") == len(names) + 1


def test_placeholders_are_kept_but_never_link(resolver: Resolver) -> None:
    a = resolver.observe_values(rec("s-1", email="test@test.com", given_name="Ann"))
    b = resolver.observe_values(rec("s-2", email="test@test.com", given_name="Ann"))
    assert a.customer_id != b.customer_id
    view, _ = resolver.customer(a.customer_id)
    assert [s.value for s in view.statuses.values()] == ["placeholder"]


def test_a_household_landline_does_not_merge_its_household(resolver: Resolver) -> None:
    landline = "0161 496 0000"
    ann = resolver.observe_values(rec("c1", phone=landline, given_name="Ann", surname="Roe"))
    bob = resolver.observe_values(rec("c2", phone=landline, given_name="Bob", surname="Roe"))
    assert ann.customer_id != bob.customer_id
    found = resolver.resolve_values({"phone": landline, "given_name": "Robert"})
    assert found.target == bob.customer_id
    unsure = resolver.resolve_values({"phone": landline})
    assert unsure.decision is Decision.POSSIBLE_MATCH


def test_the_live_index_matches_one_rebuilt_from_the_store(resolver: Resolver) -> None:
    names = ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay"]
    for i, name in enumerate(names):
        resolver.observe_values(rec(f"t-{i}", given_name=name, phone=STORE_PHONE))
        resolver.observe_values(rec(f"w-{i}", given_name=name, email=f"{name}@post.co.uk"))
        resolver.observe_values(
            rec(f"a-{i}", email=f"{name}@post.co.uk", phone=f"07911 12345{i}", given_name=name)
        )
    resolver.observe_values(rec("c-9", phone="07911 123450", email="ann.two@post.co.uk"))
    resolver.observe_values(rec("m-1", email="ann.alt@post.co.uk", given_name="Ann"))
    merged = resolver.observe_values(
        rec("m-2", email="ann.alt@post.co.uk", phone="07911 123450", given_name="Ann")
    )
    assert merged.outcome == Outcome.MERGED
    rebuilt = IdentityIndex.from_snapshot(resolver.store.snapshot())
    with psycopg.connect(resolver.db.url) as conn:
        idents = [
            Identifier(IdentifierKind(k), v)
            for k, v in conn.execute("SELECT DISTINCT kind, value FROM record_identifiers")
        ]
    live_states, live_profiles = resolver.index.lookup(idents)
    states, profiles = rebuilt.lookup(idents)
    assert live_states == states
    assert {c: (p.seq, p.given_names, p.identifiers) for c, p in live_profiles.items()} == {
        c: (p.seq, p.given_names, p.identifiers) for c, p in profiles.items()
    }
    assert states[Identifier(IdentifierKind.PHONE, "+442079460018")].status.value == "shared"
