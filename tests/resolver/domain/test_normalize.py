"""Identifier normalization: canonical values, clear errors, placeholders, and idempotence."""

from __future__ import annotations

import ast
import dataclasses
import string
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import idres.resolver.domain.normalize as normalize_package
from idres.resolver.domain.errors import InvalidValue, ValidationError
from idres.resolver.domain.identifiers import IdentifierKind
from idres.resolver.domain.normalize import (
    DEFAULT_RULES,
    DOMAIN_TYPOS,
    EmailRules,
    NormalizationRules,
    Normalized,
    normalize,
    normalize_postcode,
)
from idres.resolver.settings import Settings

EMAIL = IdentifierKind.EMAIL
PHONE = IdentifierKind.PHONE
HANDLE = IdentifierKind.SOCIAL_HANDLE
DEVICE = IdentifierKind.DEVICE_ID
CARD = IdentifierKind.LOYALTY_CARD

PROPERTY = settings(max_examples=200, deadline=None)


def canonical(kind: IdentifierKind, raw: str, platform: str | None = None) -> str:
    result = normalize(kind, raw, platform=platform)
    assert not result.placeholder, f"{raw!r} was flagged as a placeholder"
    return result.identifier.value


# --- valid values -------------------------------------------------------------------------

VALID = [
    (EMAIL, "Jane.Doe@Example.co.uk", None, "jane.doe@example.co.uk"),
    (EMAIL, "  jane@shop.io \n", None, "jane@shop.io"),
    (EMAIL, "J.O.H.N.Smith+news@Gmail.com", None, "johnsmith@gmail.com"),
    (EMAIL, "john.smith@googlemail.com", None, "johnsmith@gmail.com"),
    (EMAIL, "jane.doe+orders@outlook.com", None, "jane.doe@outlook.com"),
    (EMAIL, "jane.doe+orders@yahoo.co.uk", None, "jane.doe+orders@yahoo.co.uk"),
    (EMAIL, "jane@mail.shop.io.", None, "jane@mail.shop.io"),
    (EMAIL, "jane@bücher.de", None, "jane@xn--bcher-kva.de"),
    (EMAIL, "o'brien@shop.ie", None, "o'brien@shop.ie"),
    (PHONE, "07911 123456", None, "+447911123456"),
    (PHONE, "+44 7911 123456", None, "+447911123456"),
    (PHONE, "0044 7911 123456", None, "+447911123456"),
    (PHONE, "(+44) 07911-123456", None, "+447911123456"),
    (PHONE, "+44 (0)7911 123456", None, "+447911123456"),
    (PHONE, "07911.123.456", None, "+447911123456"),
    (PHONE, "+447911123456", None, "+447911123456"),
    (PHONE, "07777777777", None, "+447777777777"),
    (PHONE, "020 7946 0958", None, "+442079460958"),
    (PHONE, "+1 (415) 555-2671", None, "+14155552671"),
    (PHONE, "+33 6 12 34 56 78", None, "+33612345678"),
    (HANDLE, "@JaneDoe", "twitter", "twitter:janedoe"),
    (HANDLE, "janedoe", "X", "twitter:janedoe"),
    (HANDLE, "janedoe", " x.com ", "twitter:janedoe"),
    (HANDLE, "twitter:janedoe", None, "twitter:janedoe"),
    (HANDLE, "Twitter:JaneDoe", "twitter", "twitter:janedoe"),
    (HANDLE, "https://x.com/JaneDoe", None, "twitter:janedoe"),
    (HANDLE, "twitter.com/janedoe/", None, "twitter:janedoe"),
    (HANDLE, "https://mobile.twitter.com/janedoe/status/123", None, "twitter:janedoe"),
    (HANDLE, "https://www.instagram.com/jane.doe/?hl=en", None, "instagram:jane.doe"),
    (HANDLE, "jane.doe", "ig", "instagram:jane.doe"),
    (HANDLE, "facebook.com/jane.doe.77", None, "facebook:jane.doe.77"),
    (HANDLE, "https://www.facebook.com/profile.php?id=100012345678", None, "facebook:100012345678"),
    (HANDLE, "jane.doe.77", "fb", "facebook:jane.doe.77"),
    (HANDLE, "tiktok.com/@jane_doe", None, "tiktok:jane_doe"),
    (HANDLE, "@jane_doe", "tt", "tiktok:jane_doe"),
    (HANDLE, "https://uk.linkedin.com/in/jane-doe-123/", None, "linkedin:jane-doe-123"),
    (HANDLE, "jane-doe", "li", "linkedin:jane-doe"),
    (HANDLE, "snapchat.com/add/jane.doe", None, "snapchat:jane.doe"),
    (HANDLE, "jane.doe", "snap", "snapchat:jane.doe"),
    (HANDLE, "https://www.threads.net/@jane.doe", None, "threads:jane.doe"),
    (HANDLE, "https://www.youtube.com/@JaneDoe", None, "youtube:janedoe"),
    (HANDLE, "janedoe", "yt", "youtube:janedoe"),
    (HANDLE, "https://x.com/janedoe", "twitter", "twitter:janedoe"),
    (DEVICE, "6F9619FF-8B86-D011-B42D-00C04FC964FF", None, "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    (DEVICE, "6f9619ff8b86d011b42d00c04fc964ff", None, "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    (
        DEVICE,
        "{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
        None,
        "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ),
    (DEVICE, " GA1.2.1234567890.1700000000 ", None, "ga1.2.1234567890.1700000000"),
    (DEVICE, "sess:AbC-123_x", None, "sess:abc-123_x"),
    (CARD, "4992 7398 716", None, "49927398716"),
    (CARD, "4111-1111-1111-1111", None, "4111111111111111"),
    (CARD, "79927398713", None, "79927398713"),
]


@pytest.mark.parametrize(("kind", "raw", "platform", "expected"), VALID)
def test_valid_values_normalize_to_their_canonical_form(
    kind: IdentifierKind, raw: str, platform: str | None, expected: str
) -> None:
    result = normalize(kind, raw, platform=platform)
    assert result == Normalized(result.identifier, placeholder=False)
    assert result.identifier.kind is kind
    assert result.identifier.value == expected
    assert canonical(kind, expected) == expected


# --- invalid values -----------------------------------------------------------------------

INVALID = [
    (EMAIL, "", "empty"),
    (EMAIL, "   \t\n", "empty"),
    (EMAIL, "jane.example.com", "not an email address: missing '@'"),
    (EMAIL, "jane@doe@shop.io", "more than one '@'"),
    (EMAIL, "@example.com", "empty local part"),
    (EMAIL, "jane doe@shop.io", "whitespace"),
    (EMAIL, "jane@shop", "domain has no dot"),
    (EMAIL, "jane@exa_mple.com", "domain is not a valid host name"),
    (EMAIL, "jane@-example.com", "domain is not a valid host name"),
    (EMAIL, "jane..doe@example.co.uk", "doubled dot"),
    (EMAIL, ".jane@shop.io", "leading"),
    (EMAIL, "jané@shop.io", "non-ASCII"),
    (EMAIL, '"jane"@shop.io', "local part has characters outside"),
    (EMAIL, "jane\x00@shop.io", "local part has characters outside"),
    (EMAIL, "+tag@gmail.com", "empty local part"),
    (EMAIL, "jane.+tag@outlook.com", "trailing"),
    (EMAIL, "j" * 65 + "@shop.io", "local part longer than 64"),
    (EMAIL, "jane@" + "a" * 250 + ".com", "longer than 254"),
    (EMAIL, "x" * 5000, "too long"),
    (PHONE, "hello", "not a valid phone number"),
    (PHONE, "07911 12345", "not a valid phone number for region GB"),
    (PHONE, "07700 900123", "not a valid phone number for region GB"),
    (PHONE, "+33 1", "not a valid phone number"),
    (PHONE, "+1 123 555 0100", "not a valid phone number for region US"),
    (PHONE, "+999 123 456 789", "unknown country code"),
    (HANDLE, "janedoe", "handle needs a platform"),
    (HANDLE, "@janedoe", "handle needs a platform"),
    (HANDLE, "mastodon:jane", "unknown social platform 'mastodon'"),
    (HANDLE, "https://mastodon.social/@jane", "not a supported platform"),
    (HANDLE, "twitter:this_is_far_too_long", "not a valid twitter handle"),
    (HANDLE, "twitter:jane.doe", "not a valid twitter handle"),
    (HANDLE, "tiktok:j", "not a valid tiktok handle"),
    (HANDLE, "https://x.com/", "profile URL has no handle"),
    (HANDLE, "https://www.instagram.com/p/Cxyz123/", "not a profile page"),
    (HANDLE, "linkedin.com/company/acme", "not a profile page"),
    (HANDLE, "ftp://x.com/jane", "not a social handle or profile URL"),
    (HANDLE, "twitter:jäne", "non-ASCII"),
    (DEVICE, "abc", "not a device id"),
    (DEVICE, "cookie with spaces", "not a device id"),
    (DEVICE, "{6F9619FF-8B86-D011-B42D-00C04FC964FF", "not a device id"),
    (DEVICE, "k" * 129, "not a device id"),
    (DEVICE, "\u212a" * 10, "not a device id"),
    (CARD, "4992 7398 717", "loyalty card check digit does not match"),
    (CARD, "4992A7398716", "only digits"),
    (CARD, "4992739", "8 to 19 digits, not 7"),
    (CARD, "49927398716" + "123456789", "8 to 19 digits, not 20"),
    (CARD, "٤٩٩٢٧٣٩٨٧١٦", "only digits"),
]


@pytest.mark.parametrize(("kind", "raw", "message"), INVALID)
def test_invalid_values_raise_a_clear_message(kind: IdentifierKind, raw: str, message: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize(kind, raw)
    assert message in str(caught.value)


def test_a_platform_that_contradicts_the_url_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="platform 'x' does not match URL of instagram"):
        normalize(HANDLE, "https://www.instagram.com/jane.doe/", platform="x")
    with pytest.raises(InvalidValue, match="does not match value of instagram"):
        normalize(HANDLE, "instagram:jane.doe", platform="twitter")
    # Not a placeholder fallback: without the platform it would normalize to something else.
    with pytest.raises(InvalidValue, match="does not match value of instagram"):
        normalize(HANDLE, "instagram:@NIL", platform="twitter")


def test_an_empty_platform_counts_as_absent() -> None:
    # proto3 sends an unset string field as "".
    assert normalize(HANDLE, "https://x.com/jane", platform="").identifier.value == "twitter:jane"
    with pytest.raises(InvalidValue, match="handle needs a platform"):
        normalize(HANDLE, "jane", platform=" ")


def test_an_unknown_platform_argument_is_named() -> None:
    with pytest.raises(InvalidValue, match="unknown social platform 'Mastodon'"):
        normalize(HANDLE, "jane", platform="Mastodon")


def test_invalid_value_is_a_value_error() -> None:
    assert issubclass(InvalidValue, ValueError)


# --- placeholders -------------------------------------------------------------------------

PLACEHOLDERS = [
    (EMAIL, "unknown", "unknown"),
    (EMAIL, " N/A ", "n/a"),
    (EMAIL, "No Email", "no email"),
    (EMAIL, "noemail", "noemail"),
    (EMAIL, "-", "-"),
    (EMAIL, "?", "?"),
    (EMAIL, "Not Given", "not given"),
    (EMAIL, "Test@Test.com", "test@test.com"),
    (EMAIL, "test@example.com", "test@example.com"),
    (EMAIL, "jane@example.org", "jane@example.org"),
    (EMAIL, "jane@test.com", "jane@test.com"),
    (EMAIL, "NoEmail@shop.co.uk", "noemail@shop.co.uk"),
    (EMAIL, "none@gmail.com", "none@gmail.com"),
    (EMAIL, "n.o.n.e+x@gmail.com", "none@gmail.com"),
    (EMAIL, "no@email.com", "no@email.com"),
    (EMAIL, "nobody@shop.io", "nobody@shop.io"),
    (EMAIL, "a@a.com", "a@a.com"),
    (EMAIL, "x@y.com", "x@y.com"),
    (EMAIL, "jane@shop.invalid", "jane@shop.invalid"),
    (EMAIL, "noemail@", "noemail@"),
    (PHONE, "unknown", "unknown"),
    (PHONE, "0000000000", "0000000000"),
    (PHONE, "1111111111", "1111111111"),
    (PHONE, "000-000-0000", "000-000-0000"),
    (PHONE, "+1 111 111 1111", "+1 111 111 1111"),
    (PHONE, "1234567890", "+441234567890"),
    (PHONE, "0123456789", "0123456789"),
    (PHONE, "01234 567890", "+441234567890"),
    (PHONE, "+1 123 456 7890", "+1 123 456 7890"),
    (PHONE, "xxx", "xxx"),
    (HANDLE, "none", "twitter:none"),
    (HANDLE, "@unknown", "twitter:unknown"),
    (HANDLE, "n/a", "n/a"),
    (HANDLE, "test", "twitter:test"),
    (HANDLE, "x.com/none", "twitter:none"),
    (HANDLE, "@X", "twitter:x"),
    (DEVICE, "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
    (DEVICE, "{00000000000000000000000000000000}", "00000000-0000-0000-0000-000000000000"),
    (DEVICE, "0", "0"),
    (DEVICE, "undefined", "undefined"),
    (DEVICE, "null", "null"),
    (CARD, "0000 0000 0000", "000000000000"),
    (CARD, "1111-1111", "1111-1111"),
    (CARD, "0000", "0000"),
    (CARD, "n/a", "n/a"),
]
# Handles without a platform cannot normalize, so they come back as their lower-cased text.
UNPLATFORMED_HANDLES = [
    (HANDLE, "None", "none"),
    (HANDLE, "@unknown", "@unknown"),
    (HANDLE, "?", "?"),
]


@pytest.mark.parametrize(("kind", "raw", "expected"), PLACEHOLDERS)
def test_placeholders_are_kept_and_flagged(kind: IdentifierKind, raw: str, expected: str) -> None:
    platform = "twitter" if kind is HANDLE else None
    result = normalize(kind, raw, platform=platform)
    assert result.placeholder
    assert result.identifier.value == expected
    assert normalize(kind, expected) == result


@pytest.mark.parametrize(("kind", "raw", "expected"), UNPLATFORMED_HANDLES)
def test_handle_placeholders_need_no_platform(
    kind: IdentifierKind, raw: str, expected: str
) -> None:
    result = normalize(kind, raw)
    assert result.placeholder
    assert result.identifier.value == expected
    assert normalize(kind, expected) == result


def test_a_repetitive_tail_after_the_country_code_is_not_a_placeholder() -> None:
    assert not normalize(PHONE, "07777777777").placeholder
    assert not normalize(PHONE, "+447777777777").placeholder


# --- configurable rules -------------------------------------------------------------------


def test_default_region_reads_national_numbers() -> None:
    us = NormalizationRules(default_region="US")
    assert normalize(PHONE, "(415) 555-2671", rules=us).identifier.value == "+14155552671"
    assert normalize(PHONE, "+44 7911 123456", rules=us).identifier.value == "+447911123456"
    with pytest.raises(InvalidValue, match="for region US"):
        normalize(PHONE, "07911 123456", rules=us)


def test_an_unknown_default_region_is_rejected_when_configured() -> None:
    with pytest.raises(ValueError, match="unknown default_region 'gb'"):
        NormalizationRules(default_region="gb")


def test_extra_placeholders_match_every_spelling_of_a_normalized_entry() -> None:
    rules = NormalizationRules(
        extra_placeholders=frozenset({"07911 123456", "Front.Desk@Gmail.com", "Ask Reception"})
    )
    for raw in ("+44 7911 123456", "07911123456", "(+44) 07911-123456"):
        assert normalize(PHONE, raw, rules=rules).placeholder
    assert normalize(EMAIL, "frontdesk+x@googlemail.com", rules=rules).placeholder
    assert normalize(PHONE, " ask reception", rules=rules).placeholder
    assert normalize(PHONE, "Ask Reception", rules=rules).identifier.value == "ask reception"
    assert not normalize(PHONE, "07911 123457", rules=rules).placeholder
    assert not normalize(PHONE, "07911 123456").placeholder
    with pytest.raises(InvalidValue):
        normalize(PHONE, "Ask Reception")


def test_plus_tags_can_be_kept_for_a_domain() -> None:
    email = DEFAULT_RULES.email
    rules = NormalizationRules(
        email=dataclasses.replace(email, plus_tags=email.plus_tags - {"outlook.com"})
    )
    raw = "jane+orders@outlook.com"
    assert normalize(EMAIL, raw, rules=rules).identifier.value == "jane+orders@outlook.com"
    assert normalize(EMAIL, raw).identifier.value == "jane@outlook.com"


def test_provider_rules_can_be_extended() -> None:
    rules = NormalizationRules(
        email=EmailRules(
            domain_aliases={"btopenworld.com": "btinternet.com"},
            ignore_dots=frozenset({"btinternet.com"}),
            plus_tags=frozenset({"btinternet.com"}),
        )
    )
    assert (
        normalize(EMAIL, "j.doe+x@btopenworld.com", rules=rules).identifier.value
        == "jdoe@btinternet.com"
    )
    assert (
        normalize(EMAIL, "j.doe+x@gmail.com", rules=rules).identifier.value == "j.doe+x@gmail.com"
    )


def test_chained_domain_aliases_are_rejected_when_configured() -> None:
    with pytest.raises(ValueError, match="is itself an alias"):
        EmailRules(domain_aliases={"a.com": "b.com", "b.com": "c.com"})


def test_check_digit_can_be_disabled() -> None:
    rules = NormalizationRules(loyalty_check_digit=False)
    assert normalize(CARD, "4992 7398 717", rules=rules).identifier.value == "49927398717"
    with pytest.raises(InvalidValue, match="check digit"):
        normalize(CARD, "4992 7398 717")


# --- phone regions ------------------------------------------------------------------------

GB_US = NormalizationRules(phone_regions=("GB", "US"))


def phone(raw: str, rules: NormalizationRules = GB_US, region: str | None = None) -> str:
    return normalize(PHONE, raw, rules=rules, region=region).identifier.value


@pytest.mark.parametrize("raw", ["(212) 555-0100", "212-555-0100", "2125550100", "212.555.0100"])
def test_us_national_numbers_are_read_in_a_second_region(raw: str) -> None:
    assert phone(raw) == "+12125550100"
    with pytest.raises(InvalidValue, match="not a valid phone number for region GB"):
        normalize(PHONE, raw)


def test_a_gb_mobile_stays_gb_with_us_configured_and_hinted() -> None:
    assert phone("07911 123456") == "+447911123456"
    assert phone("07911 123456", region="US") == "+447911123456"


def test_the_hint_picks_among_regions_a_number_is_valid_in() -> None:
    # The same ten digits are a London number and a New Jersey one.
    assert phonenumbers.is_valid_number(phonenumbers.parse("(201) 555-0123", "GB"))
    assert phone("(201) 555-0123") == "+442015550123"
    assert phone("(201) 555-0123", region="US") == "+12015550123"
    assert phone("(201) 555-0123", region="us") == "+12015550123"
    assert phone("(201) 555-0123", region="GB") == "+442015550123"
    us_first = NormalizationRules(phone_regions=("US", "GB"))
    assert phone("(201) 555-0123", us_first) == "+12015550123"


def test_a_hint_outside_the_configured_regions_is_ignored() -> None:
    assert phone("(201) 555-0123", region="FR") == "+442015550123"
    assert phone("2125550100", region="FR") == "+12125550100"
    with pytest.raises(InvalidValue, match="for region GB"):
        normalize(PHONE, "2125550100", region="US")


def test_a_hint_falls_back_when_the_number_is_not_valid_there() -> None:
    assert phone("0113 496 0000", region="US") == "+441134960000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("(0044) 7911 123456", "+447911123456"),
        ("00 1 212 555 0100", "+12125550100"),
        ("+1 212 555 0100", "+12125550100"),
    ],
)
def test_a_number_with_a_country_code_is_read_as_written(raw: str, expected: str) -> None:
    assert phone(raw, region="US") == expected
    assert phone(raw, region="GB") == expected
    assert phone(raw, NormalizationRules(phone_regions=("US",))) == expected


def test_north_american_international_dialling_is_read_in_a_north_american_region() -> None:
    assert phone("011 44 7911 123456") == "+447911123456"


def test_a_number_valid_in_no_configured_region_names_them_all() -> None:
    with pytest.raises(InvalidValue, match=r"^not a valid phone number for GB or US$"):
        normalize(PHONE, "12345", rules=GB_US, region="US")
    three = NormalizationRules(phone_regions=("GB", "US", "IE"))
    with pytest.raises(InvalidValue, match=r"^not a valid phone number for GB, US or IE$"):
        normalize(PHONE, "07911 12345", rules=three)
    with pytest.raises(InvalidValue, match=r"for region US$"):
        normalize(PHONE, "+1 123 555 0100", rules=GB_US)
    with pytest.raises(InvalidValue, match="not a valid phone number: not a phone number"):
        normalize(PHONE, "hello", rules=GB_US)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("(212) 555-0100", None),
        ("(201) 555-0123", "US"),
        ("(201) 555-0123", "GB"),
        ("07911 123456", "US"),
        ("0044 7911 123456", "US"),
        ("000-000-0000", "US"),
    ],
)
def test_regional_results_are_idempotent_without_the_hint(raw: str, region: str | None) -> None:
    first = normalize(PHONE, raw, rules=GB_US, region=region)
    assert normalize(PHONE, first.identifier.value, rules=GB_US) == first
    assert normalize(PHONE, first.identifier.value, rules=GB_US, region="GB") == first


