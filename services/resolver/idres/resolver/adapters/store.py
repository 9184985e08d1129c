"""The PostgreSQL store: the system of record behind the linking rules.

A `Transaction` offers the reads and writes one `Observe` needs, under locks that keep
concurrent writers and several replicas correct: advisory locks on identifier values and the
record id, row locks on the customers involved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from idres.resolver.adapters.database import Database
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.events import ChangeEvent, EventType, new_customer_id
from idres.resolver.domain.identifiers import Identifier, IdentifierKind, IdentifierStatus
from idres.resolver.domain.linking import Link, ValueState
from idres.resolver.domain.profiles import Profile
from idres.resolver.domain.records import Attributes, Flagged, Observed, Query, Record
from idres.resolver.domain.scoring import Features, features

# Observe takes this lock shared and a bulk load exclusive (see `bulk_store`).
BULK_LOCK = 0x1D5E5B01
RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


RECORD_COLUMNS = (
    "record_id, customer_id, channel, ts, given_name, surname, dob, postcode, fingerprint,"
    " street_number, street, locality, state, flagged"
)
_ATTRIBUTE_COLUMNS = "given_name, surname, dob, postcode, street_number, street, locality, state"


def record_row(record: Record, customer_id: str) -> tuple[Any, ...]:
    """A record as a `records` row, in `RECORD_COLUMNS` order."""
    a = record.attributes
    return (
        record.record_id,
        customer_id,
        record.channel,
        record.ts,
        a.given_name,
        a.surname,
        a.dob,
        a.postcode,
        record.fingerprint,
        *a.address,
        flagged_json(record.flagged),
    )


def flagged_json(flagged: Sequence[Flagged]) -> Jsonb:
    return Jsonb([[f.field, f.raw, f.reason] for f in flagged])


def flagged_of(rows: Sequence[Sequence[str]] | None) -> tuple[Flagged, ...]:
    return tuple(Flagged(str(f), str(raw), str(why)) for f, raw, why in rows or ())


@dataclass(frozen=True, slots=True)
class StoredRecord:
    record_id: str
    customer_id: str
    channel: str
    ts: datetime
    attributes: Attributes
    identifiers: tuple[tuple[Identifier, bool], ...]
    fingerprint: str
    flagged: tuple[Flagged, ...] = ()


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
    """Reads run one by one; writes are queued and sent in one pipeline by `flush`, since a
    round trip to PostgreSQL costs more than the statements themselves."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._writes: list[tuple[str, Sequence[Any]]] = []
        self._emitted: list[tuple[EventType, str, dict[str, Any]]] = []
        self.events: list[ChangeEvent] = []

    def lock_keys(self, keys: Iterable[str]) -> None:
        """Advisory locks in one sorted order, so two writers never wait on each other crosswise."""
        self.conn.execute(
            "SELECT pg_advisory_xact_lock_shared(%s::int, hashtext(current_schema())) UNION ALL"
            " SELECT pg_advisory_xact_lock(hashtextextended(k, hashtext(current_schema())))"
            " FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS sorted",
            (BULK_LOCK, sorted(set(keys))),
        )

    def recall(
        self, record_id: str, digests: Sequence[str] = ()
    ) -> tuple[tuple[str, str] | None, set[str]]:
        """(customer id, fingerprint) of a stored record, and which of `digests` are
        suppressed (see `domain.erasure`), in one round trip."""
        row = self.conn.execute(
            "SELECT r.customer_id, r.fingerprint, (SELECT array_agg(s.digest) FROM suppressions s"
            " WHERE s.digest = ANY(%s) AND s.lifted_at IS NULL)"
            " FROM (SELECT 1) AS one LEFT JOIN records r ON r.record_id = %s",
            (list(digests), record_id),
        ).fetchone()
        if row is None:
            return None, set()
        return ((row[0], row[1]) if row[0] else None), set(row[2] or ())

    def value_states(self, idents: Sequence[Identifier]) -> dict[Identifier, ValueState]:
        """Status and holders of each known value, in one query."""
        if not idents:
            return {}
        rows = self.conn.execute(
            "SELECT q.kind, q.value, v.status,"
            " (SELECT array_agg(h.customer_id) FROM identifier_holders h"
            "  WHERE h.kind = q.kind AND h.value = q.value)"
            " FROM unnest(%s::text[], %s::text[]) AS q(kind, value)"
            " LEFT JOIN identifier_values v USING (kind, value)",
            ([i.kind.value for i in idents], [i.value for i in idents]),
        )
        return {
            _ident(kind, value): ValueState(
                IdentifierStatus(status or "active"), frozenset(holders or ())
            )
            for kind, value, status, holders in rows
            if status is not None or holders
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
        conn = self.conn
        with conn.pipeline(), conn.cursor() as c1, conn.cursor() as c2, conn.cursor() as c3:
            heads = conn.execute("SELECT id, seq FROM customers WHERE id = ANY(%s)", (wanted,))
            c1.execute(
                "SELECT DISTINCT customer_id, given_name, surname, dob FROM records"
                " WHERE customer_id = ANY(%s)",
                (wanted,),
            )
            c2.execute(
                "SELECT customer_id, kind, value FROM identifier_holders"
                " WHERE customer_id = ANY(%s)",
                (wanted,),
            )
            c3.execute(_MARKS + " AND r.customer_id = ANY(%s)", (wanted,))
            found = {cid: Profile(cid, seq) for cid, seq in heads.fetchall()}
            for cid, given, surname, dob in c1.fetchall():
                found[cid].add(Attributes(given, surname, dob))
            for cid, kind, value in c2.fetchall():
                found[cid].identifiers.add(_ident(kind, value))
            for cid, override, side in c3.fetchall():
                found[cid].marks.add((override, side))
        return found

    def create_customer(self, founding_record_id: str) -> str:
        customer_id = new_customer_id()
        self.write(
            "INSERT INTO customers (id, founding_record_id) VALUES (%s, %s)",
            (customer_id, founding_record_id),
        )
        return customer_id

    def record_features(self, ids: Iterable[str]) -> dict[str, list[tuple[str, Features]]]:
        """Each customer's records as model features, read in this transaction."""
        wanted = sorted(set(ids))
        found: dict[str, list[tuple[str, Features]]] = {cid: [] for cid in wanted}
        if wanted:
            with self.conn.cursor() as cur:
                for row in feature_rows(cur, "r.customer_id = ANY(%s)", (wanted,)):
                    found[row.customer_id].append((row.record_id, row.features))
        return found

    def add_links(
        self, record_id: str, links: Sequence[Link], merged: Sequence[str], version: str
    ) -> None:
        """Records which stored record the new one matched in each customer it joined."""
        if not links:
            return
        parts = [link_parts(lk) for lk in links]
        self.write(
            "INSERT INTO record_links (record_id, to_record_id, merged, match_weight, probability,"
            " sure, comparisons, model_version)"
            " SELECT %s, * FROM unnest(%s::text[], %s::bool[], %s::float8[], %s::float8[],"
            " %s::bool[], %s::jsonb[], %s::text[]) ON CONFLICT DO NOTHING",
            (
                record_id,
                [lk.record_id for lk in links],
                [lk.customer_id in merged for lk in links],
                *(list(column) for column in zip(*parts, strict=True)),
                [version] * len(links),
            ),
        )

    def merge(self, absorbed: str, survivor: str) -> None:
        """Moves everything of `absorbed` to `survivor`; the absorbed id becomes an alias."""
        self.write(
            "INSERT INTO identifier_holders (kind, value, customer_id)"
            " SELECT kind, value, %s FROM identifier_holders WHERE customer_id = %s"
            " ON CONFLICT DO NOTHING",
            (survivor, absorbed),
        )
        self.write("DELETE FROM identifier_holders WHERE customer_id = %s", (absorbed,))
        self.write(
            "UPDATE records SET customer_id = %s WHERE customer_id = %s", (survivor, absorbed)
        )
        # Earlier aliases of the absorbed id now point straight at the survivor: one hop, always.
        self.write(
            "UPDATE customers SET merged_into = %s, updated_at = now()"
            " WHERE id = %s OR merged_into = %s",
            (survivor, absorbed, absorbed),
        )
        self.write("UPDATE customers SET updated_at = now() WHERE id = %s", (survivor,))

    def insert_record(self, record: Record, customer_id: str) -> None:
        self.write(
            f"INSERT INTO records ({RECORD_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})",
            record_row(record, customer_id),
        )
        if record.identifiers:
            self.write(
                "INSERT INTO record_identifiers (record_id, kind, value, placeholder)"
                " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bool[])",
                (
                    record.record_id,
                    [o.identifier.kind.value for o in record.identifiers],
                    [o.identifier.value for o in record.identifiers],
                    [o.placeholder for o in record.identifiers],
                ),
            )

    def set_status(self, ident: Identifier, status: IdentifierStatus) -> None:
        """Placeholder and shared values stop linking: they lose their holders."""
        self.write(
            "INSERT INTO identifier_values (kind, value, status) VALUES (%s, %s, %s)"
            " ON CONFLICT (kind, value) DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
            (ident.kind.value, ident.value, status.value),
        )
        if status is not IdentifierStatus.ACTIVE:
            self.write(
                "DELETE FROM identifier_holders WHERE kind = %s AND value = %s",
                (ident.kind.value, ident.value),
            )

    def activate(self, idents: Sequence[Identifier]) -> None:
        """Records first sightings of values as active."""
        if idents:
            self.write(
                "INSERT INTO identifier_values (kind, value, status)"
                " SELECT kind, value, 'active'"
                " FROM unnest(%s::text[], %s::text[]) AS q(kind, value) ON CONFLICT DO NOTHING",
                ([i.kind.value for i in idents], [i.value for i in idents]),
            )

    def add_holders(self, idents: Sequence[Identifier], customer_id: str) -> None:
        if idents:
            self.write(
                "INSERT INTO identifier_holders (kind, value, customer_id)"
                " SELECT kind, value, %s FROM unnest(%s::text[], %s::text[]) AS q(kind, value)"
                " ON CONFLICT DO NOTHING",
                (customer_id, [i.kind.value for i in idents], [i.value for i in idents]),
            )

    def emit(self, type_: EventType, customer_id: str, payload: dict[str, Any]) -> None:
        """Queues an outbox event; a `created` event gets the customer's `seq` from the row."""
        self._emitted.append((type_, customer_id, payload))

    def write(self, query: str, params: Sequence[Any]) -> None:
        """Queues a write for `flush`; a read in between does not see it."""
        self._writes.append((query, params))

    def flush(self) -> list[ChangeEvent]:
        """Sends every queued write and event in one pipeline; returns the events written."""
        with self.conn.pipeline():
            for query, params in self._writes:
                self.conn.execute(query.encode(), params)
            cursors = [
                self.conn.execute(
                    "INSERT INTO change_events (type, customer_id, payload)"
                    " SELECT %s, %s, %s::jsonb || CASE WHEN %s = 'created' THEN"
                    " (SELECT jsonb_build_object('seq', seq) FROM customers WHERE id = %s)"
                    " ELSE '{}'::jsonb END RETURNING id, payload",
                    (t.value, cid, Jsonb(payload), t.value, cid),
                )
                for t, cid, payload in self._emitted
            ]
            rows = [cur.fetchone() for cur in cursors]
        self.events = [
            ChangeEvent(int(row[0]), t, cid, row[1])
            for row, (t, cid, _) in zip(rows, self._emitted, strict=True)
            if row is not None
        ]
        self._writes.clear()
        self._emitted.clear()
        return self.events


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
            with self.db.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise UnavailableError(
                f"database unavailable: no connection to PostgreSQL ({exc}); retry later"
            ) from exc
        except psycopg.OperationalError as exc:
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

    def customer(self, asked: str) -> CustomerView | None:
        """The live customer for an id or an alias, read in one snapshot: a merge committed
        between following the alias and reading the customer cannot hide it."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head = conn.execute(
                "SELECT c.id, c.created_at FROM customers a"
                " JOIN customers c ON c.id = coalesce(a.merged_into, a.id)"
                " WHERE a.id = %s AND c.forgotten_at IS NULL",
                (asked,),
            ).fetchone()
            if head is None:
                return None
            customer_id = head[0]
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
        return CustomerView(customer_id, head[1], records, statuses, tuple(merged))

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
                rid,
                cid,
                channel,
                ts,
                Attributes(*attributes),
                tuple(idents.get(rid, ())),
                fp,
                flagged_of(flagged),
            )
            for rid, cid, channel, ts, fp, flagged, *attributes in conn.execute(
                "SELECT record_id, customer_id, channel, ts, fingerprint, flagged,"
                f" {_ATTRIBUTE_COLUMNS} FROM records WHERE customer_id = %s ORDER BY ts, record_id",
                (customer_id,),
            )
        )

    def record_assignments(self) -> Iterator[tuple[str, str]]:
        """(record_id, customer_id) of every stored record, streamed with a server cursor."""
        with self._connection() as conn, conn.transaction(), conn.cursor(name="export") as cur:
            cur.itersize = 10_000
            cur.execute("SELECT record_id, customer_id FROM records ORDER BY record_id")
            yield from cur

    def events_after(
        self, after: int, limit: int = 10_000, *, seen_in: str = ""
    ) -> list[tuple[ChangeEvent, bool]]:
        """Committed events after id `after`, each with whether the PostgreSQL snapshot
        `seen_in` (a `Snapshot.visible`) already holds it."""
        with self._connection() as conn:
            return [
                (ChangeEvent(eid, EventType(t), cid, payload), seen)
                for eid, t, cid, payload, seen in conn.execute(
                    "SELECT id, type, customer_id, payload,"
                    " %s <> '' AND pg_visible_in_snapshot(txid, nullif(%s, '')::pg_snapshot)"
                    " FROM change_events WHERE id > %s ORDER BY id LIMIT %s",
                    (seen_in, seen_in, after, limit),
                )
            ]

    def snapshot(self, *, with_records: bool = False) -> Snapshot:
        """Everything the in-memory index needs, read in one consistent snapshot."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return read_snapshot(conn, with_records)


_MARKS = (
    "SELECT DISTINCT r.customer_id, m.override_id, m.side FROM override_records m"
    " JOIN records r USING (record_id) JOIN overrides o ON o.id = m.override_id"
    " WHERE o.kind = 'split' AND o.lifted_by IS NULL"
)
"""(customer, split, side) of every record on a side of a split that holds."""
_NOT_PLACEHOLDER = "FILTER (WHERE ri.kind IS NOT NULL AND NOT ri.placeholder)"
_RECORD_ROWS = (
    "SELECT r.record_id, r.customer_id, r.flagged,"
    f" coalesce(array_agg(ri.kind ORDER BY ri.kind) {_NOT_PLACEHOLDER}, '{{}}'),"
    f" coalesce(array_agg(ri.value ORDER BY ri.kind) {_NOT_PLACEHOLDER}, '{{}}'),"
    " r.given_name, r.surname, r.dob, r.postcode, r.street_number, r.street, r.locality, r.state"
    " FROM records r LEFT JOIN record_identifiers ri USING (record_id)"
)


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """A stored record as the match model sees it."""

    record_id: str
    customer_id: str
    attributes: Attributes
    features: Features
    flagged: tuple[Flagged, ...] = ()


def feature_rows(
    cursor: psycopg.Cursor[Any], condition: str = "", params: Sequence[Any] = ()
) -> Iterator[FeatureRow]:
    """Stored records whose row `r` meets `condition` (every record when empty), with their
    model features built from the normalized values the store keeps."""
    where = f" WHERE {condition}" if condition else ""
    cursor.execute(_RECORD_ROWS + where + " GROUP BY r.record_id", params)
    for rid, cid, flagged, kinds, values, *parts in cursor:
        attributes = Attributes(*parts)
        observed = tuple(
            Observed(_ident(k, v), placeholder=False) for k, v in zip(kinds, values, strict=True)
        )
        kept = flagged_of(flagged)
        row = features(Query(attributes, observed, kept))
        values = {k: v for k, v in row.items() if v is not None}
        yield FeatureRow(rid, cid, attributes, values, kept)


def link_parts(link: Link) -> tuple[float, float, bool, Jsonb]:
    """A link's (match weight, probability, sure, comparisons) as `record_links` keeps them."""
    weight = link.match_weight if math.isfinite(link.match_weight) else -1e9
    comparisons = [
        [c.comparison, c.level, c.gamma, c.log2_bayes_factor + c.tf_adjustment, c.tf_adjustment]
        for c in link.contributions
    ]
    return weight, link.probability, link.sure, Jsonb(comparisons)


@dataclass(frozen=True, slots=True)
class Snapshot:
    last_event_id: int
    customers: list[tuple[str, int]]
    aliases: list[tuple[str, str]]
    attributes: list[tuple[str, str, str, date | None]]
    statuses: list[tuple[str, str, str]]
    holders: list[tuple[str, str, str]]
    records: list[tuple[str, str, Features]]
    """(record_id, customer_id, features) of every record; read only when a model serves."""
    marks: list[tuple[str, int, int]] = field(default_factory=list)
    """(customer, split, side): the operator splits its records are on."""
    visible: str = ""
    """PostgreSQL's snapshot it was read in: the events it already holds are those visible in
    it, so that a follower does not apply them twice."""


def read_snapshot(conn: psycopg.Connection[Any], with_records: bool) -> Snapshot:
    last = conn.execute("SELECT coalesce(max(id), 0) FROM change_events").fetchone()
    return Snapshot(
        last_event_id=int(last[0]) if last else 0,
        customers=list(
            conn.execute(
                "SELECT id, seq FROM customers WHERE merged_into IS NULL AND forgotten_at IS NULL"
            )
        ),
        aliases=list(
            conn.execute("SELECT id, merged_into FROM customers WHERE merged_into IS NOT NULL")
        ),
        attributes=list(
            conn.execute("SELECT DISTINCT customer_id, given_name, surname, dob FROM records")
        ),
        statuses=list(conn.execute("SELECT kind, value, status FROM identifier_values")),
        holders=list(conn.execute("SELECT kind, value, customer_id FROM identifier_holders")),
        records=_snapshot_records(conn) if with_records else [],
        marks=list(conn.execute(_MARKS)),
        visible=str(_one(conn, "SELECT pg_current_snapshot()::text")),
    )


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _snapshot_records(conn: psycopg.Connection[Any]) -> list[tuple[str, str, Features]]:
    with conn.cursor(name="snapshot_records") as cur:
        cur.itersize = 20_000
        return [(r.record_id, r.customer_id, r.features) for r in feature_rows(cur)]
