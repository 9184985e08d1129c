"""Device ids: advertising ids (IDFA, GAID) as hyphenated UUIDs, anything else as a cookie id."""

from __future__ import annotations

import re

from idres.resolver.domain.errors import InvalidValue

_UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_COOKIE = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def normalize_device(text: str) -> str:
    """Lower-case 8-4-4-4-12 UUID for advertising ids; lower-cased cookie id otherwise."""
    lowered = text.lower()
    inner = lowered[1:-1] if lowered[:1] == "{" and lowered[-1:] == "}" else lowered
    if _UUID.fullmatch(inner) is not None:
        digits = inner.replace("-", "")
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    # Checked on the raw text: lower() maps a few non-ASCII letters (the Kelvin sign) to ASCII.
    if _COOKIE.fullmatch(text) is None:
        raise InvalidValue(
            "not a device id: expected a UUID advertising id or a cookie id of "
            "8-128 letters, digits, '.', '_', ':' or '-'"
        )
    return lowered
