"""Erasure: `Forget`, `LiftSuppression`, `idres forget`.

One transaction removes a customer, a record or an identifier's value from every table that
holds it (the records and their identifiers, holders and value states, links, override
members, reviews, the outbox's payloads, the stored models' term frequencies), keeps a receipt
without the values, and leaves suppressions (keyed hashes) so that a replayed file does not
bring the values back. A `forgotten` event per customer tells every replica to drop the same
data from memory, and `WatchChanges` consumers to drop their copies.

What remains of a customer stays one customer: an erasure never splits it, though the record
that linked its parts may be gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from idres.resolver.adapters.erasure_store import ErasureRows, lift
from idres.resolver.adapters.store import Transaction
from idres.resolver.domain.erasure import (
    RECORD,
    Receipt,
    Target,
    TargetKind,
    digest,
    raw_kind,
    sealed,
)
from idres.resolver.domain.errors import FieldViolation, NotFoundError, ValidationError
from idres.resolver.domain.events import EventType, profile_payload
from idres.resolver.domain.identifiers import Identifier
from idres.resolver.domain.records import IDENTIFIER_FIELDS, parse_query
from idres.resolver.domain.scoring import FEATURE_COLUMNS
from idres.resolver.overrides import checked_actor, checked_reason, lock_live, retrying
from idres.resolver.resolution import Resolver


@dataclass(slots=True)
class _Scope:
    """What one erasure touches, found under its locks."""

    erased: list[str]
    """Records removed whole."""
    cleared: list[str]
    """Records that keep everything but the erased value."""
    owners: dict[str, str]
    """Each of those records' customer."""


