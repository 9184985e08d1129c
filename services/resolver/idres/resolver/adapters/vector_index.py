"""Nearest neighbours on weak attributes, for lookups that bring no strong identifier.

A record's name, birth date and postcode become one unit vector of hashed tokens: character
trigrams of each name (robust to typos), the postcode's district and sector, and the parts of
the birth date (so a swapped day and month still shares most of them). Each field group is
normalized before the groups are summed, so that one long name cannot drown the birth date.
faiss' HNSW graph finds the nearest vectors by inner product without training, and accepts
additions while serving.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

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


def _given(name: str) -> list[str]:
    return [f"g:{t}" for t in _trigrams(name)] + [f"gi:{name[0]}"]


def _surname(name: str) -> list[str]:
    return [f"s:{t}" for t in _trigrams(name)]


def _dob(d: date) -> list[str]:
    day_month = sorted((d.day, d.month))
    return [f"y:{d.year}", f"dm:{day_month}", f"ym:{d.year}-{d.month}", f"x:{d}"]


def _postcode(postcode: str) -> list[str]:
    district, sector = postcode[:-3], postcode[:-2]
    return [f"pd:{district}", f"ps:{sector}", f"pf:{postcode}"]


_GROUPS: dict[str, Callable[[Any], list[str]]] = {
    "given": _given,
    "surname": _surname,
    "dob": _dob,
    "postcode": _postcode,
}


def _values(attributes: Attributes) -> dict[str, Any]:
    """Each field group's value, for the groups the record has."""
    values: dict[str, Any] = {}
    given, surname = fold(attributes.given_name), fold(attributes.surname)
    if given:
        values["given"] = given
    if surname:
        values["surname"] = surname
    if attributes.dob:
        values["dob"] = attributes.dob
    postcode = attributes.postcode.replace(" ", "")
    if len(postcode) >= 5:
        values["postcode"] = postcode
    return values


@lru_cache(maxsize=1 << 17)
def _part(group: str, value: Any) -> tuple[tuple[int, float], ...]:
    """One group's hashed tokens, normalized and weighted. Names, dates and postcodes repeat
    across records, so a replica building its index hashes each one once."""
    part: dict[int, float] = {}
    for token in _GROUPS[group](value):
        h = zlib.crc32(token.encode())
        slot = h % DIM
        part[slot] = part.get(slot, 0.0) + (1.0 if (h >> 16) & 1 else -1.0)
    norm = math.sqrt(sum(v * v for v in part.values()))
    if not norm:
        return ()
    scale = WEIGHTS[group] / norm
    return tuple((slot, v * scale) for slot, v in part.items())


def weak_vector(attributes: Attributes) -> Vector | None:
    """The attributes as a unit vector, or None when there is nothing weak to compare."""
    values = _values(attributes)
    if not values:
        return None
    # Plain floats, not numpy: a few dozen entries cost less than numpy's per-call overhead.
    total: dict[int, float] = {}
    for group, value in values.items():
        for slot, weight in _part(group, value):
            total[slot] = total.get(slot, 0.0) + weight
    norm = math.sqrt(sum(w * w for w in total.values()))
    if not norm:
        return None
    vec = np.zeros(DIM, dtype=np.float32)
    vec[list(total)] = [w / norm for w in total.values()]
    return vec


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