def test_default_region_is_the_one_region_spelling_of_phone_regions() -> None:
    assert DEFAULT_RULES.phone_regions == ("GB",)
    assert NormalizationRules(default_region="US").phone_regions == ("US",)
    assert NormalizationRules("US").phone_regions == ("US",)
    both = NormalizationRules(default_region="US", phone_regions=("US", "GB"))
    assert both.phone_regions == ("US", "GB")
    assert dataclasses.replace(both, phone_regions=("GB",)).phone_regions == ("GB",)
    with pytest.raises(ValueError, match="default_region 'US' must be the first of phone_regions"):
        NormalizationRules(default_region="US", phone_regions=("GB", "US"))


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        (("GB", "gb"), "unknown phone region 'gb'"),
        (("UK",), "the United Kingdom is 'GB'"),
        (("GB", "US", "GB"), "lists a region twice"),
        ("GB,US", "not 'GB,US'"),
    ],
)
def test_bad_phone_regions_are_rejected_when_configured(
    regions: tuple[str, ...], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        NormalizationRules(phone_regions=regions)


def test_channel_regions_are_validated_and_matched_lower_case() -> None:
    rules = NormalizationRules(channel_regions={" Store_US ": "US"})
    assert dict(rules.channel_regions) == {"store_us": "US"}
    with pytest.raises(ValueError, match="unknown channel 'web' region 'Gb'"):
        NormalizationRules(channel_regions={"web": "Gb"})


# --- region settings ----------------------------------------------------------------------


def test_phone_regions_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"IDRES_PHONE_REGIONS": " gb, US ,"})
    assert settings.phone_regions == ("GB", "US")
    assert settings.normalization_rules.phone_regions == ("GB", "US")
    assert phone("(212) 555-0100", settings.normalization_rules) == "+12125550100"