class Erasure:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.store = resolver.store
        self.key = resolver.suppression_key

    def forget(self, target: Target, *, reason: str, actor: str = "") -> Receipt:
        checked = checked_reason(reason), checked_actor(actor)
        ident = self._identifier(target)
        return retrying(lambda: self._forget(target, ident, *checked))

    def lift(self, target: Target, *, reason: str, actor: str = "") -> int:
        """Lets an erased record id or identifier be stored again; returns the suppressions
        lifted (0 when none held it)."""
        checked = checked_reason(reason), checked_actor(actor)
        if target.kind is TargetKind.CUSTOMER:
            raise ValidationError(
                [FieldViolation("target", "lift names a record id or an identifier")]
            )
        if target.kind is TargetKind.RECORD:
            digests = [digest(self.key, RECORD, target.value)]
        else:
            ident = self._identifier(target)
            digests = [digest(self.key, raw_kind(target.field), target.value.strip().lower())]
            if ident is not None:
                digests.append(digest(self.key, ident.kind.value, ident.value))
        with self.store.transaction() as tx:
            return lift(tx, digests, checked[1], checked[0])

    def _identifier(self, target: Target) -> Identifier | None:
        """The identifier as the store normalized it; None for a value that never validated
        (it can only be held raw)."""
        if target.kind is not TargetKind.IDENTIFIER:
            return None
        if target.field not in IDENTIFIER_FIELDS:
            known = ", ".join(IDENTIFIER_FIELDS)
            raise ValidationError([FieldViolation("identifier.kind", f"one of {known}")])
        if not target.value.strip():
            raise ValidationError([FieldViolation("identifier.value", "required")])
        query = parse_query({target.field: target.value}, self.resolver.rules)
        return query.identifiers[0].identifier if query.identifiers else None

    def _forget(self, target: Target, ident: Identifier | None, reason: str, actor: str) -> Receipt:
        with self.store.transaction() as tx:
            rows = ErasureRows(tx)
            scope = self._scope(tx, rows, target, ident)
            receipt = self._erase(tx, rows, target, ident, scope, (reason, actor))
            events = tx.flush()
        self.resolver.publish(events)
        return receipt

    def _scope(
        self, tx: Transaction, rows: ErasureRows, target: Target, ident: Identifier | None
    ) -> _Scope:
        """Finds the records, locks them as Observe would (their values, then their
        customers), and finds them again under the locks."""
        for _ in range(3):
            first = self._find(rows, target, ident)
            _, idents = rows.strings(first.erased)
            keys = [f"record|{r}" for r in first.erased + first.cleared]
            tx.lock_keys([*keys, *(i.key for i in idents), *([ident.key] if ident else [])])
            lock_live(tx, sorted(set(first.owners.values())))
            found = self._find(rows, target, ident)
            if found.owners.items() <= first.owners.items():
                return found
        return found

    @staticmethod
    def _find(rows: ErasureRows, target: Target, ident: Identifier | None) -> _Scope:
        if target.kind is TargetKind.IDENTIFIER:
            cleared = rows.holding(ident, target.field, target.value)
            return _Scope([], cleared, rows.owners(cleared))
        if target.kind is TargetKind.RECORD:
            owners = rows.owners([target.value])
            if not owners:
                raise NotFoundError(f"no record {target.value!r}")
            return _Scope([target.value], [], owners)
        live = rows.live(target.value)
        erased = rows.records_of(live) if live else []
        if not erased:
            raise NotFoundError(f"no customer {target.value!r}")
        return _Scope(erased, [], dict.fromkeys(erased, str(live)))

    def _erase(
        self,
        tx: Transaction,
        rows: ErasureRows,
        target: Target,
        ident: Identifier | None,
        scope: _Scope,
        why: tuple[str, str],
    ) -> Receipt:
        before = rows.features(scope.erased + scope.cleared)
        strings, idents = rows.strings(scope.erased)
        if target.kind is TargetKind.IDENTIFIER:
            strings.add(target.value.strip())
            if ident is not None:
                idents.add(ident)
                strings.add(ident.value)
        customers = sorted(set(scope.owners.values()))
        removed = rows.remove_records(scope.erased) if scope.erased else {}
        if target.kind is TargetKind.IDENTIFIER:
            prints = {r: sealed(self.key, fp) for r, fp in rows.fingerprints(scope.cleared).items()}
            removed |= rows.clear_identifier(ident, target.field, target.value, prints)
        removed |= rows.prune(customers, idents)
        held, held_idents = rows.still_held(strings, idents)
        removed["events"] = rows.scrub_events(scope.erased, frozenset(strings - held))
        removed["model_terms"] = rows.trim_models(
            [(before[r], FEATURE_COLUMNS) for r in scope.erased if r in before]
            + [(before[r], (target.field,)) for r in scope.cleared if r in before]
        )
        forgotten = rows.settle(customers)
        erasure_id, at = rows.log(target.label, why[1], why[0])
        digests = {digest(self.key, RECORD, r): RECORD for r in scope.erased}
        gone = idents - held_idents
        digests |= {digest(self.key, i.kind.value, i.value): i.kind.value for i in gone}
        if target.kind is TargetKind.IDENTIFIER:
            raw = raw_kind(target.field)
            digests[digest(self.key, raw, target.value.strip().lower())] = raw
        removed["suppressions"] = rows.suppress(erasure_id, digests)
        receipt = Receipt(
            erasure_id,
            at,
            target.label,
            tuple(customers),
            tuple(forgotten),
            tuple(scope.erased),
            removed,
        )
        rows.keep_receipt(erasure_id, receipt.as_json())
        self._announce(tx, receipt, scope, target.field)
        return receipt

    @staticmethod
    def _announce(tx: Transaction, receipt: Receipt, scope: _Scope, field: str) -> None:
        """One `forgotten` event per customer: the records gone, the records that lost a
        column, and the profile left (None when nothing is)."""
        profiles = tx.profiles(set(receipt.customer_ids) - set(receipt.forgotten_customer_ids))
        for cid in receipt.customer_ids:
            profile = profiles.get(cid)
            payload = {
                "erasure": receipt.erasure_id,
                "records": [r for r in scope.erased if scope.owners[r] == cid],
                "cleared": {r: [field] for r in scope.cleared if scope.owners[r] == cid},
                "profile": profile_payload(profile) if profile else None,
            }
            tx.emit(EventType.FORGOTTEN, cid, payload)
