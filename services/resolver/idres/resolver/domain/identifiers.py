"""Strong identifiers: their kinds, their link status, and the normalized value type."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class IdentifierKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    SOCIAL_HANDLE = "social_handle"
    DEVICE_ID = "device_id"
    LOYALTY_CARD = "loyalty_card"


class IdentifierStatus(StrEnum):
    """Whether a value may link records."""

    ACTIVE = "active"
    PLACEHOLDER = "placeholder"
    SHARED = "shared"


class Identifier(NamedTuple):
    """A normalized identifier; social handles read `platform:handle`.

    A named tuple rather than a dataclass: identifiers key every index lookup, and a tuple
    hashes and compares in C.
    """

    kind: IdentifierKind
    value: str

    @property
    def key(self) -> str:
        """Stable text key used for index lookups and advisory locks."""
        return f"{self.kind.value}|{self.value}"