def test_default_region_alone_still_sets_the_only_region() -> None:
    assert Settings.from_env({}).normalization_rules.phone_regions == ("GB",)
    settings = Settings.from_env({"IDRES_DEFAULT_REGION": "us"})
    assert settings.normalization_rules.phone_regions == ("US",)
    agreeing = {"IDRES_DEFAULT_REGION": "US", "IDRES_PHONE_REGIONS": "US,GB"}
    assert Settings.from_env(agreeing).normalization_rules.phone_regions == ("US", "GB")


def test_channel_regions_are_read_from_the_environment() -> None:
    env = {"IDRES_CHANNEL_REGIONS": "store_us:US, Web_Chat:gb"}
    rules = Settings.from_env(env).normalization_rules
    assert dict(rules.channel_regions) == {"store_us": "US", "web_chat": "GB"}
    assert rules.extra_placeholders == frozenset()


@pytest.mark.parametrize(
    ("env", "variable", "message"),
    [
        ({"IDRES_PHONE_REGIONS": "GB,XX"}, "IDRES_PHONE_REGIONS", "unknown region 'XX'"),
        ({"IDRES_PHONE_REGIONS": "GB,UK"}, "IDRES_PHONE_REGIONS", "the United Kingdom is 'GB'"),
        ({"IDRES_PHONE_REGIONS": "GB,US,gb"}, "IDRES_PHONE_REGIONS", "'GB' is listed twice"),
        ({"IDRES_PHONE_REGIONS": " , "}, "IDRES_PHONE_REGIONS", "no region in"),
        ({"IDRES_DEFAULT_REGION": "Britain"}, "IDRES_DEFAULT_REGION", "unknown region 'BRITAIN'"),
        (
            {"IDRES_DEFAULT_REGION": "US", "IDRES_PHONE_REGIONS": "GB,US"},
            "IDRES_DEFAULT_REGION",
            "'US' is not the first of IDRES_PHONE_REGIONS (GB,US)",
        ),
        ({"IDRES_CHANNEL_REGIONS": "store_us"}, "IDRES_CHANNEL_REGIONS", "not channel:REGION"),
        (
            {"IDRES_CHANNEL_REGIONS": "store_us:US,web:ZZ"},
            "IDRES_CHANNEL_REGIONS",
            "channel 'web': unknown region 'ZZ'",
        ),
        (
            {"IDRES_CHANNEL_REGIONS": "web:GB,WEB:US"},
            "IDRES_CHANNEL_REGIONS",
            "channel 'WEB' is given twice",
        ),
    ],
)
def test_bad_region_settings_name_their_variable(
    env: dict[str, str], variable: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_env(env)
    [violation] = caught.value.violations
    assert violation.field == variable
    assert message in violation.description


# --- postcodes ----------------------------------------------------------------------------

POSTCODES = [
    ("sw1a1aa", None, "SW1A 1AA"),
    (" sw1a  1aa ", None, "SW1A 1AA"),
    ("SW1A-1AA", "GB", "SW1A 1AA"),
    ("m11ae", "GB", "M1 1AE"),
    ("ec1a1bb", None, "EC1A 1BB"),
    ("b338th", None, "B33 8TH"),
    ("je23ab", "JE", "JE2 3AB"),
    ("gir0aa", None, "GIR 0AA"),
    ("sw1a1aa", "US", "SW1A1AA"),
    ("12345", None, "12345"),
    ("12345-6789", None, "12345"),
    ("12345 6789", "US", "12345"),
    ("123456789", "US", "12345"),
    ("00907-1234", "PR", "00907"),
    ("2134", None, "02134"),
    ("2134", "US", "02134"),
    ("2134", "AU", "2134"),
    ("2134", "GB", "2134"),
    ("2134", "PR", "2134"),
    ("0213", None, "0213"),
    ("213", "US", "213"),
    ("12345-6789", "DE", "12345-6789"),
    ("k1a 0b1", "CA", "K1A 0B1"),
    ("  k1a   0b1", None, "K1A 0B1"),
    ("123 45", "SE", "123 45"),
    ("75001", "FR", "75001"),
    ("", None, ""),
    ("n/a", None, "N/A"),
]


@pytest.mark.parametrize(("raw", "region", "expected"), POSTCODES)
def test_postcodes_have_one_spelling(raw: str, region: str | None, expected: str) -> None:
    assert normalize_postcode(raw, region) == expected
    assert normalize_postcode(expected, region) == expected


@PROPERTY
@given(raw=st.text(), region=st.sampled_from([None, "GB", "US", "PR", "AU", "", "us"]))
def test_postcodes_never_raise_and_settle_at_once(raw: str, region: str | None) -> None:
    once = normalize_postcode(raw, region)
    assert normalize_postcode(once, region) == once


# --- email domain typos -------------------------------------------------------------------

TYPOS = [
    ("jane.doe@gmial.com", "janedoe@gmail.com"),
    ("jane.doe@gmai.com", "janedoe@gmail.com"),
    ("Jane.Doe+x@GAMIL.com", "janedoe@gmail.com"),
    ("jane@gnail.com", "jane@gmail.com"),
    ("jane@gmail.co", "jane@gmail.com"),
    ("jane+x@hotmial.com", "jane@hotmail.com"),
    ("jane@hotmal.com", "jane@hotmail.com"),
    ("jane@yaho.com", "jane@yahoo.com"),
    ("jane@yahooo.com", "jane@yahoo.com"),
    ("jane+x@outlok.com", "jane@outlook.com"),
    ("jane+x@iclod.com", "jane@icloud.com"),
    ("jane@hotmail.co.uk", "jane@hotmail.co.uk"),
    ("jane@hotmail.co", "jane@hotmail.co"),
    ("jane@yahoo.co", "jane@yahoo.co"),
]


@pytest.mark.parametrize(("raw", "expected"), TYPOS)
def test_known_domain_typos_are_corrected(raw: str, expected: str) -> None:
    assert canonical(EMAIL, raw) == expected
    assert canonical(EMAIL, expected) == expected


def test_every_typo_maps_to_a_domain_that_is_no_typo() -> None:
    for typo, domain in DOMAIN_TYPOS.items():
        assert domain not in DOMAIN_TYPOS
        assert canonical(EMAIL, f"jane@{typo}") == canonical(EMAIL, f"jane@{domain}")


def test_typo_correction_can_be_replaced_or_turned_off() -> None:
    off = NormalizationRules(email=EmailRules(domain_typos={}))
    assert normalize(EMAIL, "jane@gmial.com", rules=off).identifier.value == "jane@gmial.com"
    extended = NormalizationRules(
        email=EmailRules(domain_typos={**DOMAIN_TYPOS, "btinternt.com": "btinternet.com"})
    )
    assert normalize(EMAIL, "j@btinternt.com", rules=extended).identifier.value == (
        "j@btinternet.com"
    )
    assert normalize(EMAIL, "jane@gmial.com", rules=extended).identifier.value == "jane@gmail.com"


def test_a_typo_of_an_alias_must_name_the_canonical_domain() -> None:
    with pytest.raises(ValueError, match=r"'googlemail\.com' is itself an alias or typo"):
        EmailRules(domain_typos={"googlemial.com": "googlemail.com"})
    with pytest.raises(ValueError, match=r"'gmial\.com' is itself an alias or typo"):
        EmailRules(domain_aliases={"mail.example": "gmial.com"})
    with pytest.raises(ValueError, match="both an alias and a typo"):
        EmailRules(domain_aliases={"a.com": "b.com"}, domain_typos={"a.com": "c.com"})


# --- properties ---------------------------------------------------------------------------


def attempt(kind: IdentifierKind, raw: str, platform: str | None = None) -> Normalized | None:
    """Normalize, turning InvalidValue into None; any other exception fails the test."""
    try:
        return normalize(kind, raw, platform=platform)
    except InvalidValue as error:
        assert str(error)
        return None


def assert_total_and_idempotent(kind: IdentifierKind, raw: str, platform: str | None) -> None:
    first = attempt(kind, raw, platform)
    if first is None:
        return
    assert first.identifier.kind is kind
    again = normalize(kind, first.identifier.value)
    assert again == first


PLATFORMS = st.one_of(
    st.none(),
    st.sampled_from(["twitter", "X", "ig", "instagram", "fb", "tiktok", "tt", "li", "snap"]),
    st.sampled_from(["threads", "youtube", "yt", "mastodon", ""]),
    st.text(max_size=8),
)


@PROPERTY
@given(kind=st.sampled_from(IdentifierKind), raw=st.text(), platform=PLATFORMS)
def test_any_text_normalizes_or_raises_invalid_value(
    kind: IdentifierKind, raw: str, platform: str | None
) -> None:
    assert_total_and_idempotent(kind, raw, platform)


def padded(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Surround generated values with the whitespace people paste along with them."""
    space = st.sampled_from(["", " ", "\t", "\n "])
    return st.builds(lambda left, value, right: left + value + right, space, inner, space)


def recased(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(inner, inner.map(str.upper), inner.map(str.title))


LOCAL_CHARS = string.ascii_letters + string.digits + "._+-'"
EMAILS = st.one_of(
    st.emails(),
    st.builds(
        "{}@{}".format,
        st.text(LOCAL_CHARS, min_size=1, max_size=20),
        st.sampled_from(
            ["gmail.com", "googlemail.com", "outlook.com", "shop.co.uk", "bücher.de", "example.com"]
        ),
    ),
)


@PROPERTY
@given(raw=padded(recased(EMAILS)))
def test_plausible_emails_are_total_and_idempotent(raw: str) -> None:
    assert_total_and_idempotent(EMAIL, raw, None)


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
]


@st.composite
def example_phones(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["GB", "GB", "US", "FR", "DE", "IN", *REGIONS]))
    number = phonenumbers.example_number(region)
    if number is None:
        return "+44 7911 123456"
    text = str(phonenumbers.format_number(number, draw(st.sampled_from(FORMATS))))
    # Change a few digits so that some numbers become invalid.
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, len(text) - 1))
        if text[where].isdigit():
            text = text[:where] + draw(st.sampled_from(string.digits)) + text[where + 1 :]
    return text


PHONES = st.one_of(
    example_phones(),
    st.text("0123456789 +-().", max_size=20),
    st.builds("07{}".format, st.text(string.digits, min_size=9, max_size=9)),
)


@PROPERTY
@given(raw=padded(PHONES))
def test_plausible_phones_are_total_and_idempotent(raw: str) -> None:
    assert_total_and_idempotent(PHONE, raw, None)


@PROPERTY
@given(raw=padded(PHONES), region=st.sampled_from([None, "GB", "US", "FR", ""]))
def test_phones_in_several_regions_are_total_and_idempotent(raw: str, region: str | None) -> None:
    try:
        first = normalize(PHONE, raw, rules=GB_US, region=region)
    except InvalidValue as error:
        assert str(error)
        return
    assert normalize(PHONE, first.identifier.value, rules=GB_US) == first


def uuid_spellings(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [value, value.upper(), value.replace("-", ""), "{" + value.upper() + "}", value[:-1]]
    )


DEVICE_IDS = st.one_of(
    st.uuids().map(str).flatmap(uuid_spellings),
    st.text(string.ascii_letters + string.digits + "._:-{}", max_size=40),
)


@PROPERTY
@given(raw=padded(DEVICE_IDS))
def test_plausible_device_ids_are_total_and_idempotent(raw: str) -> None:
    assert_total_and_idempotent(DEVICE, raw, None)


HANDLE_TEXT = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=32)
URL_TEMPLATES = [
    "https://x.com/{}",
    "twitter.com/{}/",
    "https://www.instagram.com/{}/?hl=en",
    "facebook.com/{}",
    "tiktok.com/@{}",
    "https://uk.linkedin.com/in/{}",
    "snapchat.com/add/{}",
    "https://www.threads.net/@{}",
    "youtube.com/@{}",
    "@{}",
    "{}",
    "twitter:{}",
    "instagram:@{}",
]


@PROPERTY
@given(
    raw=padded(st.builds(str.format, st.sampled_from(URL_TEMPLATES), HANDLE_TEXT)),
    platform=PLATFORMS,
)
def test_plausible_handles_are_total_and_idempotent(raw: str, platform: str | None) -> None:
    assert_total_and_idempotent(HANDLE, raw, platform)


def with_check_digit(body: str) -> str:
    """Append the Luhn digit that makes `body` valid."""
    for digit in string.digits:
        candidate = body + digit
        doubled = [int(c) for c in candidate[-2::-2]]
        total = sum(int(c) for c in candidate[::-2]) + sum(d * 2 - 9 * (d > 4) for d in doubled)
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


CARDS = st.one_of(
    st.text(string.digits, min_size=7, max_size=18).map(with_check_digit),
    st.text(string.digits + " -", max_size=24),
)


@PROPERTY
@given(raw=padded(CARDS))
def test_plausible_cards_are_total_and_idempotent(raw: str) -> None:
    assert_total_and_idempotent(CARD, raw, None)


@PROPERTY
@given(body=st.text(string.digits, min_size=7, max_size=18))
def test_cards_with_a_correct_check_digit_are_accepted(body: str) -> None:
    number = with_check_digit(body)
    assert normalize(CARD, number).identifier.value == number


# --- purity -------------------------------------------------------------------------------

FORBIDDEN_IMPORTS = ("grpc", "psycopg", "faiss", "opentelemetry")


def test_the_normalizers_import_no_transport_or_storage_library() -> None:
    for path in Path(normalize_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IMPORTS, f"{path.name} imports {name}"
