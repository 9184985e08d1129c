"""Reads for Explain: stored records as the model sees them, customers' founding records, and
the links the resolver recorded (`record_links`), all from one consistent snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from idres.resolver.adapters.store import Store, feature_rows
from idres.resolver.domain.chain import RecordLink
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.records import Attributes, Flagged
from idres.resolver.domain.scoring import Contribution, Features


@dataclass(frozen=True, slots=True)
class RecordView:
    """A stored record as Explain compares it."""

    record_id: str
    customer_id: str
    """The record's live customer: merges keep `records.customer_id` current."""
    attributes: Attributes
    features: Features
    active: frozenset[Identifier]
    """Its identifiers that may link today (neither placeholder nor shared)."""
    flagged: tuple[Flagged, ...] = ()
    """Its fields kept as given but not used to link."""


class LinkStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def reader(self) -> Iterator[LinkReader]:
        """A read-only snapshot, so records, customers and links agree with one another."""
        with self.store.transaction() as tx:
            tx.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield LinkReader(tx.conn)


class LinkReader:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def record(self, record_id: str) -> RecordView | None:
        with self.conn.cursor() as cur:
            row = next(feature_rows(cur, "r.record_id = %s", (record_id,)), None)
        if row is None:
            return None
        active = self._active(row.record_id)
        return RecordView(
            row.record_id, row.customer_id, row.attributes, row.features, active, row.flagged
        )

    def _active(self, record_id: str) -> frozenset[Identifier]:
        rows = self.conn.execute(
            "SELECT ri.kind, ri.value FROM record_identifiers ri"
            " LEFT JOIN identifier_values iv USING (kind, value)"
            " WHERE ri.record_id = %s AND NOT ri.placeholder"
            " AND coalesce(iv.status, 'active') = 'active'",
            (record_id,),
        )
        return frozenset(Identifier(IdentifierKind(kind), value) for kind, value in rows)

    def founding_record(self, customer_id: str) -> tuple[str, str] | None:
        """(live customer id, record id) standing for a customer id or alias: the record whose
        observation created that customer, or, for a customer created before founding records
        were kept, the earliest record (by ts, then record id) now in its live customer."""
        head = self.conn.execute(
            "SELECT coalesce(merged_into, id), founding_record_id FROM customers WHERE id = %s",
            (customer_id,),
        ).fetchone()
        if head is None:
            return None
        live, founding = head
        if founding is None:
            first = self.conn.execute(
                "SELECT record_id FROM records WHERE customer_id = %s"
                " ORDER BY ts, record_id LIMIT 1",
                (live,),
            ).fetchone()
            founding = first[0] if first else None
        return (live, founding) if founding else None

    def links_within(self, customer_id: str) -> list[RecordLink]:
        """Every recorded link between two records of the customer, in a stable order."""
        rows = self.conn.execute(
            "SELECT l.record_id, l.to_record_id, l.merged, l.match_weight, l.probability, l.sure,"
            " l.comparisons, l.model_version, l.created_at FROM record_links l"
            " JOIN records a ON a.record_id = l.record_id"
            " JOIN records b ON b.record_id = l.to_record_id"
            " WHERE a.customer_id = %s AND b.customer_id = %s"
            " ORDER BY l.record_id, l.to_record_id",
            (customer_id, customer_id),
        )
        return [
            RecordLink(rid, to, merged, weight, p, sure, contributions(parts), version, at)
            for rid, to, merged, weight, p, sure, parts, version, at in rows
        ]


def contributions(parts: list[list[Any]]) -> tuple[Contribution, ...]:
    """Back from the stored [comparison, level, gamma, weight, tf adjustment] rows."""
    return tuple(
        Contribution(str(name), str(level), int(gamma), float(weight) - float(tf), float(tf))
        for name, level, gamma, weight, tf in parts
    )
