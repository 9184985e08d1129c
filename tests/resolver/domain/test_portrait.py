"""The profile's rule, field by field, and the timeline's pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.portrait import Seen, best_profile, timeline
from idres.resolver.domain.records import Attributes, Flagged

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SHOP = Identifier(IdentifierKind.PHONE, "+441632960000")
MOBILE = Identifier(IdentifierKind.PHONE, "+447911123456")


def seen(rid: str, channel: str, hours: int, **kw: object) -> Seen:
    return Seen(
        rid,
        channel,
        T0 + timedelta(hours=hours),
        kw.get("attributes", Attributes()),  # type: ignore[arg-type]
        kw.get("identifiers", ()),  # type: ignore[arg-type]
        kw.get("flagged", ()),  # type: ignore[arg-type]
    )


def test_valid_over_invalid_personal_over_shared_then_the_newest() -> None:
    records = [
        seen("r1", "store", 1, identifiers=(SHOP,)),
        seen("r2", "call", 2, identifiers=(MOBILE,), attributes=Attributes("Ann", "Lee")),
        seen("r3", "web", 3, flagged=(Flagged("phone", "0791 12", "not a number"),)),
        seen(
            "r4", "web", 4, attributes=Attributes("Annie"), flagged=(Flagged("email", "a@", "x"),)
        ),
    ]
    best = best_profile(records, {SHOP: IdentifierStatus.SHARED})
    assert best["phone"].value == MOBILE.value and best["phone"].record_id == "r2"
    assert best["name"].value == "Ann Lee"  # both parts beat the newer given name alone
    assert best["email"].value == "a@" and not best["email"].valid  # the only one there is
    assert "dob" not in best and "postcode" not in best


def test_channel_priority_beats_recency_and_recency_beats_frequency() -> None:
    def dob(rid: str, channel: str, hours: int, day: int) -> Seen:
        return seen(rid, channel, hours, attributes=Attributes(dob=date(1980, 1, day)))

    records = [
        dob("r1", "web", 1, 1),
        dob("r2", "web", 2, 1),
        dob("r3", "call", 0, 3),
        dob("r4", "web", 5, 2),
    ]
    assert best_profile(records, {})["dob"].value == "1980-01-02"  # newest
    trusted = best_profile(records, {}, priority=("call",))["dob"]
    assert trusted.value == "1980-01-03" and trusted.channel == "call"
    assert best_profile(records[:2], {})["dob"].records == 2


def test_the_timeline_pages_newest_first() -> None:
    records = [seen(f"r{n}", "web", n) for n in range(5)]
    page, more = timeline(records, 2)
    assert [r.record_id for r in page] == ["r4", "r3"] and more is not None
    page, more = timeline(records, 2, more)
    assert [r.record_id for r in page] == ["r2", "r1"]
    page, more = timeline(records, 2, more)
    assert [r.record_id for r in page] == ["r0"] and more is None
