"""Postcodes: UK postcodes and US ZIP codes in one spelling each, anything else tidied.

A postcode is a weak attribute: it corroborates, it never links on its own. So it is never
rejected; text of no known shape is kept upper-cased with single spaces.
"""

from __future__ import annotations

import re

UK_REGIONS = frozenset({"GB", "JE", "GG", "IM"})
"""Regions whose postcodes have the UK shape (Jersey, Guernsey and the Isle of Man share it)."""

ZIP_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})
"""Regions that use US ZIP codes."""

_UK_OUTWARD = r"[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)|GIR"
_UK = re.compile(rf"({_UK_OUTWARD})([0-9][ABD-HJLNP-UW-Z]{{2}})")
_ZIP = re.compile(r"([0-9]{5})(?:[- ]?[0-9]{4})?")
# A spreadsheet that read 02134 as a number wrote 2134. The result cannot start with 0 itself.
_LOST_ZERO = re.compile(r"[1-9][0-9]{3}")
_NOT_IN_UK = re.compile(r"[\s-]")


def normalize_postcode(text: str, region: str | None = None) -> str:
    """One spelling per postcode: "SW1A 1AA" for a UK postcode, five digits for a US ZIP.

    `region` is the region the record points to. A UK or US shape is only looked for when it
    is None or a region using that shape. A 4-digit ZIP is padded back ("2134" -> "02134") only
    for US or None, since several countries have 4-digit postcodes of their own.
    """
    spaced = " ".join(text.upper().split())
    region = (region.strip().upper() or None) if region else None
    if region is None or region in UK_REGIONS:
        uk = uk_postcode(spaced)
        if uk is not None:
            return uk
    if region is None or region in ZIP_REGIONS:
        zip_code = us_zip(spaced, padded=region in (None, "US"))
        if zip_code is not None:
            return zip_code
    return spaced


def uk_postcode(text: str) -> str | None:
    """The spaced form of a full UK postcode in upper-case `text`, or None."""
    found = _UK.fullmatch(_NOT_IN_UK.sub("", text))
    return None if found is None else f"{found[1]} {found[2]}"


def us_zip(text: str, *, padded: bool = True) -> str | None:
    """The 5-digit ZIP of a ZIP or ZIP+4 in spaced upper-case `text` (and, if `padded`, of a
    4-digit ZIP that lost its leading zero), or None."""
    found = _ZIP.fullmatch(text)
    if found is not None:
        return found[1]
    if padded and _LOST_ZERO.fullmatch(text) is not None:
        return "0" + text
    return None
