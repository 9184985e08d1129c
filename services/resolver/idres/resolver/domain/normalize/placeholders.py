"""Placeholder values: junk that people type when a form insists ("n/a", 0000000000,
test@test.com). Such a value is kept on the record but must never link two customers, because
thousands of unrelated people share it.

Every predicate accepts either a canonical value or a lower-cased raw value that failed to
normalize, so the same check serves before and after validation.
"""

from __future__ import annotations

import re

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from idres.resolver.domain.identifiers import IdentifierKind

_TOKENS = frozenset(
    {
        "unknown",
        "unk",
        "n/a",
        "n.a.",
        "n.a",
        "na",
        "none",
        "none given",
        "null",
        "nil",
        "nan",
        "undefined",
        "test",
        "dummy",
        "fake",
        "blank",
        "asdf",
        "tbc",
        "tba",
        "no email",
        "noemail",
        "no-email",
        "no phone",
        "nophone",
        "no number",
        "not given",
        "not known",
        "not provided",
        "not available",
        # What caller-ID shows for a number it will not give.
        "anonymous",
        "withheld",
        "unavailable",
        "private",
        "private number",
        "restricted",
        "no caller id",
    }
)
# Values without a single letter or digit ("-", "?", "...") carry no identity; "x", "xxx" neither.
_NO_IDENTITY = re.compile(r"[!-/:-@\[-`{-~ ]+|x+")
_NON_DIGITS = re.compile(r"[^0-9]+")
_ZEROISH = re.compile(r"[0{}._:-]+")
# Ascending and descending runs such as 1234567890 or 9876543210 are substrings of these.
_ASCENDING = "0123456789" * 4
_DESCENDING = "9876543210" * 4

_EMAIL_LOCALS = frozenset(
    {
        "noemail",
        "no-email",
        "no_email",
        "nomail",
        "none",
        "nobody",
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
    }
)
_EMAIL_DOMAINS = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "noemail.com", "nomail.com"}
)
# RFC 2606 reserves these top-level domains for tests and documentation.
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost"})
_EMAIL_ADDRESSES = frozenset({"no@email.com", "none@email.com", "noemail@email.com"})


def is_junk_text(value: str) -> bool:
    """Whether a lower-cased value is one of the words people type instead of a value."""
    collapsed = " ".join(value.split())
    return collapsed in _TOKENS or _NO_IDENTITY.fullmatch(collapsed) is not None


def is_junk_digits(digits: str) -> bool:
    """Whether a digit string is one digit repeated or a counting run (0000000000, 1234567890)."""
    if len(digits) >= 4 and digits.count(digits[0]) == len(digits):
        return True
    return len(digits) >= 6 and (digits in _ASCENDING or digits in _DESCENDING)


def is_placeholder_email(value: str) -> bool:
    """Addresses at documentation domains, refusal mailboxes and a@a.com look-alikes."""
    local, _, domain = value.rpartition("@")
    if not local:
        return is_junk_text(value)
    if local in _EMAIL_LOCALS or is_junk_text(local) or value in _EMAIL_ADDRESSES:
        return True
    if domain in _EMAIL_DOMAINS or domain.rpartition(".")[2] in _RESERVED_TLDS:
        return True
    label = domain.partition(".")[0]
    # a@a.com, abc@abc.com, zzzz@zzzz.com, a@b.com
    if local == label and (len(local) <= 3 or local.count(local[0]) == len(local)):
        return True
    return len(local) == 1 and len(label) == 1


def is_placeholder_phone(value: str) -> bool:
    """Repeated or counting digits, over the whole number or the part after its country code.

    A repeated national number after a real country code (07777777777) is not flagged: only
    every digit being the same counts, so a genuine number with a repetitive tail still links.
    """
    if is_junk_text(value):
        return True
    digits = _NON_DIGITS.sub("", value)
    if is_junk_digits(digits):
        return True
    if not value.startswith("+"):
        return False
    for size in (1, 2, 3):
        if int(digits[:size] or "0") in COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            return len(national) >= 6 and (national in _ASCENDING or national in _DESCENDING)
    return False


def is_placeholder_handle(value: str) -> bool:
    """A junk word as the handle, with or without a `platform:` prefix or leading '@'."""
    return is_junk_text(value) or is_junk_text(value.rpartition(":")[2].removeprefix("@"))


def is_placeholder_device(value: str) -> bool:
    """The all-zero advertising id (tracking refused) and other all-zero ids."""
    return is_junk_text(value) or _ZEROISH.fullmatch(value) is not None


def is_placeholder_card(value: str) -> bool:
    """Card numbers of one repeated digit or a counting run."""
    if is_junk_text(value):
        return True
    digits = value.replace(" ", "").replace("-", "")
    return digits.isascii() and digits.isdigit() and is_junk_digits(digits)


_PREDICATES = {
    IdentifierKind.EMAIL: is_placeholder_email,
    IdentifierKind.PHONE: is_placeholder_phone,
    IdentifierKind.SOCIAL_HANDLE: is_placeholder_handle,
    IdentifierKind.DEVICE_ID: is_placeholder_device,
    IdentifierKind.LOYALTY_CARD: is_placeholder_card,
}


def is_placeholder(kind: IdentifierKind, value: str) -> bool:
    """Whether a canonical (or lower-cased raw) value of `kind` is a built-in placeholder."""
    return _PREDICATES[kind](value)
