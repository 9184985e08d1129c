"""Erasure: what `Forget` is asked to remove, the receipt it gives, and the suppressions.

A suppression is a keyed hash (HMAC-SHA256) of an erased identifier or record id, never the
value: whoever holds the store cannot read the values back, but a record that carries one again
is recognised, so a replayed file does not restore what was erased.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from idres.resolver.domain.identifiers import Identifier
from idres.resolver.domain.records import Flagged, Record

RECORD = "record"
"""The kind of a suppressed record id; identifiers use their own kind."""
KEPT_OF_ERASED = frozenset({"record_id", "seq", "records", "erasure"})
"""What an outbox event about an erased record keeps: ids, no personal data."""


class TargetKind(StrEnum):
    CUSTOMER = "customer"
    RECORD = "record"
    IDENTIFIER = "identifier"


@dataclass(frozen=True, slots=True)
class Target:
    """What to forget: a customer (with every record), one record, or one identifier's value
    wherever it is held (`raw` as given; `field` the record field it is read as)."""

    kind: TargetKind
    value: str
    field: str = ""

    @property
    def label(self) -> str:
        """What the erasure log keeps of the target: never the value itself."""
        return f"identifier:{self.field}" if self.kind is TargetKind.IDENTIFIER else self.kind


@dataclass(frozen=True, slots=True)
class Receipt:
    erasure_id: int
    at: datetime
    target: str
    customer_ids: tuple[str, ...]
    """Customers that lost data."""
    forgotten_customer_ids: tuple[str, ...]
    """Customers with nothing left: their ids resolve to nobody now."""
    record_ids: tuple[str, ...]
    """Records erased whole."""
    removed: dict[str, int] = field(default_factory=dict)
    """Rows removed or rewritten, counted per kind."""

    def as_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "at": self.at.isoformat(),
            "target": self.target,
            "customer_ids": list(self.customer_ids),
            "forgotten_customer_ids": list(self.forgotten_customer_ids),
            "record_ids": list(self.record_ids),
            "removed": dict(sorted(self.removed.items())),
        }


def digest(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()


def raw_kind(field: str) -> str:
    """The kind of a suppressed value that was kept raw, as a field that did not validate."""
    return f"raw:{field}"


def record_digests(key: bytes, record: Record) -> dict[str, Identifier | Flagged | None]:
    """The digests a record would be suppressed by: its id (None), each identifier, and each
    value kept raw."""
    found: dict[str, Identifier | Flagged | None] = {digest(key, RECORD, record.record_id): None}
    for observed in record.identifiers:
        ident = observed.identifier
        found[digest(key, ident.kind.value, ident.value)] = ident
    for flagged in record.flagged:
        if flagged.raw:
            found[digest(key, raw_kind(flagged.field), flagged.raw.strip().lower())] = flagged
    return found


def scrubbed(payload: Any, erased: frozenset[str]) -> Any:
    """`payload` without the erased strings: a list loses an erased item, or a pair holding
    one (a `[kind, value]`), and a mapping the key whose value is erased."""
    if isinstance(payload, dict):
        return {
            k: scrubbed(v, erased)
            for k, v in payload.items()
            if not (isinstance(v, str) and v in erased)
        }
    if isinstance(payload, list):
        return [scrubbed(item, erased) for item in payload if not _holds(item, erased)]
    return payload


def _holds(item: Any, erased: frozenset[str]) -> bool:
    if isinstance(item, str):
        return item in erased
    return isinstance(item, list) and any(isinstance(x, str) and x in erased for x in item)


def of_erased(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An event about an erased record, with its ids only."""
    return {k: v for k, v in payload.items() if k in KEPT_OF_ERASED} | {"forgotten": True}


def sealed(key: bytes, fingerprint: str) -> str:
    """A record's print once values it was taken of are erased: keyed, so it cannot be used
    to test guesses of them, yet a replay of the same record still matches it."""
    return "s" + digest(key, "fingerprint", fingerprint)[:31]
