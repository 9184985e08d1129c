"""Which region a record points to, so that its national phone number and postcode are read
the way its writer meant them.

The record's own statements come first (a country field, then the postcode's shape), the
channel's usual region last. A country is trusted whether or not phones are read there: it
stops a French 75001 from being taken for a US ZIP. A postcode's shape is only a guess, so it
counts only for a region the rules read phone numbers in.
"""

from __future__ import annotations

import re

import phonenumbers

from idres.resolver.domain.normalize.placeholders import is_junk_text
from idres.resolver.domain.normalize.postcode import uk_postcode, us_zip
from idres.resolver.domain.normalize.rules import DEFAULT_RULES, NormalizationRules

# Common names and ISO alpha-3 codes; any alpha-2 code phone metadata knows is read as well.
_COUNTRY_NAMES = {
    **dict.fromkeys(
        ("uk", "gbr", "united kingdom", "great britain", "britain", "england", "scotland"),
        "GB",
    ),
    **dict.fromkeys(("wales", "northern ireland"), "GB"),
    **dict.fromkeys(("usa", "united states", "united states of america", "america"), "US"),
    **dict.fromkeys(("ireland", "irl", "eire", "éire", "republic of ireland"), "IE"),
    "jersey": "JE",
    "guernsey": "GG",
    "isle of man": "IM",
    "can": "CA",
    "canada": "CA",
    "aus": "AU",
    "australia": "AU",
    "new zealand": "NZ",
    "fra": "FR",
    "france": "FR",
    "deu": "DE",
    "germany": "DE",
    "deutschland": "DE",
    "esp": "ES",
    "spain": "ES",
    "españa": "ES",
    "ita": "IT",
    "italy": "IT",
    "italia": "IT",
    "nld": "NL",
    "netherlands": "NL",
    "holland": "NL",
    "belgium": "BE",
    "portugal": "PT",
    "switzerland": "CH",
    "austria": "AT",
    "sweden": "SE",
    "norway": "NO",
    "denmark": "DK",
    "poland": "PL",
    "india": "IN",
    "mexico": "MX",
    "puerto rico": "PR",
}
# UK-shaped postcodes of the Crown Dependencies, which are phone regions of their own.
_CROWN_POSTCODES = {"JE": "JE", "GY": "GG", "IM": "IM"}
_IGNORED = re.compile(r"[.,]")


def region_of(
    postcode: str = "",
    *,
    country: str = "",
    channel: str = "",
    rules: NormalizationRules = DEFAULT_RULES,
) -> str | None:
    """The ISO 3166 region a record points to, or None when nothing says.

    In order: `country` (an ISO code or a common name such as "United Kingdom", "UK" or
    "USA"; unrecognized text counts as absent), the shape of `postcode` when its region is
    one of `rules.phone_regions`, then `rules.channel_regions[channel]`.
    """
    return (
        country_region(country)
        or _postcode_region(postcode, rules.phone_regions)
        or rules.channel_regions.get(channel.strip().lower())
    )


def country_region(country: str) -> str | None:
    """The region a country field names ("GB", "gb", "U.K.", "United Kingdom"), or None."""
    folded = " ".join(_IGNORED.sub("", country).lower().split()).removeprefix("the ")
    if not folded or is_junk_text(folded):
        return None  # "n/a" and "na" mean no answer, not Namibia
    named = _COUNTRY_NAMES.get(folded)
    if named is not None:
        return named
    code = folded.upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _postcode_region(postcode: str, regions: tuple[str, ...]) -> str | None:
    spaced = " ".join(postcode.upper().split())
    if not spaced:
        return None
    uk = uk_postcode(spaced)
    if uk is not None:
        region = _CROWN_POSTCODES.get(uk[:2], "GB")
    elif us_zip(spaced) is not None:
        region = "US"
    else:
        return None
    return region if region in regions else None
