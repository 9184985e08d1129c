"""Operator overrides in PostgreSQL: the reads and queued writes a merge or a split needs.

Every call runs inside the caller's `Transaction`, which already holds the customers' row
locks; writes are queued and sent with its `flush`, the change events included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from idres.resolver.adapters.store import Store, Transaction
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.overrides import Mark, Override, OverrideKind


@dataclass(frozen=True, slots=True)
class Member:
    """One record of a customer, as a split rebuilds the two parts' profiles from it."""

    record_id: str
    given_name: str
    surname: str
    dob: date | None
    holds: tuple[Identifier, ...]
    """Its values that still link (not placeholders, not shared)."""
    marks: frozenset[Mark]


class OverrideRows:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.conn = tx.conn

    def founding(self, customer_id: str) -> str:
        row = self.conn.execute(
            "SELECT founding_record_id FROM customers WHERE id = %s", (customer_id,)
        ).fetchone()
        return str(row[0]) if row and row[0] else ""

    def members(self, customer_id: str) -> list[Member]:
        """The customer's records in time order, with their linking values and marks."""
        holds: dict[str, list[Identifier]] = {}
        for rid, kind, value in self.conn.execute(
            "SELECT ri.record_id, ri.kind, ri.value FROM record_identifiers ri"
            " JOIN records r USING (record_id) LEFT JOIN identifier_values v USING (kind, value)"
            " WHERE r.customer_id = %s AND NOT ri.placeholder"
            " AND coalesce(v.status, 'active') = 'active'",
            (customer_id,),
        ):
            holds.setdefault(rid, []).append(Identifier(IdentifierKind(kind), value))
        marks: dict[str, set[Mark]] = {}
        for rid, override, side in self.conn.execute(
            "SELECT m.record_id, m.override_id, m.side FROM override_records m"
            " JOIN records r USING (record_id) JOIN overrides o ON o.id = m.override_id"
            " WHERE r.customer_id = %s AND o.kind = 'split' AND o.lifted_by IS NULL",
            (customer_id,),
        ):
            marks.setdefault(rid, set()).add((int(override), int(side)))
        return [
            Member(
                rid, given, surname, dob, tuple(holds.get(rid, ())), frozenset(marks.get(rid, ()))
            )
            for rid, given, surname, dob in self.conn.execute(
                "SELECT record_id, given_name, surname, dob FROM records"
                " WHERE customer_id = %s ORDER BY ts, record_id",
                (customer_id,),
            )
        ]

    def record_ids(self, customer_ids: Sequence[str]) -> list[str]:
        return [
            str(row[0])
            for row in self.conn.execute(
                "SELECT record_id FROM records WHERE customer_id = ANY(%s) ORDER BY record_id",
                (list(customer_ids),),
            )
        ]

    def next_id(self) -> int:
        row = self.conn.execute("SELECT nextval('overrides_id_seq')").fetchone()
        assert row is not None
        return int(row[0])

    def add(self, override: Override) -> None:
        self.tx.write(
            "INSERT INTO overrides (id, kind, actor, reason, customer_ids)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                override.id,
                override.kind.value,
                override.actor,
                override.reason,
                list(override.customer_ids),
            ),
        )
        for side, records in enumerate(override.sides):
            self.tx.write(
                "INSERT INTO override_records (override_id, record_id, side)"
                " SELECT %s, unnest(%s::text[]), %s",
                (override.id, list(records), side),
            )

    def lift(self, overrides: Iterable[int], by: int) -> None:
        self.tx.write(
            "UPDATE overrides SET lifted_by = %s WHERE id = ANY(%s)", (by, list(overrides))
        )

    def merges_across(self, kept: Sequence[str], moved: Sequence[str]) -> list[int]:
        """Active merges with records on both sides of a split."""
        sides: dict[int, set[bool]] = {}
        moving = set(moved)
        for override, rid in self.conn.execute(
            "SELECT m.override_id, m.record_id FROM override_records m"
            " JOIN overrides o ON o.id = m.override_id"
            " WHERE o.kind = 'merge' AND o.lifted_by IS NULL AND m.record_id = ANY(%s)",
            ([*kept, *moved],),
        ):
            sides.setdefault(int(override), set()).add(rid in moving)
        return sorted(o for o, seen in sides.items() if len(seen) == 2)

    def leave_merges(self, merges: Sequence[int], moved: Sequence[str]) -> None:
        """The moved records leave the merges a split overrules; the rest stay must-linked."""
        if merges:
            self.tx.write(
                "DELETE FROM override_records WHERE override_id = ANY(%s) AND record_id = ANY(%s)",
                (list(merges), list(moved)),
            )

    def move(self, records: Sequence[str], customer_id: str, parts: Sequence[str]) -> None:
        """Moves records to another customer and rebuilds the holders of every part."""
        self.tx.write(
            "UPDATE records SET customer_id = %s WHERE record_id = ANY(%s)",
            (customer_id, list(records)),
        )
        self.tx.write("DELETE FROM identifier_holders WHERE customer_id = ANY(%s)", (list(parts),))
        self.tx.write(
            "INSERT INTO identifier_holders (kind, value, customer_id)"
            " SELECT DISTINCT ri.kind, ri.value, r.customer_id FROM record_identifiers ri"
            " JOIN records r USING (record_id) LEFT JOIN identifier_values v USING (kind, value)"
            " WHERE r.customer_id = ANY(%s) AND NOT ri.placeholder"
            " AND coalesce(v.status, 'active') = 'active' ON CONFLICT DO NOTHING",
            (list(parts),),
        )
        self.tx.write("UPDATE customers SET updated_at = now() WHERE id = ANY(%s)", (list(parts),))


def read_overrides(store: Store, *, active_only: bool = False) -> list[Override]:
    """Every override in id order, with its records by side."""
    with store.transaction() as tx:
        return list(_overrides(tx.conn, active_only))


def _overrides(conn: psycopg.Connection[Any], active_only: bool) -> Iterable[Override]:
    sides: dict[int, tuple[list[str], list[str]]] = {}
    for override, rid, side in conn.execute(
        "SELECT override_id, record_id, side FROM override_records ORDER BY record_id"
    ):
        sides.setdefault(int(override), ([], []))[int(side)].append(rid)
    for oid, kind, actor, reason, at, customers, lifted in conn.execute(
        "SELECT id, kind, actor, reason, at, customer_ids, lifted_by FROM overrides"
        + (" WHERE lifted_by IS NULL" if active_only else "")
        + " ORDER BY id"
    ):
        kept, moved = sides.get(int(oid), ([], []))
        found = (tuple(kept),) if kind == OverrideKind.MERGE.value else (tuple(kept), tuple(moved))
        yield Override(
            int(oid), OverrideKind(kind), actor, reason, at, found, tuple(customers), lifted
        )
