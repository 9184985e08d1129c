"""Phone numbers: any common written form to E.164, judged by libphonenumber's metadata.

A number written with a country code is read as written. A national number is read in each
configured region in turn, the record's own region first, and the first region it is valid in
wins: the same digits are a London and a New Jersey number, so only the order can decide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneNumber, PhoneNumberFormat

from idres.resolver.domain.errors import InvalidValue

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
# 00 is the international prefix of most of the world, so 0044... and 00 1... mean +44 and +1
# whichever regions are configured (North America dials 011, which its regions still read).
_LEADING_00 = re.compile(r"^([\s(]*)00")


def normalize_phone(text: str, regions: Sequence[str], hint: str | None = None) -> str:
    """E.164 form (+447911123456); a national number is read in `hint` first when it is one
    of `regions`, then in `regions` in order."""
    value, error = _remembered(text, tuple(regions), hint)
    if error:
        raise InvalidValue(error)
    return value


@lru_cache(maxsize=1 << 16)
def _remembered(text: str, regions: tuple[str, ...], hint: str | None) -> tuple[str, str]:
    """(value, "") or ("", why not). libphonenumber takes about 0.2 ms a number, and one number
    comes back in few spellings: a store's own on every till record, a customer's in each
    channel."""
    try:
        return _normalized(text, regions, hint), ""
    except InvalidValue as exc:
        return "", str(exc)


def _normalized(text: str, regions: Sequence[str], hint: str | None) -> str:
    text = _LEADING_00.sub(r"\1+", text, count=1)
    failure: NumberParseException | None = None
    parsed = False
    for region in _order(regions, hint):
        try:
            number = phonenumbers.parse(text, region, keep_raw_input=True)
        except NumberParseException as exc:
            failure = failure or exc
            continue
        if number.country_code_source == CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN:
            return _as_written(number)
        if phonenumbers.is_valid_number(number):
            return _e164(number)
        parsed = True
    if failure is not None and not parsed:
        reason = _PARSE_REASONS.get(failure.error_type, "not a phone number")
        raise InvalidValue(f"not a valid phone number: {reason}")
    raise InvalidValue(f"not a valid phone number for {_listed(regions)}")


def _order(regions: Sequence[str], hint: str | None) -> Sequence[str]:
    """The configured regions, the hinted one moved first when it is configured."""
    hint = hint.strip().upper() if hint else None
    if hint is None or hint not in regions or hint == regions[0]:
        return regions
    return (hint, *(region for region in regions if region != hint))


def _as_written(number: PhoneNumber) -> str:
    if not phonenumbers.is_valid_number(number):
        # Name the region the number claims, not the configured ones.
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise InvalidValue(f"not a valid phone number for region {region}")
    return _e164(number)


def _e164(number: PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def _listed(regions: Sequence[str]) -> str:
    """ "region GB" for one region, "GB or US" and "GB, US or IE" for several."""
    if len(regions) == 1:
        return f"region {regions[0]}"
    return f"{', '.join(regions[:-1])} or {regions[-1]}"
