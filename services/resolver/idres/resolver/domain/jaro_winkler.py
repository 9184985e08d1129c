"""Jaro-Winkler similarity exactly as DuckDB computes it, fast where it cannot matter.

Splink's SQL decides name levels with DuckDB's `jaro_winkler_similarity`, which (since DuckDB
2.0) works on characters, scores an empty side 0.0, and rounds the Winkler step once. rapidfuzz
differs in the last two, so it is replaced by the exact copy near a threshold.
"""

from __future__ import annotations

from fractions import Fraction

from rapidfuzz.distance import JaroWinkler

_PREFIX_WEIGHT = 0.1
_BOOST_THRESHOLD = 0.7
# rapidfuzz and DuckDB agree to within an ulp or two; only a value this close to a threshold
# needs the exact (slow) computation to land on the same side of it.
_NEAR = 1e-9


def jaro_winkler(left: str, right: str) -> float:
    """DuckDB's `jaro_winkler_similarity`, bit for bit.

    DuckDB works on characters (code points), scores an empty side 0.0, and its build fuses
    the Winkler step `sim + prefix * 0.1 * (1 - sim)` into one multiply-add (a single
    rounding), which rapidfuzz does not; this is a slow reference, used near a threshold.
    """
    a, b = left, right
    if not a or not b:
        return 0.0
    sim = float(a[0] == b[0]) if len(a) == 1 and len(b) == 1 else _jaro(a, b)
    if sim > _BOOST_THRESHOLD:
        prefix = 0
        for x, y in zip(a[:4], b[:4], strict=False):
            if x != y:
                break
            prefix += 1
        scale = prefix * _PREFIX_WEIGHT
        sim = float(Fraction(scale) * Fraction(1.0 - sim) + Fraction(sim))
    return sim


def _jaro(a: str, b: str) -> float:
    """Greedy matching within the window, each character of `b` taking the first free match."""
    bound = max(len(a), len(b)) // 2 - 1
    taken = [False] * len(a)
    matched_b: list[str] = []
    for j, ch in enumerate(b):
        for i in range(max(j - bound, 0), min(j + bound + 1, len(a))):
            if not taken[i] and a[i] == ch:
                taken[i] = True
                matched_b.append(ch)
                break
    common = len(matched_b)
    if not common:
        return 0.0
    matched_a = [ch for ch, hit in zip(a, taken, strict=True) if hit]
    half_transpositions = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) // 2
    # The same operations in the same order as DuckDB, so the rounding is the same.
    sim = common / len(a)
    sim += common / len(b)
    sim += (common - half_transpositions) / common
    return sim / 3.0


def jaro_winkler_at_least(left: str, right: str, threshold: float) -> bool:
    """`jaro_winkler(left, right) >= threshold`, fast unless the score is at the threshold."""
    if not left or not right:
        return threshold <= 0.0
    sim = JaroWinkler.similarity(left, right)
    if abs(sim - threshold) <= _NEAR:
        sim = jaro_winkler(left, right)
    return sim >= threshold
