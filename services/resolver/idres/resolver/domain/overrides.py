"""Operator overrides: a merge that keeps customers together, a split that keeps parts apart.

An override names records, not customers, because records keep their ids while customers
merge and split around them. A split leaves a mark on each record of each part, `(override,
side)`; a customer carries its records' marks, and two customers whose marks hold both sides
of one split may never become one, whatever the evidence says later (`kept_apart`). A merge
must-links its records: the online path never splits a customer by itself, and a batch run
joins them again after clustering. The later override wins: a merge lifts the splits it
overrules, and a split takes its records out of the merges it overrules.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Mark = tuple[int, int]
"""(override id, side) of a split: side 0 kept the customer's id, side 1 got the new one."""


class OverrideKind(StrEnum):
    MERGE = "merge"
    SPLIT = "split"


@dataclass(frozen=True, slots=True)
class Override:
    """One operator decision, with who, when and why."""

    id: int
    kind: OverrideKind
    actor: str
    reason: str
    at: datetime
    sides: tuple[tuple[str, ...], ...]
    """Record ids: one group for a merge, (kept, split off) for a split."""
    customer_ids: tuple[str, ...] = ()
    """The customers it made: the survivor of a merge; the two parts of a split."""
    lifted_by: int | None = None
    """The later override that overruled it, if any."""

    @property
    def active(self) -> bool:
        return self.lifted_by is None


def kept_apart(a: Collection[Mark], b: Collection[Mark]) -> int | None:
    """The split that keeps two customers apart, or None: one holds a side the other lacks."""
    if not a or not b:
        return None
    for override, side in a:
        if (override, 1 - side) in b:
            return override
    return None


def split_parts(
    members: Sequence[str], named: Iterable[str], founding: str
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(keeps the id, gets a new id, whether the named records are the part that moves).

    The larger part keeps the customer's id, so that most channel systems' stored ids stay
    right; on a tie, the part with the record that founded the customer keeps it."""
    chosen = set(named)
    part = tuple(r for r in members if r in chosen)
    rest = tuple(r for r in members if r not in chosen)
    named_moves = len(part) < len(rest) or (len(part) == len(rest) and founding not in part)
    return (rest, part, True) if named_moves else (part, rest, False)


@dataclass(slots=True)
class MustLinks:
    """The active merges of a batch run, as groups of record ids to join after clustering."""

    groups: list[tuple[str, ...]] = field(default_factory=list)

    @classmethod
    def of(cls, overrides: Iterable[Override]) -> MustLinks:
        return cls([o.sides[0] for o in overrides if o.kind is OverrideKind.MERGE and o.active])


def marks_of(overrides: Iterable[Override]) -> dict[str, frozenset[Mark]]:
    """Each record's marks from the active splits."""
    found: dict[str, set[Mark]] = {}
    for o in overrides:
        if o.kind is not OverrideKind.SPLIT or not o.active:
            continue
        for side, records in enumerate(o.sides):
            for record_id in records:
                found.setdefault(record_id, set()).add((o.id, side))
    return {rid: frozenset(marks) for rid, marks in found.items()}


def override_json(o: Override) -> dict[str, Any]:
    """One override as a JSON object: what `idres overrides` prints and `dedup` reads."""
    return {
        "id": o.id,
        "kind": o.kind.value,
        "actor": o.actor,
        "reason": o.reason,
        "at": o.at.isoformat(),
        "customers": list(o.customer_ids),
        "sides": [list(side) for side in o.sides],
        "lifted_by": o.lifted_by,
    }


def override_of(data: Mapping[str, Any]) -> Override:
    """The inverse of `override_json`. Raises ValueError naming what is wrong."""
    try:
        kind = OverrideKind(data["kind"])
        sides = tuple(tuple(str(r) for r in side) for side in data["sides"])
        at = datetime.fromisoformat(data["at"]) if data.get("at") else datetime.min
        lifted = data.get("lifted_by")
        found = Override(
            int(data["id"]),
            kind,
            str(data.get("actor", "")),
            str(data.get("reason", "")),
            at,
            sides,
            tuple(str(c) for c in data.get("customers", ())),
            None if lifted is None else int(lifted),
        )
    except KeyError as exc:
        raise ValueError(f"missing {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    if len(sides) != (1 if kind is OverrideKind.MERGE else 2):
        raise ValueError(f"a {kind.value} has {1 if kind is OverrideKind.MERGE else 2} sides")
    return found
