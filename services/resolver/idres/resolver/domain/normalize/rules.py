"""Declarative settings that tune normalization; frozen so one instance is shared by all calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import phonenumbers


def _default_aliases() -> Mapping[str, str]:
    return MappingProxyType({"googlemail.com": "gmail.com"})


@dataclass(frozen=True, slots=True)
class EmailRules:
    """Provider rules that make two spellings of one mailbox compare equal.

    Domains are written lower-case, in their ASCII (punycode) form.
    """

    domain_aliases: Mapping[str, str] = field(default_factory=_default_aliases)
    """Domains that deliver to another domain's mailboxes, mapped to that canonical domain."""

    ignore_dots: frozenset[str] = frozenset({"gmail.com"})
    """Domains whose provider ignores dots in the local part, so dots are removed."""

    plus_tags: frozenset[str] = frozenset(
        {
            "gmail.com",
            "outlook.com",
            "hotmail.com",
            "live.com",
            "icloud.com",
            "fastmail.com",
            "protonmail.com",
            "proton.me",
        }
    )
    """Domains whose provider delivers `local+tag` to `local`, so the `+tag` is removed."""

    def __post_init__(self) -> None:
        # A chained alias would need a second pass to settle, which breaks idempotence.
        for source, target in self.domain_aliases.items():
            if target in self.domain_aliases:
                raise ValueError(
                    f"domain_aliases must map to canonical domains: {source!r} -> {target!r}, "
                    f"but {target!r} is itself an alias"
                )


@dataclass(frozen=True, slots=True)
class NormalizationRules:
    """Everything a deployment may tune about turning raw identifiers into canonical values."""

    default_region: str = "GB"
    """ISO 3166 region assumed for phone numbers written without a country code."""

    email: EmailRules = field(default_factory=EmailRules)
    """Email provider rules (aliases, ignored dots, plus tags)."""

    loyalty_check_digit: bool = True
    """Whether the last digit of a loyalty card number must be a valid Luhn check digit."""

    extra_placeholders: frozenset[str] = frozenset()
    """Further values that must never link, such as a shop's own phone number. An entry that
    normalizes matches every spelling of its canonical value; one that does not matches the
    lower-cased raw input."""

    def __post_init__(self) -> None:
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"unknown default_region {self.default_region!r}: "
                "use an upper-case ISO 3166 code such as 'GB'"
            )


DEFAULT_RULES = NormalizationRules()
"""The rules used when a caller passes none."""
