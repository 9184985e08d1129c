"""Erasure in PostgreSQL: every table that holds personal data, cleared in one transaction.

Unlike the other writers, these statements run at once rather than queued, since each step
reads what the one before removed (which values any record still holds, what is left of a
customer). The caller's `Transaction` holds the locks and sends the change events.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from idres.resolver.adapters.store import Store, Transaction, feature_rows
from idres.resolver.domain.erasure import of_erased, scrubbed
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.scoring import IDENTIFIER_COLUMNS, Features, forget_terms

_STRINGS = (
    "SELECT x FROM records r, LATERAL (VALUES (r.given_name), (r.surname), (r.postcode),"
    " (r.street_number), (r.street), (r.locality), (r.state), (r.dob::text)) AS t(x)"
)
"""Every attribute string of the records `r`, one a row."""
_IDENTIFYING = frozenset(IDENTIFIER_COLUMNS)


def _pairs(idents: Iterable[Identifier]) -> tuple[list[str], list[str]]:
    ordered = sorted(set(idents))
    return [i.kind.value for i in ordered], [i.value for i in ordered]


class ErasureRows:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.conn = tx.conn

    # --- what a target names ------------------------------------------------------------

    def live(self, customer_id: str) -> str | None:
        """The customer an id or alias names now; None when unknown or forgotten."""
        row = self.conn.execute(
            "SELECT c.id FROM customers a JOIN customers c ON c.id = coalesce(a.merged_into, a.id)"
            " WHERE a.id = %s AND c.forgotten_at IS NULL",
            (customer_id,),
        ).fetchone()
        return str(row[0]) if row else None

    def records_of(self, customer_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT record_id FROM records WHERE customer_id = %s ORDER BY record_id",
            (customer_id,),
        )
        return [row[0] for row in rows]

    def owners(self, record_ids: Collection[str]) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT record_id, customer_id FROM records WHERE record_id = ANY(%s)",
            (list(record_ids),),
        )
        return dict(rows)

    def holding(self, ident: Identifier | None, field: str, raw: str) -> list[str]:
        """Records that hold the value: normalized, or kept raw as a field that did not
        validate (compared without case)."""
        rows = self.conn.execute(
            "SELECT record_id FROM record_identifiers WHERE kind = %s AND value = %s"
            " UNION SELECT record_id FROM records r, jsonb_array_elements(r.flagged) f"
            " WHERE r.flagged <> '[]' AND f->>0 = %s AND lower(f->>1) = %s",
            (
                ident.kind.value if ident else "",
                ident.value if ident else "",
                field,
                raw.strip().lower(),
            ),
        )
        return sorted(row[0] for row in rows)

    def features(self, record_ids: Collection[str]) -> dict[str, Features]:
        with self.conn.cursor() as cur:
            rows = feature_rows(cur, "r.record_id = ANY(%s)", (list(record_ids),))
            return {row.record_id: row.features for row in rows}

    def strings(self, record_ids: Collection[str]) -> tuple[set[str], set[Identifier]]:
        """The records' attribute strings and raw flagged values, and their identifiers."""
        wanted = (list(record_ids),)
        found = {
            row[0]
            for row in self.conn.execute(_STRINGS + " WHERE r.record_id = ANY(%s)", wanted)
            if row[0]
        }
        found |= {
            row[0]
            for row in self.conn.execute(
                "SELECT f->>1 FROM records r, jsonb_array_elements(r.flagged) f"
                " WHERE r.record_id = ANY(%s)",
                wanted,
            )
            if row[0]
        }
        idents = {
            Identifier(IdentifierKind(kind), value)
            for kind, value in self.conn.execute(
                "SELECT kind, value FROM record_identifiers WHERE record_id = ANY(%s)", wanted
            )
        }
        return found, idents

    # --- removal -------------------------------------------------------------------------

    def remove_records(self, record_ids: Sequence[str]) -> dict[str, int]:
        """Deletes the records and every row that names them; counts per kind."""
        wanted = (list(record_ids),)
        counts = {"reviews": self._review_candidates(record_ids)}
        steps = (
            ("reviews", "DELETE FROM reviews WHERE record_id = ANY(%s)"),
            (
                "links",
                "DELETE FROM record_links WHERE record_id = ANY(%s) OR to_record_id = ANY(%s)",
            ),
            ("override_records", "DELETE FROM override_records WHERE record_id = ANY(%s)"),
            ("identifiers", "DELETE FROM record_identifiers WHERE record_id = ANY(%s)"),
            ("records", "DELETE FROM records WHERE record_id = ANY(%s)"),
        )
        for kind, query in steps:
            params = wanted * query.count("%s")
            counts[kind] = counts.get(kind, 0) + self.conn.execute(query, params).rowcount
        return counts

    def _review_candidates(self, record_ids: Sequence[str]) -> int:
        """Drops erased records from the reviews that name them as a candidate; a review with
        no candidate left goes. Returns the reviews changed."""
        rows = self.conn.execute(
            "SELECT id, candidates FROM reviews r WHERE record_id <> ALL(%s) AND EXISTS"
            " (SELECT 1 FROM jsonb_array_elements(r.candidates) x WHERE x->>1 = ANY(%s))",
            (list(record_ids), list(record_ids)),
        ).fetchall()
        gone = set(record_ids)
        for rid, candidates in rows:
            left = [c for c in candidates if c[1] not in gone]
            if left:
                self.conn.execute(
                    "UPDATE reviews SET candidates = %s WHERE id = %s", (Jsonb(left), rid)
                )
            else:
                self.conn.execute("DELETE FROM reviews WHERE id = %s", (rid,))
        return len(rows)

    def clear_identifier(
        self, ident: Identifier | None, field: str, raw: str, prints: Mapping[str, str]
    ) -> dict[str, int]:
        """Takes the value out of the records that hold it, normalized or raw; `prints` are
        their new fingerprints (see `domain.erasure.sealed`)."""
        counts = {"identifiers": 0, "flagged_fields": 0}
        if ident is not None:
            counts["identifiers"] = self.conn.execute(
                "DELETE FROM record_identifiers WHERE kind = %s AND value = %s",
                (ident.kind.value, ident.value),
            ).rowcount
        counts["flagged_fields"] = self.conn.execute(
            "UPDATE records r SET flagged = (SELECT coalesce(jsonb_agg(f), '[]') FROM"
            " jsonb_array_elements(r.flagged) f WHERE NOT (f->>0 = %s AND lower(f->>1) = %s))"
            " WHERE r.flagged <> '[]' AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.flagged) f"
            " WHERE f->>0 = %s AND lower(f->>1) = %s)",
            (field, raw.strip().lower()) * 2,
        ).rowcount
        for rid, fingerprint in prints.items():
            self.conn.execute(
                "UPDATE records SET fingerprint = %s WHERE record_id = %s", (fingerprint, rid)
            )
        return counts

    def fingerprints(self, record_ids: Collection[str]) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT record_id, fingerprint FROM records WHERE record_id = ANY(%s)",
            (list(record_ids),),
        )
        return dict(rows)

    def prune(self, customers: Collection[str], idents: Collection[Identifier]) -> dict[str, int]:
        """Holders and value states that no remaining record supports any more."""
        holders = self.conn.execute(
            "DELETE FROM identifier_holders h WHERE h.customer_id = ANY(%s) AND NOT EXISTS"
            " (SELECT 1 FROM record_identifiers ri JOIN records r USING (record_id)"
            "  WHERE r.customer_id = h.customer_id AND ri.kind = h.kind AND ri.value = h.value)",
            (list(customers),),
        ).rowcount
        kinds, values = _pairs(idents)
        states = self.conn.execute(
            "DELETE FROM identifier_values v USING unnest(%s::text[], %s::text[]) AS q(k, x)"
            " WHERE v.kind = q.k AND v.value = q.x AND NOT EXISTS (SELECT 1 FROM"
            " record_identifiers ri WHERE ri.kind = v.kind AND ri.value = v.value)",
            (kinds, values),
        ).rowcount
        return {"holders": holders, "identifier_values": states}

    def still_held(
        self, strings: Collection[str], idents: Collection[Identifier]
    ) -> tuple[set[str], set[Identifier]]:
        """Which of the strings and identifiers some remaining record still holds: they are
        that record's data too, and stay where it needs them."""
        held = {
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT x FROM (" + _STRINGS + ") s WHERE x = ANY(%s)", (list(strings),)
            )
        }
        kinds, values = _pairs(idents)
        pairs = {
            Identifier(IdentifierKind(kind), value)
            for kind, value in self.conn.execute(
                "SELECT DISTINCT q.k, q.x FROM unnest(%s::text[], %s::text[]) AS q(k, x)"
                " JOIN record_identifiers ri ON ri.kind = q.k AND ri.value = q.x",
                (kinds, values),
            )
        }
        return held | {i.value for i in pairs}, pairs

    def scrub_events(self, record_ids: Collection[str], erased: frozenset[str]) -> int:
        """Rewrites the outbox: an event about an erased record keeps its ids only, any other
        loses the erased strings. Returns the events rewritten."""
        patterns = ["%" + _like(json.dumps(s, ensure_ascii=False)) + "%" for s in sorted(erased)]
        rows = self.conn.execute(
            "SELECT id, payload FROM change_events WHERE payload->>'record_id' = ANY(%s)"
            " OR payload::text LIKE ANY(%s)",
            (list(record_ids), patterns),
        ).fetchall()
        gone = set(record_ids)
        for eid, payload in rows:
            clean = of_erased(payload) if payload.get("record_id") in gone else payload
            self.conn.execute(
                "UPDATE change_events SET payload = %s WHERE id = %s",
                (Jsonb(scrubbed(clean, erased)), eid),
            )
        return len(rows)

    def trim_models(self, rows: Iterable[tuple[Features, Collection[str]]]) -> int:
        """Takes the erased values out of every stored model's training term frequencies;
        each row is an erased record's features and the columns erased from it. Returns the
        values removed."""
        chosen = list(rows)
        removed = 0
        for version, training in self.conn.execute(
            "SELECT version, training FROM models ORDER BY version FOR UPDATE"
        ).fetchall():
            counts, totals = training.get("tf_counts") or {}, training.get("tf_totals") or {}
            before = json.dumps([counts, totals], sort_keys=True)
            for features, columns in chosen:
                wanted = [c for c in columns if c in counts]
                removed += forget_terms(counts, totals, features, wanted, _IDENTIFYING)
            if json.dumps([counts, totals], sort_keys=True) != before:
                self.conn.execute(
                    "UPDATE models SET training = %s WHERE version = %s",
                    (Jsonb({**training, "tf_counts": counts, "tf_totals": totals}), version),
                )
        return removed

    def settle(self, customers: Collection[str]) -> list[str]:
        """A customer left with no record is forgotten; one that lost its founding record is
        founded by its oldest remaining one. Returns the forgotten."""
        forgotten = [
            row[0]
            for row in self.conn.execute(
                "UPDATE customers c SET forgotten_at = now(), founding_record_id = NULL,"
                " updated_at = now() WHERE c.id = ANY(%s) AND NOT EXISTS"
                " (SELECT 1 FROM records r WHERE r.customer_id = c.id) RETURNING c.id",
                (list(customers),),
            )
        ]
        self.conn.execute(
            "UPDATE customers c SET founding_record_id = (SELECT r.record_id FROM records r"
            " WHERE r.customer_id = c.id ORDER BY r.ts, r.record_id LIMIT 1), updated_at = now()"
            " WHERE c.id = ANY(%s) AND c.forgotten_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM records r WHERE r.record_id = c.founding_record_id)",
            (list(customers),),
        )
        return sorted(forgotten)

    # --- the log and the suppressions ------------------------------------------------------

    def log(self, target: str, actor: str, reason: str) -> tuple[int, datetime]:
        row = self.conn.execute(
            "INSERT INTO erasures (actor, reason, target, receipt) VALUES (%s, %s, %s, '{}')"
            " RETURNING id, at",
            (actor, reason, target),
        ).fetchone()
        assert row is not None
        return int(row[0]), row[1]

    def keep_receipt(self, erasure_id: int, receipt: Mapping[str, Any]) -> None:
        self.conn.execute(
            "UPDATE erasures SET receipt = %s WHERE id = %s", (Jsonb(dict(receipt)), erasure_id)
        )

    def suppress(self, erasure_id: int, digests: Mapping[str, str]) -> int:
        """Adds suppressions (digest to kind); one already active stays as it is."""
        ordered = sorted(digests.items())
        return self.conn.execute(
            "INSERT INTO suppressions (kind, digest, erasure_id)"
            " SELECT k, d, %s FROM unnest(%s::text[], %s::text[]) AS q(d, k)"
            " ON CONFLICT (digest) WHERE lifted_at IS NULL DO NOTHING",
            (erasure_id, [d for d, _ in ordered], [k for _, k in ordered]),
        ).rowcount


