"""Replicas may see change events out of order or twice; the index must end up the same."""

from __future__ import annotations

import itertools
import random

from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.domain.events import ChangeEvent, EventType
from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus

ANN = Identifier(IdentifierKind.EMAIL, "ann@post.co.uk")
PHONE = Identifier(IdentifierKind.PHONE, "+447911123456")
STORE = Identifier(IdentifierKind.PHONE, "+442079460018")


def linked(eid: int, cid: str, given: str, *holds: Identifier) -> ChangeEvent:
    payload = {
        "attributes": [given, "Lee", "1980-03-04"],
        "holds": [[i.kind.value, i.value] for i in holds],
    }
    return ChangeEvent(eid, EventType.LINKED, cid, payload)


EVENTS = [
    ChangeEvent(1, EventType.CREATED, "c1", {"seq": 1}),
    linked(2, "c1", "Ann", ANN, STORE),
    ChangeEvent(3, EventType.CREATED, "c2", {"seq": 2}),
    linked(4, "c2", "Annie", PHONE),
    ChangeEvent(5, EventType.MERGED, "c1", {"absorbed": ["c2"]}),
    ChangeEvent(
        6, EventType.FLAGGED, "c1", {"kind": "phone", "value": STORE.value, "status": "shared"}
    ),
]


def state(index: IdentityIndex) -> tuple[object, ...]:
    states, profiles = index.lookup([ANN, PHONE, STORE])
    summary = {
        cid: (p.seq, sorted(p.given_names), sorted(p.identifiers)) for cid, p in profiles.items()
    }
    return (states, summary, index.canonical("c2"), index.counts())


def test_in_order_application_gives_the_merged_customer() -> None:
    index = IdentityIndex()
    index.apply(EVENTS)
    states, profiles = index.lookup([ANN, PHONE, STORE])
    assert states[ANN].holders == states[PHONE].holders == frozenset({"c1"})
    assert states[STORE].status is IdentifierStatus.SHARED and not states[STORE].holders
    assert profiles["c1"].seq == 1 and profiles["c1"].given_names == {"Ann", "Annie"}
    assert index.canonical("c2") == "c1" and index.canonical("nobody") is None


def test_any_order_and_replays_converge() -> None:
    expected = IdentityIndex()
    expected.apply(EVENTS)
    rng = random.Random(5)
    orders = list(itertools.permutations(EVENTS))
    for order in rng.sample(orders, 200):
        index = IdentityIndex()
        index.apply(order)
        index.apply(order[: rng.randrange(len(order))])  # a replayed window
        assert state(index) == state(expected), [e.id for e in order]
