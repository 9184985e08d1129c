"""Synthetic data: deterministic, true to its ground truth, and hard in the right ways."""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import phonenumbers
import pytest

from idres.cli import generate as generate_verb
from idres.ingest.files import open_table
from idres.ingest.generator import (
    CHANNEL_FIELDS,
    CHANNELS,
    PLACEHOLDER_DEVICE_IDS,
    PLACEHOLDER_EMAILS,
    PLACEHOLDER_PHONES,
    GeneratedData,
    generate,
    luhn_valid,
    write_generated,
)
from idres.resolver.domain.records import CANONICAL_COLUMNS

ALWAYS = {"record_id", "channel", "ts"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def data() -> GeneratedData:
    return generate(1000, 7)


@pytest.fixture(scope="module")
def person_of(data: GeneratedData) -> dict[str, str]:
    return dict(data.truth)


def _phone_key(text: str, region: str = "GB") -> str | None:
    """E.164 for a valid phone, None for anything else."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _email_key(text: str) -> str:
    local, _, domain = text.strip().lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.split("+")[0].replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _is_placeholder(record: dict[str, str]) -> bool:
    return (
        record["email"].strip() in PLACEHOLDER_EMAILS
        or record["phone"] in PLACEHOLDER_PHONES
        or record["device_id"] in PLACEHOLDER_DEVICE_IDS
    )


def _invalid_field(record: dict[str, str]) -> str | None:
    email, phone = record["email"].strip(), record["phone"]
    if email and email not in PLACEHOLDER_EMAILS and not EMAIL.fullmatch(email):
        return "email"
    if (
        phone
        and phone not in PLACEHOLDER_PHONES
        and not (_phone_key(phone) or _phone_key(phone, "US"))
    ):
        return "phone"
    card = record["loyalty_card"].replace(" ", "")
    if card and not (len(card) == 16 and luhn_valid(card)):
        return "loyalty_card"
    if record["dob"]:
        try:
            date.fromisoformat(record["dob"])
        except ValueError:
            return "dob"
    return None


def test_deterministic_for_a_seed() -> None:
    assert generate(150, 5) == generate(150, 5)
    assert generate(150, 5).records != generate(150, 6).records


def test_size_and_ids(data: GeneratedData) -> None:
    ids = [r["record_id"] for r in data.records]
    assert len(set(ids)) == len(ids)
    assert 3000 <= len(ids) <= 5000  # ~3-5 records per person
    assert all(re.fullmatch(r"[a-z]+-\d{6}", i) for i in ids)
    assert all(tuple(r) == CANONICAL_COLUMNS for r in data.records)


def test_truth_covers_every_record(data: GeneratedData, person_of: dict[str, str]) -> None:
    assert [rid for rid, _ in data.truth] == [r["record_id"] for r in data.records]
    assert len(set(person_of.values())) == 1000


def test_sorted_by_time_within_the_window(data: GeneratedData) -> None:
    stamps = [r["ts"] for r in data.records]
    assert stamps == sorted(stamps)
    assert all(TS.fullmatch(s) for s in stamps)
    assert stamps[0] >= "2024-01-01" and stamps[-1] < "2025-01-01"


def test_channels_carry_only_their_fields(data: GeneratedData) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for record in data.records:
        present = {k for k, v in record.items() if v} - ALWAYS
        assert present <= CHANNEL_FIELDS[record["channel"]], record
        seen[record["channel"]] |= present
    assert set(seen) == set(CHANNELS)
    assert all(seen[c] == CHANNEL_FIELDS[c] for c in CHANNELS)  # and every field gets used


def test_channel_mix(data: GeneratedData) -> None:
    share = Counter(r["channel"] for r in data.records)
    for channel in CHANNELS:
        assert 0.04 < share[channel] / len(data.records) < 0.4, channel


def test_phones_are_valid_for_gb_or_us(data: GeneratedData) -> None:
    phones = [r["phone"] for r in data.records if r["phone"]]
    real = [p for p in phones if p not in PLACEHOLDER_PHONES]
    valid = sum((_phone_key(p) or _phone_key(p, "US")) is not None for p in real)
    assert valid / len(real) > 0.99
    assert not any((_phone_key(p) or "").startswith("+447700900") for p in real)  # drama range
    formats = {re.sub(r"\d", "9", p) for p in real}
    assert {"99999 999999", "+99 9999 999999", "9999 9999 999999", "99999-999-999"} <= formats
    assert "(+99) 9999999999" in formats


def test_households_share_landlines_and_tablets(
    data: GeneratedData, person_of: dict[str, str]
) -> None:
    by_phone: dict[str, set[str]] = defaultdict(set)
    by_device: dict[str, set[str]] = defaultdict(set)
    for r in data.records:
        person = person_of[r["record_id"]]
        key = _phone_key(r["phone"]) if r["channel"] == "call_centre" else None
        if key:
            by_phone[key].add(person)
        if r["channel"] == "mobile_app" and r["device_id"] not in ("", *PLACEHOLDER_DEVICE_IDS):
            by_device[r["device_id"].lower().replace("-", "")].add(person)
    assert any(2 <= len(p) <= 4 for p in by_phone.values())
    assert any(2 <= len(p) <= 4 for p in by_device.values())


def test_store_phone_shared_by_many(data: GeneratedData, person_of: dict[str, str]) -> None:
    by_phone: dict[str, set[str]] = defaultdict(set)
    for r in data.records:
        key = _phone_key(r["phone"]) if r["channel"] == "store" else None
        if key:
            by_phone[key].add(person_of[r["record_id"]])
    assert max(len(p) for p in by_phone.values()) >= 10


def test_some_people_change_email(data: GeneratedData, person_of: dict[str, str]) -> None:
    emails: dict[str, set[str]] = defaultdict(set)
    for r in data.records:
        if r["email"] and r["email"].strip() not in PLACEHOLDER_EMAILS:
            emails[person_of[r["record_id"]]].add(_email_key(r["email"]))
    assert sum(len(e) > 1 for e in emails.values()) >= 10


def test_placeholder_and_invalid_shares(data: GeneratedData) -> None:
    total = len(data.records)
    placeholders = sum(_is_placeholder(r) for r in data.records)
    invalid = Counter(_invalid_field(r) for r in data.records)
    del invalid[None]
    assert 0.01 <= placeholders / total <= 0.08
    assert 0 < sum(invalid.values()) / total <= 0.005


def test_formatting_noise_is_present(data: GeneratedData) -> None:
    records = data.records
    emails = [r["email"] for r in records if r["email"]]
    handles = [r["handle"] for r in records if r["handle"]]
    devices = [r["device_id"] for r in records if r["channel"] == "mobile_app" and r["device_id"]]
    assert any("+" in e and "gmail" in e.lower() for e in emails)
    assert any(e.lower().endswith("@googlemail.com") for e in emails)
    assert any(e != e.strip() for e in emails) and any(e.isupper() for e in emails)
    assert any(h.startswith("@") for h in handles) and any("/" in h for h in handles)
    assert {"x", "ig", "fb"} <= {r["handle_platform"] for r in records}
    assert any(d.isupper() for d in devices) and any(len(d) == 32 for d in devices)
    assert any(" " in r["loyalty_card"] for r in records)
    assert any(r["given_name"].endswith(".") for r in records)


def test_loyalty_cards_pass_luhn(data: GeneratedData) -> None:
    cards = [r["loyalty_card"].replace(" ", "") for r in data.records if r["loyalty_card"]]
    good = [c for c in cards if len(c) == 16 and luhn_valid(c)]
    assert len(good) / len(cards) > 0.99


def test_write_generated_with_default_truth(tmp_path: Path) -> None:
    out, truth, count = write_generated(tmp_path / "people.parquet", 40, 3)
    assert truth == tmp_path / "people.truth.csv"
    with open_table(out) as table:
        rows = list(table)
    assert len(rows) == count and all(r.error is None for r in rows)
    assert truth.read_text().splitlines()[0] == "record_id,person_id"
    assert len(truth.read_text().splitlines()) == count + 1


def test_generate_verb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    generate_verb.register(parser.add_subparsers())
    out, truth = tmp_path / "people.csv.gz", tmp_path / "truth.jsonl"
    args = parser.parse_args(
        ["generate", "--persons", "30", "--out", str(out), "--truth", str(truth)]
    )
    assert args.func(args) == 0
    assert re.fullmatch(
        rf"wrote [\d,]+ records for 30 persons to {re.escape(str(out))}; "
        rf"ground truth in {re.escape(str(truth))}\n",
        capsys.readouterr().out,
    )
    assert out.exists() and truth.exists()
    bad = parser.parse_args(["generate", "--out", str(tmp_path / "people.txt")])
    assert bad.func(bad) == 2


def test_some_customers_write_the_american_way(data: GeneratedData) -> None:
    zips = [r["postcode"] for r in data.records if r["postcode"].isdigit()]
    assert zips and all(4 <= len(z) <= 5 for z in zips)
    assert any(len(z) == 4 for z in zips)  # a ZIP that lost its leading zero
    us = [p for r in data.records if (p := r["phone"]) and _phone_key(p) is None]
    us = [p for p in us if (_phone_key(p, "US") or "").startswith("+1")]
    formats = {re.sub(r"\d", "9", p) for p in us}
    assert {"(999) 999-9999", "999-999-9999"} <= formats


def test_social_records_carry_display_names(data: GeneratedData) -> None:
    social = [r for r in data.records if r["channel"] == "social_care" and r["given_name"]]
    display = [r["given_name"] for r in social if not r["surname"]]
    assert len(display) > len(social) * 0.15
    assert any(re.fullmatch(r"[A-Z][a-z]+, [A-Z][a-z]+", d) for d in display)  # "Smith, John"
    assert any(re.fullmatch(r"[A-Z][a-z]+ [A-Z]\.", d) for d in display)  # "Bob S."


def test_some_emails_have_a_misspelt_domain(data: GeneratedData) -> None:
    domains = Counter(r["email"].strip().lower().rpartition("@")[2] for r in data.records)
    slips = sum(n for d, n in domains.items() if d in {"gmial.com", "gamil.com", "hotmial.com"})
    assert slips > 0
