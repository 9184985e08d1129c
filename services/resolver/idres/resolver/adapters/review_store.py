"""The review queue in PostgreSQL: possible matches kept with the evidence for each candidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from idres.resolver.adapters.link_store import contributions
from idres.resolver.adapters.store import Store, Transaction, link_parts
from idres.resolver.domain.linking import Link


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    record_id: str
    customer_id: str
    """The record's customer now (merges followed)."""
    candidates: tuple[Link, ...]
    """The customers it may belong to, best first, by their ids now."""
    created_at: datetime
    decision: str | None = None
    """"same", "different", or None while it waits."""
    override_id: int | None = None


def queue_review(tx: Transaction, record_id: str, customer_id: str, links: Sequence[Link]) -> None:
    tx.write(
        "INSERT INTO reviews (record_id, customer_id, candidates) VALUES (%s, %s, %s)",
        (record_id, customer_id, candidates_json(links)),
    )


def candidates_json(links: Sequence[Link]) -> Jsonb:
    """A review's candidates as the `reviews` table keeps them."""
    rows = []
    for link in links:
        weight, probability, sure, comparisons = link_parts(link)
        rows.append([link.customer_id, link.record_id, weight, probability, sure, comparisons.obj])
    return Jsonb(rows)


_SELECT = (
    "SELECT r.id, r.record_id, coalesce(c.merged_into, c.id), r.candidates, r.created_at,"
    " r.decision, r.override_id,"
    " (SELECT jsonb_object_agg(k.id, coalesce(k.merged_into, k.id)) FROM customers k"
    "  WHERE k.id IN (SELECT x->>0 FROM jsonb_array_elements(r.candidates) x))"
    " FROM reviews r JOIN customers c ON c.id = r.customer_id"
)


def read_reviews(store: Store, after: int, limit: int, *, decided: bool = False) -> list[Review]:
    """Reviews with ids above `after`, oldest first; only those waiting unless `decided`."""
    where = " WHERE r.id > %s" + ("" if decided else " AND r.decision IS NULL")
    with store.transaction() as tx:
        rows = tx.conn.execute(_SELECT + where + " ORDER BY r.id LIMIT %s", (after, limit))
        return [_review(row) for row in rows]


def lock_review(tx: Transaction, review_id: int) -> Review | None:
    row = tx.conn.execute(_SELECT + " WHERE r.id = %s FOR UPDATE OF r", (review_id,)).fetchone()
    return _review(row) if row else None


def record_decision(tx: Transaction, review_id: int, decision: str, override_id: int) -> None:
    tx.write(
        "UPDATE reviews SET decision = %s, decided_at = now(), override_id = %s WHERE id = %s",
        (decision, override_id, review_id),
    )


def _review(row: Sequence[Any]) -> Review:
    rid, record_id, customer, candidates, created, decision, override, live = row
    live = live or {}
    links = tuple(
        Link(
            customer_id=live.get(cid, cid),
            record_id=str(to_record),
            match_weight=float(weight),
            probability=float(probability),
            contributions=contributions(parts),
            sure=bool(sure),
            veto="",
        )
        for cid, to_record, weight, probability, sure, parts in candidates
    )
    return Review(int(rid), record_id, customer, links, created, decision, override)
