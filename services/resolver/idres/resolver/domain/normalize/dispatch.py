"""The single entry point: a raw identifier in, its canonical value and placeholder flag out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

from idres.resolver.domain.errors import InvalidValue
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.normalize.device import normalize_device
from idres.resolver.domain.normalize.email import normalize_email
from idres.resolver.domain.normalize.handle import normalize_handle
from idres.resolver.domain.normalize.loyalty import normalize_card
from idres.resolver.domain.normalize.phone import normalize_phone
from idres.resolver.domain.normalize.placeholders import is_placeholder
from idres.resolver.domain.normalize.rules import DEFAULT_RULES, NormalizationRules

MAX_INPUT = 1024
"""Longest stripped input looked at; no identifier is near it, and it bounds the work per call."""


@dataclass(frozen=True, slots=True)
class Normalized:
    """A canonical identifier and whether it may link records."""

    identifier: Identifier
    """The identifier with its canonical value."""

    placeholder: bool
    """True for a placeholder value: the record is kept but the value must never link."""


def _canonical(
    kind: IdentifierKind,
    text: str,
    platform: str | None,
    rules: NormalizationRules,
    region: str | None = None,
) -> str:
    """The canonical value of stripped, non-empty text; raises InvalidValue."""
    match kind:
        case IdentifierKind.EMAIL:
            return normalize_email(text, rules.email)
        case IdentifierKind.PHONE:
            return normalize_phone(text, rules.phone_regions, region)
        case IdentifierKind.SOCIAL_HANDLE:
            return normalize_handle(text, platform)
        case IdentifierKind.DEVICE_ID:
            return normalize_device(text)
        case IdentifierKind.LOYALTY_CARD:
            return normalize_card(text, rules.loyalty_check_digit)
        case _:
            assert_never(kind)


def _spelling(kind: IdentifierKind, entry: str, rules: NormalizationRules) -> str:
    """How a configured placeholder reads once normalized, or lower-cased if it cannot be."""
    text = entry.strip()
    try:
        return _canonical(kind, text, None, rules)
    except InvalidValue:
        return text.lower()


# Configured placeholders normalized once per rules object. The entry keeps its rules alive,
# so the id() key cannot be reused by another object while cached.
_extras_cache: dict[int, tuple[NormalizationRules, Mapping[IdentifierKind, frozenset[str]]]] = {}
_EXTRAS_CACHE_SIZE = 16


def _extra_placeholders(kind: IdentifierKind, rules: NormalizationRules) -> frozenset[str]:
    cached = _extras_cache.get(id(rules))
    if cached is None or cached[0] is not rules:
        if len(_extras_cache) >= _EXTRAS_CACHE_SIZE:
            _extras_cache.clear()
        spellings = {
            each: frozenset(_spelling(each, entry, rules) for entry in rules.extra_placeholders)
            for each in IdentifierKind
        }
        cached = (rules, spellings)
        _extras_cache[id(rules)] = cached
    return cached[1][kind]


def _flagged(kind: IdentifierKind, value: str, rules: NormalizationRules) -> bool:
    if is_placeholder(kind, value):
        return True
    return bool(rules.extra_placeholders) and value in _extra_placeholders(kind, rules)


def _unstable_fallback(kind: IdentifierKind, value: str, rules: NormalizationRules) -> bool:
    """Whether a flagged fallback value would not come back unchanged from another call.

    Lower-casing can lengthen text past the limit or turn a rejected letter (the Kelvin sign)
    into an accepted one, and a handle refused for its platform argument may normalize without.
    """
    if len(value) > MAX_INPUT:
        return True
    try:
        _canonical(kind, value, None, rules)
    except InvalidValue:
        return False
    return True


def normalize(
    kind: IdentifierKind,
    raw: str,
    *,
    platform: str | None = None,
    rules: NormalizationRules = DEFAULT_RULES,
    region: str | None = None,
) -> Normalized:
    """Canonicalize one raw identifier of `kind`; `platform` is for social handles only.

    `region` is the region the record points to (see `region_of`), for phones only: a national
    number valid there is read there when it is one of `rules.phone_regions`, or else in the
    first of those it is valid in. A number written with a country code is read as written.

    Placeholders are recognized before validation, so junk such as "n/a" or 0000000000 comes
    back flagged (as its lower-cased text when it does not normalize) instead of raising. The
    result is idempotent: normalizing its value again, without `platform` or `region`, returns it
    unchanged.

    Raises InvalidValue, with a message naming what is wrong, for any other bad input.
    """
    text = raw.strip()
    if not text:
        raise InvalidValue("empty")
    if len(text) > MAX_INPUT:
        raise InvalidValue(f"too long: more than {MAX_INPUT} characters")
    try:
        value = _canonical(kind, text, platform, rules, region)
    except InvalidValue:
        value = text.lower()
        if not _flagged(kind, value, rules) or _unstable_fallback(kind, value, rules):
            raise
        return Normalized(Identifier(kind, value), placeholder=True)
    return Normalized(Identifier(kind, value), placeholder=_flagged(kind, value, rules))
