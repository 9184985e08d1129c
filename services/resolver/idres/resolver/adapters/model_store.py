"""Trained models in PostgreSQL: every version kept, one active for serving."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from psycopg.types.json import Jsonb

from idres.resolver.adapters.store import Store


class ModelStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self, version: str, model: Mapping[str, Any], training: Mapping[str, Any], *, activate: bool
    ) -> None:
        """Stores a model (saving the same version again keeps the first); may make it active."""
        with self.store.transaction() as tx:
            tx.conn.execute(
                "INSERT INTO models (version, model, training) VALUES (%s, %s, %s)"
                " ON CONFLICT (version) DO NOTHING",
                (version, Jsonb(dict(model)), Jsonb(dict(training))),
            )
            if activate:
                tx.conn.execute("UPDATE models SET active = false WHERE active")
                tx.conn.execute("UPDATE models SET active = true WHERE version = %s", (version,))

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
