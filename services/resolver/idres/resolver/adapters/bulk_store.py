"""Bulk loads into the store: one lock, one snapshot, one COPY-based transaction.

A bulk load clusters a whole file in memory against a snapshot of the store, then writes
everything it decided in one transaction. It holds the store's bulk lock from the snapshot to
the commit: `Observe` takes the same lock shared, so writes wait for the load while `Resolve`,
which reads memory only, keeps answering. Other replicas learn the load from the change events
it writes, as they learn any write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from tqdm import tqdm

from idres.resolver.adapters.database import SCHEMA_LOCK
from idres.resolver.adapters.review_store import candidates_json
from idres.resolver.adapters.store import (
    BULK_LOCK,
    RECORD_COLUMNS,
    Snapshot,
    Store,
    Transaction,
    link_parts,
    read_snapshot,
    record_row,
)
from idres.resolver.domain.events import ChangeEvent
from idres.resolver.domain.identifiers import Identifier, IdentifierStatus
from idres.resolver.domain.linking import Link
from idres.resolver.domain.records import Record


@dataclass(slots=True)
class BulkBatch:
    """What one bulk load decided, ready to write."""

    records: Sequence[Record]
    owners: Mapping[str, str]
    """record id -> live customer id after the load."""
    created: Sequence[tuple[str, int, str]]
    """(customer, seq, founding record) of each new customer."""
    aliases: Mapping[str, str]
    """absorbed customer -> live survivor, for every customer the load merged away."""
    values: Mapping[Identifier, tuple[IdentifierStatus, frozenset[str]]]
    """Every value the load touched: its status and live holders after the load."""
    links: Sequence[tuple[str, Link, bool]]
    events: Sequence[ChangeEvent]
    model_version: str
    existing: frozenset[str] = field(default_factory=frozenset)
    """Customers that were in the store before the load."""
    reviews: Sequence[tuple[str, str, Sequence[Link]]] = ()
    """(record, its customer, candidates) of each possible match, for the review queue."""

    def rows(self) -> int:
        """About how many rows the load copies, for a progress bar."""
        identifiers = sum(len(r.identifiers) for r in self.records)
        parts = (self.records, self.created, self.links, self.events, self.reviews)
        return sum(len(p) for p in parts) + identifiers + 2 * len(self.values)


_SHOWN_EVERY = 10_000


class BulkSession:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._bar = tqdm(disable=True)

    def snapshot(self) -> Snapshot:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return read_snapshot(self.conn, True)

    def fingerprints(self, record_ids: Sequence[str]) -> dict[str, str]:
        """Fingerprints of the records among `record_ids` the store already holds."""
        with self.conn.transaction():
            rows = self.conn.execute(
                "SELECT record_id, fingerprint FROM records"
                " WHERE record_id IN (SELECT unnest(%s::text[]))",
                (list(record_ids),),
            ).fetchall()
        return {str(rid): str(fp) for rid, fp in rows}

    def write(self, batch: BulkBatch, *, progress: bool = False) -> None:
        """Everything in one transaction; `progress` shows a bar over the rows copied."""
        with (
            tqdm(
                total=batch.rows(), unit=" rows", desc="write", leave=False, disable=not progress
            ) as self._bar,
            self.conn.transaction(),
        ):
            self._customers(batch)
            self._records(batch)
            self._values(batch)
            self._links(batch)
            self._copy(
                "reviews (record_id, customer_id, candidates)",
                ((rid, cid, candidates_json(links)) for rid, cid, links in batch.reviews),
            )
            self._events(batch.events)

    def _customers(self, batch: BulkBatch) -> None:
        rows = ((cid, seq, founding) for cid, seq, founding in batch.created)
        self._copy("customers (id, seq, founding_record_id)", rows)
        self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('customers', 'seq'),"
            " (SELECT coalesce(max(seq), 1) FROM customers))"
        )
        tx = Transaction(self.conn)
        for absorbed, survivor in batch.aliases.items():
            if absorbed in batch.existing:
                tx.merge(absorbed, survivor)
        tx.flush()
        new_aliases = [(a, s) for a, s in batch.aliases.items() if a not in batch.existing]
        if new_aliases:
            self.conn.execute(
                "UPDATE customers c SET merged_into = a.survivor FROM"
                " unnest(%s::text[], %s::text[]) AS a(absorbed, survivor) WHERE c.id = a.absorbed",
                ([a for a, _ in new_aliases], [s for _, s in new_aliases]),
            )

    def _records(self, batch: BulkBatch) -> None:
        self._copy(
            f"records ({RECORD_COLUMNS})",
            (record_row(r, batch.owners[r.record_id]) for r in batch.records),
        )
        self._copy(
            "record_identifiers (record_id, kind, value, placeholder)",
            (
                (r.record_id, o.identifier.kind.value, o.identifier.value, o.placeholder)
                for r in batch.records
                for o in r.identifiers
            ),
        )

    def _values(self, batch: BulkBatch) -> None:
        """Statuses upserted; each touched value's holders replaced by those after the load."""
        self.conn.execute(
            "CREATE TEMP TABLE bulk_values (kind text, value text, status text) ON COMMIT DROP"
        )
        self._copy(
            "bulk_values (kind, value, status)",
            ((i.kind.value, i.value, s.value) for i, (s, _) in batch.values.items()),
        )
        self.conn.execute(
            "INSERT INTO identifier_values (kind, value, status)"
            " SELECT kind, value, status FROM bulk_values"
            " ON CONFLICT (kind, value) DO UPDATE SET status = EXCLUDED.status, updated_at = now()"
        )
        self.conn.execute(
            "DELETE FROM identifier_holders h USING bulk_values b"
            " WHERE h.kind = b.kind AND h.value = b.value"
        )
        self._copy(
            "identifier_holders (kind, value, customer_id)",
            (
                (i.kind.value, i.value, holder)
                for i, (status, holders) in batch.values.items()
                if status is IdentifierStatus.ACTIVE
                for holder in sorted(holders)
            ),
        )

    def _links(self, batch: BulkBatch) -> None:
        self._copy(
            "record_links (record_id, to_record_id, merged, match_weight, probability, sure,"
            " comparisons, model_version)",
            (
                (rid, lk.record_id, merged, *link_parts(lk), batch.model_version)
                for rid, lk, merged in batch.links
            ),
        )

    def _events(self, events: Iterable[ChangeEvent]) -> None:
        self._copy(
            "change_events (type, customer_id, payload)",
            ((e.type.value, e.customer_id, Jsonb(e.payload)) for e in events),
        )

    def _copy(self, target: str, rows: Iterable[Sequence[Any]]) -> None:
        done = 0
        with self.conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                done += 1
                if done % _SHOWN_EVERY == 0:
                    self._bar.update(_SHOWN_EVERY)
        self._bar.update(done % _SHOWN_EVERY)


@contextmanager
def bulk_session(store: Store) -> Iterator[BulkSession]:
    """A connection holding the store's bulk lock until the load is done."""
    with store.db.pool.connection() as conn:
        conn.execute(SCHEMA_LOCK.format("lock"), (BULK_LOCK,))
        conn.commit()
        try:
            yield BulkSession(conn)
        finally:
            conn.rollback()
            conn.execute(SCHEMA_LOCK.format("unlock"), (BULK_LOCK,))
            conn.commit()
