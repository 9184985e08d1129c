"""Trained models in PostgreSQL: every version kept, one active for serving.

Activating a model writes a `model_activated` event in the same transaction, and sets when
it starts deciding: `switch_after` ahead, by the store's clock. Running servers see the
event in the outbox, prepare the model while the old one serves, and all switch at that time
(`idres.resolver.serving`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from idres.resolver.adapters.store import Store
from idres.resolver.domain.events import EventType

SWITCH_AFTER = timedelta(seconds=30)
"""The default lead of an activation: the time every running server has to build its indexes
for the new model before they switch together."""


class ModelStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self,
        version: str,
        model: Mapping[str, Any],
        training: Mapping[str, Any],
        *,
        activate: bool,
        switch_after: timedelta = SWITCH_AFTER,
    ) -> datetime | None:
        """Stores a model (saving the same version again keeps the first); may make it active.
        Returns when running servers switch to it, or None when nothing was activated (not
        asked, or already the active one). A server started after the activation decides with
        it at once."""
        with self.store.transaction() as tx:
            tx.conn.execute(
                "INSERT INTO models (version, model, training) VALUES (%s, %s, %s)"
                " ON CONFLICT (version) DO NOTHING",
                (version, Jsonb(dict(model)), Jsonb(dict(training))),
            )
            if not activate:
                return None
            # One activation at a time: two at once would both see their own as the newest.
            tx.conn.execute("LOCK TABLE models IN SHARE ROW EXCLUSIVE MODE")
            if self._active_version(tx.conn) == version:
                return None
            tx.conn.execute("UPDATE models SET active = false WHERE active")
            row = tx.conn.execute(
                "UPDATE models SET active = true, effective_at = now() + %s WHERE version = %s"
                " RETURNING effective_at",
                (switch_after, version),
            ).fetchone()
            assert row is not None
            payload = {"version": version, "effective_at": row[0].isoformat()}
            tx.emit(EventType.MODEL_ACTIVATED, "", payload)
            tx.flush()
        effective: datetime = row[0]
        return effective

    @staticmethod
    def _active_version(conn: psycopg.Connection[Any]) -> str | None:
        row = conn.execute("SELECT version FROM models WHERE active").fetchone()
        return str(row[0]) if row else None

    def activation(self) -> tuple[str, float] | None:
        """(version, seconds until it decides) of the active model, by the store's clock:
        zero or less once it does. None when no model is active."""
        with self.store.transaction() as tx:
            row = tx.conn.execute(
                "SELECT version, extract(epoch FROM"
                " coalesce(effective_at - clock_timestamp(), interval '0'))"
                " FROM models WHERE active"
            ).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def active(self) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        """(version, Splink model JSON, training facts) of the active model."""
        with self.store.transaction() as tx:
            row = tx.conn.execute(
                "SELECT version, model, training FROM models WHERE active"
            ).fetchone()
        return (row[0], row[1], row[2]) if row else None


def stored_records(store: Store) -> Iterator[dict[str, str]]:
    """Every stored record back in the canonical schema, identifiers as normalized."""
    query = (
        "SELECT r.record_id, r.channel, r.given_name, r.surname, coalesce(r.dob::text, ''),"
        " r.postcode, coalesce(json_object_agg(ri.kind, ri.value)"
        " FILTER (WHERE ri.kind IS NOT NULL AND NOT ri.placeholder), '{}')"
        " FROM records r LEFT JOIN record_identifiers ri USING (record_id)"
        " GROUP BY r.record_id ORDER BY r.record_id"
    )
    fields = {"social_handle": "handle"}
    with store.transaction() as tx, tx.conn.cursor(name="model_records") as cur:
        cur.itersize = 10_000
        cur.execute(query)
        for rid, channel, given, surname, dob, postcode, idents in cur:
            row = {"record_id": rid, "channel": channel, "given_name": given, "surname": surname}
            row |= {"dob": dob, "postcode": postcode}
            row |= {fields.get(kind, kind): value for kind, value in idents.items()}
            yield row