def lift(tx: Transaction, digests: Collection[str], actor: str, reason: str) -> int:
    """Lifts the active suppressions with these digests; returns how many."""
    return tx.conn.execute(
        "UPDATE suppressions SET lifted_at = now(), lifted_by = %s, lift_reason = %s"
        " WHERE digest = ANY(%s) AND lifted_at IS NULL",
        (actor, reason, list(digests)),
    ).rowcount


def suppressed(tx: Transaction, digests: Collection[str]) -> set[str]:
    """Which of the digests are suppressed now, read in the caller's transaction."""
    if not digests:
        return set()
    rows = tx.conn.execute(
        "SELECT digest FROM suppressions WHERE digest = ANY(%s) AND lifted_at IS NULL",
        (list(digests),),
    )
    return {row[0] for row in rows}


def active_digests(store: Store) -> set[str]:
    """Every active suppression, for a batch job that checks many records at once."""
    with store.transaction() as tx:
        rows = tx.conn.execute("SELECT digest FROM suppressions WHERE lifted_at IS NULL")
        return {row[0] for row in rows}


def suppression_key(store: Store, configured: str = "") -> bytes:
    """The hash key: the deployment's (`IDRES_SUPPRESSION_KEY`), else the store's own."""
    if configured:
        return configured.encode()
    with store.transaction() as tx:
        row = tx.conn.execute("SELECT key FROM suppression_key").fetchone()
    return str(row[0] if row else "").encode()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
