"""The region a record points to: its country, then its postcode's shape, then its channel."""

from __future__ import annotations

import phonenumbers
import pytest

from idres.resolver.domain.identifiers import IdentifierKind
from idres.resolver.domain.normalize import (
    DEFAULT_RULES,
    NormalizationRules,
    country_region,
    normalize,
    normalize_postcode,
    region_of,
)
from idres.resolver.domain.normalize.region import _COUNTRY_NAMES

RULES = NormalizationRules(
    phone_regions=("GB", "US"), channel_regions={"store_us": "US", "web_chat": "GB"}
)


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("GB", "GB"),
        ("gb", "GB"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("United Kingdom", "GB"),
        ("  the united   kingdom ", "GB"),
        ("England", "GB"),
        ("US", "US"),
        ("U.S.", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("The Netherlands", "NL"),
        ("Deutschland", "DE"),
        ("fr", "FR"),
        ("Isle of Man", "IM"),
        ("", None),
        ("n/a", None),
        ("NA", None),
        ("unknown", None),
        ("Narnia", None),
        ("XX", None),
    ],
)
def test_a_country_field_names_its_region(country: str, expected: str | None) -> None:
    assert country_region(country) == expected


def test_every_country_name_is_a_region_phone_metadata_knows() -> None:
    assert set(_COUNTRY_NAMES.values()) <= phonenumbers.SUPPORTED_REGIONS


@pytest.mark.parametrize(
    ("postcode", "expected"),
    [
        ("SW1A 1AA", "GB"),
        ("sw1a1aa", "GB"),
        ("M1 1AE", "GB"),
        ("12345", "US"),
        ("12345-6789", "US"),
        ("2134", "US"),
        ("0213", None),
        ("213", None),
        ("K1A 0B1", None),
        ("75001 Paris", None),
        ("", None),
    ],
)
def test_a_postcode_shape_points_to_its_region(postcode: str, expected: str | None) -> None:
    assert region_of(postcode, rules=RULES) == expected


def test_the_country_field_comes_before_the_postcode() -> None:
    # A French or German postcode has a ZIP's shape; the country says otherwise.
    assert region_of("75001", country="France", rules=RULES) == "FR"
    assert region_of("10115", country="DE", channel="store_us", rules=RULES) == "DE"
    assert region_of("SW1A 1AA", country="USA", rules=RULES) == "US"
    assert region_of("12345", country="n/a", rules=RULES) == "US"


def test_a_postcode_shape_counts_only_for_a_configured_phone_region() -> None:
    assert region_of("12345", rules=DEFAULT_RULES) is None
    assert region_of("SW1A 1AA", rules=DEFAULT_RULES) == "GB"
    gb_de = NormalizationRules(phone_regions=("GB", "DE"), channel_regions={"store_de": "DE"})
    assert region_of("10115", channel="store_de", rules=gb_de) == "DE"
    # Jersey postcodes have the UK shape but Jersey is a phone region of its own.
    assert region_of("JE2 3AB", rules=RULES) is None
    assert region_of("JE2 3AB", rules=NormalizationRules(phone_regions=("GB", "JE"))) == "JE"


def test_the_channel_default_comes_last() -> None:
    assert region_of("", channel="store_us", rules=RULES) == "US"
    assert region_of("not a postcode", channel=" Store_US ", rules=RULES) == "US"
    assert region_of("SW1A 1AA", channel="store_us", rules=RULES) == "GB"
    assert region_of("", channel="call_centre", rules=RULES) is None
    assert region_of("", rules=RULES) is None


def test_the_region_reads_a_record_s_phone_and_postcode() -> None:
    region = region_of("2134", channel="web_chat", rules=RULES)
    assert region == "US"
    assert normalize_postcode("2134", region) == "02134"
    found = normalize(IdentifierKind.PHONE, "(201) 555-0123", rules=RULES, region=region)
    assert found.identifier.value == "+12015550123"
    at_home = region_of("", channel="web_chat", rules=RULES)
    found = normalize(IdentifierKind.PHONE, "(201) 555-0123", rules=RULES, region=at_home)
    assert found.identifier.value == "+442015550123"
