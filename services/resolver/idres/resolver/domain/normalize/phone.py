"""Phone numbers: any common written form to E.164, judged by libphonenumber's metadata."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from idres.resolver.domain.errors import InvalidValue

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def normalize_phone(text: str, default_region: str) -> str:
    """E.164 form (+447911123456); national numbers are read in `default_region`."""
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a phone number")
        raise InvalidValue(f"not a valid phone number: {reason}") from None
    if not phonenumbers.is_valid_number(number):
        # Name the region the number claims, not the default, when it was written with a +code.
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise InvalidValue(f"not a valid phone number for region {region}")
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))
