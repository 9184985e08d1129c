"""The PostgreSQL store: the system of record behind the linking rules.

A `Transaction` offers the reads and writes one `Observe` needs, under locks that keep
concurrent writers and several replicas correct: advisory locks on identifier values and the
record id, row locks on the customers involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from idres.resolver.adapters.database import Database
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.events import ChangeEvent, EventType, new_customer_id
from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.linking import ValueState
from idres.resolver.domain.profiles import Profile
from idres.resolver.domain.records import Attributes, Record

RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    record_id: str
    customer_id: str
    channel: str
    ts: datetime
    attributes: Attributes
    identifiers: tuple[tuple[Identifier, bool], ...]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer_id: str
    created_at: datetime
    records: tuple[StoredRecord, ...]
    statuses: dict[Identifier, IdentifierStatus]
    merged_ids: tuple[str, ...]


def _ident(kind: str, value: str) -> Identifier:
    return Identifier(IdentifierKind(kind), value)


class Transaction:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.events: list[ChangeEvent] = []

    def lock_keys(self, keys: Iterable[str]) -> None:
        """Advisory locks in one sorted order, so two writers never wait on each other crosswise."""
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
            " FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS sorted",
            (sorted(set(keys)),),
        )

    def find_record(self, record_id: str) -> tuple[str, str] | None:
        """(live customer id, fingerprint) of a stored record."""
        row = self.conn.execute(
            "SELECT customer_id, fingerprint FROM records WHERE record_id = %s", (record_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def value_states(self, idents: Sequence[Identifier]) -> dict[Identifier, ValueState]:
        if not idents:
            return {}
        kinds = [i.kind.value for i in idents]
        values = [i.value for i in idents]
        statuses = {
            _ident(k, v): IdentifierStatus(s)
            for k, v, s in self.conn.execute(
                "SELECT v.kind, v.value, v.status FROM identifier_values v"
                " JOIN unnest(%s::text[], %s::text[]) AS q(kind, value) USING (kind, value)",
                (kinds, values),
            )
        }
        holders: dict[Identifier, set[str]] = {}
        for k, v, c in self.conn.execute(
            "SELECT h.kind, h.value, h.customer_id FROM identifier_holders h"
            " JOIN unnest(%s::text[], %s::text[]) AS q(kind, value) USING (kind, value)",
            (kinds, values),
        ):
            holders.setdefault(_ident(k, v), set()).add(c)
        return {
            i: ValueState(statuses.get(i, IdentifierStatus.ACTIVE), frozenset(holders.get(i, ())))
            for i in idents
            if i in statuses or i in holders
        }

    def lock_customers(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Row-locks customers in id order; returns each one's `merged_into`."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.conn.execute(
            "SELECT id, merged_into FROM customers WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            (wanted,),
        ).fetchall()
        return {row[0]: row[1] for row in rows}

    def profiles(self, ids: Iterable[str]) -> dict[str, Profile]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        found = {
            cid: Profile(cid, seq)
            for cid, seq in self.conn.execute(
                "SELECT id, seq FROM customers WHERE id = ANY(%s)", (wanted,)
            )
        }
        for cid, given, surname, dob in self.conn.execute(
            "SELECT DISTINCT customer_id, given_name, surname, dob FROM records"
            " WHERE customer_id = ANY(%s)",
            (wanted,),
        ):
            found[cid].add(Attributes(given, surname, dob))
        for cid, kind, value in self.conn.execute(
            "SELECT customer_id, kind, value FROM identifier_holders WHERE customer_id = ANY(%s)",
            (wanted,),
        ):
            found[cid].identifiers.add(_ident(kind, value))
        return found

    def create_customer(self) -> tuple[str, int]:
        customer_id = new_customer_id()
        row = self.conn.execute(
            "INSERT INTO customers (id) VALUES (%s) RETURNING seq", (customer_id,)
        ).fetchone()
        assert row is not None
        return customer_id, int(row[0])

    def merge(self, absorbed: str, survivor: str) -> None:
        """Moves everything of `absorbed` to `survivor`; the absorbed id becomes an alias."""
        self.conn.execute(
            "INSERT INTO identifier_holders (kind, value, customer_id)"
            " SELECT kind, value, %s FROM identifier_holders WHERE customer_id = %s"
            " ON CONFLICT DO NOTHING",
            (survivor, absorbed),
        )
        self.conn.execute("DELETE FROM identifier_holders WHERE customer_id = %s", (absorbed,))
        self.conn.execute(
            "UPDATE records SET customer_id = %s WHERE customer_id = %s", (survivor, absorbed)
        )
        # Earlier aliases of the absorbed id now point straight at the survivor: one hop, always.
        self.conn.execute(
            "UPDATE customers SET merged_into = %s, updated_at = now()"
            " WHERE id = %s OR merged_into = %s",
            (survivor, absorbed, absorbed),
        )
        self.conn.execute("UPDATE customers SET updated_at = now() WHERE id = %s", (survivor,))

    def insert_record(self, record: Record, customer_id: str) -> None:
        a = record.attributes
        self.conn.execute(
            "INSERT INTO records (record_id, customer_id, channel, ts, given_name, surname, dob,"
            " postcode, fingerprint) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                record.record_id,
                customer_id,
                record.channel,
                record.ts,
                a.given_name,
                a.surname,
                a.dob,
                a.postcode,
                record.fingerprint,
            ),
        )
        rows = [
            (record.record_id, o.identifier.kind.value, o.identifier.value, o.placeholder)
            for o in record.identifiers
        ]
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO record_identifiers (record_id, kind, value, placeholder)"
                    " VALUES (%s, %s, %s, %s)",
                    rows,
                )

    def set_status(self, ident: Identifier, status: IdentifierStatus) -> None:
        """Placeholder and shared values stop linking: they lose their holders."""
        self.conn.execute(
            "INSERT INTO identifier_values (kind, value, status) VALUES (%s, %s, %s)"
            " ON CONFLICT (kind, value) DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
            (ident.kind.value, ident.value, status.value),
        )
        if status is not IdentifierStatus.ACTIVE:
            self.conn.execute(
                "DELETE FROM identifier_holders WHERE kind = %s AND value = %s",
                (ident.kind.value, ident.value),
            )

    def add_holder(self, ident: Identifier, customer_id: str) -> bool:
        cur = self.conn.execute(
            "INSERT INTO identifier_holders (kind, value, customer_id) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (ident.kind.value, ident.value, customer_id),
        )
        return cur.rowcount == 1

    def emit(self, type_: EventType, customer_id: str, payload: dict[str, Any]) -> None:
        row = self.conn.execute(
            "INSERT INTO change_events (type, customer_id, payload) VALUES (%s, %s, %s)"
            " RETURNING id",
            (type_.value, customer_id, Jsonb(payload)),
        ).fetchone()
        assert row is not None
        self.events.append(ChangeEvent(int(row[0]), type_, customer_id, payload))


class Store:
    """Reads and transactions over the system of record."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._connection() as conn, conn.transaction():
            yield Transaction(conn)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.db.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if isinstance(exc, RETRYABLE):
                raise
            raise UnavailableError(f"database unavailable: {exc}") from exc

    def canonical_id(self, customer_id: str) -> str | None:
        """The live id for a customer id or one of its aliases."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT coalesce(merged_into, id) FROM customers WHERE id = %s", (customer_id,)
            ).fetchone()
        return row[0] if row else None

    def customer(self, customer_id: str) -> CustomerView | None:
        with self._connection() as conn:
            head = conn.execute(
                "SELECT created_at FROM customers WHERE id = %s AND merged_into IS NULL",
                (customer_id,),
            ).fetchone()
            if head is None:
                return None
            records = self._records(conn, customer_id)
            statuses = {
                _ident(k, v): IdentifierStatus(s)
                for k, v, s in conn.execute(
                    "SELECT DISTINCT ri.kind, ri.value, coalesce(iv.status,"
                    " CASE WHEN ri.placeholder THEN 'placeholder' ELSE 'active' END)"
                    " FROM records r JOIN record_identifiers ri USING (record_id)"
                    " LEFT JOIN identifier_values iv ON iv.kind = ri.kind AND iv.value = ri.value"
                    " WHERE r.customer_id = %s",
                    (customer_id,),
                )
            }
            merged = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM customers WHERE merged_into = %s ORDER BY seq", (customer_id,)
                )
            ]
        return CustomerView(customer_id, head[0], records, statuses, tuple(merged))

    @staticmethod
    def _records(conn: psycopg.Connection[Any], customer_id: str) -> tuple[StoredRecord, ...]:
        idents: dict[str, list[tuple[Identifier, bool]]] = {}
        for rid, kind, value, placeholder in conn.execute(
            "SELECT ri.record_id, ri.kind, ri.value, ri.placeholder FROM record_identifiers ri"
            " JOIN records r USING (record_id) WHERE r.customer_id = %s",
            (customer_id,),
        ):
            idents.setdefault(rid, []).append((_ident(kind, value), placeholder))
        return tuple(
            StoredRecord(
                rid, cid, channel, ts, Attributes(g, s, d, p), tuple(idents.get(rid, ())), fp
            )
            for rid, cid, channel, ts, g, s, d, p, fp in conn.execute(
                "SELECT record_id, customer_id, channel, ts, given_name, surname, dob, postcode,"
                " fingerprint FROM records WHERE customer_id = %s ORDER BY ts, record_id",
                (customer_id,),
            )
        )

    def record_assignments(self) -> Iterator[tuple[str, str]]:
        """(record_id, customer_id) of every stored record, streamed with a server cursor."""
        with self._connection() as conn, conn.transaction(), conn.cursor(name="export") as cur:
            cur.itersize = 10_000
            cur.execute("SELECT record_id, customer_id FROM records ORDER BY record_id")
            yield from cur

    def events_after(self, after: int, limit: int = 10_000) -> list[ChangeEvent]:
        with self._connection() as conn:
            return [
                ChangeEvent(eid, EventType(t), cid, payload)
                for eid, t, cid, payload in conn.execute(
                    "SELECT id, type, customer_id, payload FROM change_events WHERE id > %s"
                    " ORDER BY id LIMIT %s",
                    (after, limit),
                )
            ]

    def snapshot(self) -> Snapshot:
        """Everything the in-memory index needs, read in one consistent snapshot."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return _read_snapshot(conn)
            finally:
                conn.execute("COMMIT")


@dataclass(frozen=True, slots=True)
class Snapshot:
    last_event_id: int
    customers: list[tuple[str, int]]
    aliases: list[tuple[str, str]]
    attributes: list[tuple[str, str, str, date | None]]
    statuses: list[tuple[str, str, str]]
    holders: list[tuple[str, str, str]]


def _read_snapshot(conn: psycopg.Connection[Any]) -> Snapshot:
    last = conn.execute("SELECT coalesce(max(id), 0) FROM change_events").fetchone()
    return Snapshot(
        last_event_id=int(last[0]) if last else 0,
        customers=list(conn.execute("SELECT id, seq FROM customers WHERE merged_into IS NULL")),
        aliases=list(
            conn.execute("SELECT id, merged_into FROM customers WHERE merged_into IS NOT NULL")
        ),
        attributes=list(
            conn.execute("SELECT DISTINCT customer_id, given_name, surname, dob FROM records")
        ),
        statuses=list(conn.execute("SELECT kind, value, status FROM identifier_values")),
        holders=list(conn.execute("SELECT kind, value, customer_id FROM identifier_holders")),
    )
