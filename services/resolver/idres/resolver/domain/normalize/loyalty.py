"""Loyalty card numbers: digits only, guarded by a Luhn check digit against typing slips."""

from __future__ import annotations

import re

from idres.resolver.domain.errors import InvalidValue

_SEPARATORS = re.compile(r"[\s-]+")
_DIGITS = re.compile(r"[0-9]+")
_MIN_DIGITS = 8
_MAX_DIGITS = 19
# Luhn doubles every second digit from the right and adds the digits of the product.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """Whether the last digit of an ASCII digit string is its Luhn check digit."""
    values = [ord(char) - 48 for char in reversed(digits)]
    total = sum(values[0::2]) + sum(_DOUBLED[value] for value in values[1::2])
    return total % 10 == 0


def normalize_card(text: str, check_digit: bool) -> str:
    """The digit string, spaces and hyphens removed; the check digit verified if asked."""
    digits = _SEPARATORS.sub("", text)
    if _DIGITS.fullmatch(digits) is None:
        raise InvalidValue("loyalty card number must contain only digits, spaces and hyphens")
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        raise InvalidValue(
            f"loyalty card number must have {_MIN_DIGITS} to {_MAX_DIGITS} digits, "
            f"not {len(digits)}"
        )
    if check_digit and not luhn_valid(digits):
        raise InvalidValue("loyalty card check digit does not match")
    return digits
