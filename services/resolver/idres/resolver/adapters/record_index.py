"""Stored records as the match model sees them, and the two ways to find them fast.

Each record keeps its model features (for scoring), its owner (the customer it joined) and its
keys under the model's own blocking rules, so that a lookup proposes the pairs Splink's batch
prediction would. Records with weak attributes also go into the faiss vector index, which finds
the near misses (typos, a swapped birth date) no exact key can. Term frequencies are counted
here as records arrive, on top of those of the training data (`seeded_frequencies`): an empty
store would otherwise take its first Smith for a rare name.

It is not thread-safe on its own: `IdentityIndex` holds its lock around every call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from idres.resolver.adapters.vector_index import Vector, VectorIndex, weak_vector
from idres.resolver.domain.records import Attributes
from idres.resolver.domain.scoring import (
    IDENTIFIER_COLUMNS,
    Features,
    MatchModel,
    TermFrequencies,
    seeded_frequencies,
)

MAX_BLOCK = 200
"""A blocking key held by more records than this proposes none: it is too common to tell."""
NAME_BLOCK = 30
"""The limit for a key of names alone. A full name held by more records is common enough that
agreeing on it links nobody by itself, and its block would cost the most pairs of all."""
FLUSH_EVERY = 16384
"""Vectors held back for one faiss add: a batch is far faster than single adds, and a bounded
one keeps a replica building its index from holding every vector twice."""
_NAME_COLUMNS = frozenset({"given_name", "surname"})
_IDENTIFYING = frozenset(IDENTIFIER_COLUMNS)


def block_limit(rule: Iterable[str]) -> int:
    """How many records may hold a key of `rule` before it proposes no pair."""
    return NAME_BLOCK if set(rule) <= _NAME_COLUMNS else MAX_BLOCK


def weak_attributes(features: Features) -> Attributes:
    """The weak attributes a record's features hold, as the vector index reads them."""
    dob = features.get("dob")
    return Attributes(
        features.get("given_name") or "",
        features.get("surname") or "",
        date.fromisoformat(dob) if dob else None,
        features.get("postcode") or "",
    )


class RecordIndex:
    def __init__(
        self,
        blocking: Iterable[tuple[str, ...]] = (),
        tf_columns: Iterable[str] = (),
        *,
        vectors: bool = True,
        tf: TermFrequencies | None = None,
    ) -> None:
        self.blocking = tuple(blocking)
        self._limits = tuple(block_limit(rule) for rule in self.blocking)
        self.tf_columns = tuple(tf_columns)
        self.tf = tf if tf is not None else TermFrequencies()
        self._features: dict[str, Features] = {}
        self._owner: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._blocks: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        self._vectors = VectorIndex() if vectors else None
        self._pending: tuple[list[str], list[Vector]] = ([], [])

    @classmethod
    def for_model(
        cls, model: MatchModel, facts: Mapping[str, Any], *, vectors: bool = True
    ) -> RecordIndex:
        """Keyed by the model's blocking rules; term frequencies start from the training data's."""
        return cls(model.blocking, model.tf_columns, vectors=vectors, tf=seeded_frequencies(facts))

    def __len__(self) -> int:
        return len(self._features)

    def add(self, record_id: str, customer_id: str, features: Mapping[str, str | None]) -> None:
        """Adds a record once; a replayed event changes nothing."""
        if record_id in self._features:
            return
        sparse = {k: v for k, v in features.items() if v is not None}
        self._features[record_id] = sparse
        self._owner[record_id] = customer_id
        self._members.setdefault(customer_id, set()).add(record_id)
        self.tf.add(sparse, self.tf_columns)
        for key in self._keys(sparse):
            self._blocks.setdefault(key, []).append(record_id)
        vector = weak_vector(weak_attributes(sparse)) if self._vectors is not None else None
        if vector is not None:
            self._pending[0].append(record_id)
            self._pending[1].append(vector)
            if len(self._pending[0]) >= FLUSH_EVERY:
                self.flush()

    def flush(self) -> None:
        """Adds the vectors of the records added since the last flush, in one batch: faiss adds
        many vectors far faster than one at a time."""
        keys, vectors = self._pending
        if self._vectors is not None and keys:
            self._vectors.add(keys, vectors)
        self._pending = ([], [])

    def move(self, absorbed: str, survivor: str) -> None:
        """A merge: the absorbed customer's records now belong to the survivor."""
        moved = self._members.pop(absorbed, set())
        self._members.setdefault(survivor, set()).update(moved)
        for record_id in moved:
            self._owner[record_id] = survivor

    def relocate(self, record_ids: Iterable[str], customer_id: str) -> None:
        """A split: these records now belong to `customer_id`."""
        for record_id in record_ids:
            old = self._owner.get(record_id)
            if old is None:
                continue
            self._members.get(old, set()).discard(record_id)
            self._members.setdefault(customer_id, set()).add(record_id)
            self._owner[record_id] = customer_id

    def remove(self, record_id: str) -> None:
        """An erased record: gone from every key and count (its vector stays in faiss, which
        cannot delete from a graph, but is never returned again)."""
        sparse = self._features.pop(record_id, None)
        if sparse is None:
            return
        owner = self._owner.pop(record_id)
        self._members.get(owner, set()).discard(record_id)
        self._unblock(record_id, set(self._keys(sparse)))
        self.tf.forget(sparse, self.tf_columns, _IDENTIFYING)
        if self._vectors is not None:
            self._vectors.discard([record_id])

    def clear(self, record_id: str, columns: Iterable[str]) -> None:
        """A record that loses the values of `columns` (an erased identifier)."""
        sparse = self._features.get(record_id)
        if sparse is None:
            return
        lost = {c: sparse[c] for c in columns if c in sparse}
        if not lost:
            return
        kept = {k: v for k, v in sparse.items() if k not in lost}
        self._unblock(record_id, set(self._keys(sparse)) - set(self._keys(kept)))
        self.tf.forget(lost, self.tf_columns, _IDENTIFYING)
        self._features[record_id] = kept

    def _unblock(self, record_id: str, keys: Iterable[tuple[int, tuple[str, ...]]]) -> None:
        for key in keys:
            block = self._blocks.get(key)
            if block is not None and record_id in block:
                block.remove(record_id)
                if not block:
                    del self._blocks[key]

    def owner(self, record_id: str) -> str:
        return self._owner[record_id]

    def records_of(self, customer_id: str, limit: int) -> list[tuple[str, Features]]:
        """Up to `limit` of a customer's records with their features, in a stable order."""
        ids = sorted(self._members.get(customer_id, ()))[:limit]
        return [(rid, self._features[rid]) for rid in ids]

    def blocked(self, features: Features) -> set[str]:
        """Records sharing a blocking key with `features`: the pairs Splink's rules predict."""
        found: set[str] = set()
        for key in self._keys(features):
            hits = self._blocks.get(key, ())
            if len(hits) <= self._limits[key[0]]:
                found.update(hits)
        return found

    def nearest(self, features: Features, k: int) -> list[str]:
        """The `k` records whose weak attributes are nearest, best first."""
        if self._vectors is None or k < 1:
            return []
        vector = weak_vector(weak_attributes(features))
        if vector is None:
            return []
        found = self._vectors.search(vector, k)
        return [rid for rid, _ in found if rid in self._features]

    def _keys(self, features: Features) -> Iterable[tuple[int, tuple[str, ...]]]:
        for number, columns in enumerate(self.blocking):
            values = tuple(features.get(c) for c in columns)
            if all(values):
                yield number, values  # type: ignore[misc]
