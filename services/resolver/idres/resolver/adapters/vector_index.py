"""Nearest neighbours on weak attributes, for lookups that bring no strong identifier.

A record's name, birth date and postcode become one unit vector of hashed tokens: character
trigrams of each name (robust to typos), the postcode's district and sector, and the parts of
the birth date (so a swapped day and month still shares most of them). Each field group is
normalized before the groups are summed, so that one long name cannot drown the birth date.
faiss' HNSW graph finds the nearest vectors by inner product without training, and accepts
additions while serving.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Sequence

import faiss
import numpy as np
import numpy.typing as npt

from idres.resolver.domain.names import fold
from idres.resolver.domain.records import Attributes

DIM = 128
MAX_SKIPPED = 64
"""Extra neighbours a search asks for, to make up for discarded keys among the nearest."""
Vector = npt.NDArray[np.float32]
# How much each field group weighs in the similarity; names carry most identity.
WEIGHTS = {"given": 1.0, "surname": 1.0, "dob": 0.9, "postcode": 0.7}


def _trigrams(name: str) -> list[str]:
    padded = f"#{name}#"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def _tokens(attributes: Attributes) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    given, surname = fold(attributes.given_name), fold(attributes.surname)
    if given:
        groups["given"] = [f"g:{t}" for t in _trigrams(given)] + [f"gi:{given[0]}"]
    if surname:
        groups["surname"] = [f"s:{t}" for t in _trigrams(surname)]
    if attributes.dob:
        d = attributes.dob
        day_month = sorted((d.day, d.month))
        groups["dob"] = [f"y:{d.year}", f"dm:{day_month}", f"ym:{d.year}-{d.month}", f"x:{d}"]
    postcode = attributes.postcode.replace(" ", "")
    if len(postcode) >= 5:
        district, sector = postcode[:-3], postcode[:-2]
        groups["postcode"] = [f"pd:{district}", f"ps:{sector}", f"pf:{postcode}"]
    return groups


def _hashed(tokens: Iterable[str]) -> Vector:
    vec = np.zeros(DIM, dtype=np.float32)
    for token in tokens:
        h = zlib.crc32(token.encode())
        vec[h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


def weak_vector(attributes: Attributes) -> Vector | None:
    """The attributes as a unit vector, or None when there is nothing weak to compare."""
    groups = _tokens(attributes)
    if not groups:
        return None
    vec = sum(
        (WEIGHTS[name] * _hashed(tokens) for name, tokens in groups.items()),
        np.zeros(DIM, dtype=np.float32),
    )
    norm = float(np.linalg.norm(vec))
    return (vec / norm).astype(np.float32) if norm else None


class VectorIndex:
    """Record keys by weak-attribute vector; searches may run while records are added."""

    def __init__(self, *, neighbours: int = 32, ef_search: int = 96) -> None:
        self._index = faiss.IndexHNSWFlat(DIM, neighbours, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efSearch = ef_search
        self._keys: list[str] = []
        self._gone: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, keys: Sequence[str], vectors: Sequence[Vector]) -> None:
        if not keys:
            return
        matrix = np.ascontiguousarray(np.vstack(vectors), dtype=np.float32)
        with self._lock:
            self._index.add(matrix)
            self._keys.extend(keys)

    def discard(self, keys: Iterable[str]) -> None:
        """Keys never to return again: an HNSW graph cannot delete, so their vectors stay
        until the index is next built from the store."""
        with self._lock:
            self._gone.update(keys)

    def search(self, vector: Vector, k: int) -> list[tuple[str, float]]:
        """The `k` nearest keys with their cosine similarity, best first."""
        with self._lock:
            if not self._keys:
                return []
            wanted = min(k + min(len(self._gone), MAX_SKIPPED), len(self._keys))
            scores, ids = self._index.search(vector.reshape(1, DIM), wanted)
            found = [
                (self._keys[i], float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0
            ]
            return [(key, s) for key, s in found if key not in self._gone][:k]
