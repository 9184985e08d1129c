"""Comparison levels as Splink writes them in SQL, turned into predicates on two records.

Only the forms the native scorer can mirror exactly are accepted; anything else raises
`UnsupportedModel` rather than scoring differently from Splink.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from idres.resolver.domain.jaro_winkler import jaro_winkler_at_least

Features = Mapping[str, str | None]

Test = Callable[[Features, Features], bool]
_COLUMN = r'"?([a-z_][a-z0-9_]*)_([lr])"?'
_OPERAND = re.compile(
    rf"^(?:substr(?:ing)?\(\s*{_COLUMN}\s*,\s*(\d+)\s*,\s*(\d+)\s*\)|{_COLUMN})$", re.I
)
_JARO_WINKLER = re.compile(
    rf"^jaro_winkler_similarity\(\s*{_COLUMN}\s*,\s*{_COLUMN}\s*\)\s*>=\s*([0-9.eE+-]+)$", re.I
)
_LEVENSHTEIN = re.compile(
    rf"^levenshtein\(\s*{_COLUMN}\s*,\s*{_COLUMN}\s*\)\s*<=\s*([0-9]+)$", re.I
)
_IS_NULL = re.compile(rf"^{_COLUMN}\s+is\s+null$", re.I)
_AND = re.compile(r"\s+and\s+", re.I)
_OR = re.compile(r"\s+or\s+", re.I)


class UnsupportedModel(ValueError):  # noqa: N818 (named for what it is)
    """The model uses a comparison the native scorer cannot evaluate exactly."""


@dataclass(frozen=True, slots=True)
class _Operand:
    column: str
    side: str
    start: int  # a 1-based SQL substr, or 0 for the whole value
    length: int

    def read(self, row: Features) -> str | None:
        value = row.get(self.column)
        if value is None or not self.start:
            return value
        return value[self.start - 1 : self.start - 1 + self.length]


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def _operand(text: str, condition: str) -> _Operand:
    found = _OPERAND.match(_strip_parens(text))
    if found is None:
        raise UnsupportedModel(f"unsupported operand {text!r} in {condition!r}")
    if found.group(1):
        start, length = int(found.group(3)), int(found.group(4))
        if start < 1:
            raise UnsupportedModel(f"substr from {start} in {condition!r}")
        return _Operand(found.group(1).lower(), found.group(2).lower(), start, length)
    return _Operand(found.group(5).lower(), found.group(6).lower(), 0, 0)


def _sides(a: _Operand, b: _Operand, condition: str) -> tuple[_Operand, _Operand]:
    if {a.side, b.side} != {"l", "r"}:
        raise UnsupportedModel(f"a term must compare left with right in {condition!r}")
    return (a, b) if a.side == "l" else (b, a)


def _equality(term: str, condition: str) -> Test:
    parts = term.split("=")
    if len(parts) != 2 or parts[0].rstrip().endswith(("<", ">", "!")):
        raise UnsupportedModel(f"unsupported term {term!r} in {condition!r}")
    left, right = _sides(_operand(parts[0], condition), _operand(parts[1], condition), condition)
    if not left.start and not right.start:
        lc, rc = left.column, right.column

        def same(l_row: Features, r_row: Features) -> bool:
            value = l_row.get(lc)
            return value is not None and value == r_row.get(rc)

        return same

    def same_part(l_row: Features, r_row: Features) -> bool:
        value = left.read(l_row)
        return value is not None and value == right.read(r_row)

    return same_part


def _compared(
    found: re.Match[str], condition: str, close: Callable[[str, str, float], bool]
) -> Test:
    """A function of the two sides' values against the bound that ends the match."""
    a = _Operand(found.group(1).lower(), found.group(2).lower(), 0, 0)
    b = _Operand(found.group(3).lower(), found.group(4).lower(), 0, 0)
    left, right = _sides(a, b, condition)
    lc, rc, bound = left.column, right.column, float(found.group(5))

    def compared(l_row: Features, r_row: Features) -> bool:
        x, y = l_row.get(lc), r_row.get(rc)
        return x is not None and y is not None and close(x, y, bound)

    return compared


def _within_edits(x: str, y: str, edits: float) -> bool:
    return Levenshtein.distance(x, y) <= edits


def _term(term: str, condition: str) -> Test:
    term = _strip_parens(term)
    if found := _JARO_WINKLER.match(term):
        return _compared(found, condition, jaro_winkler_at_least)
    if found := _LEVENSHTEIN.match(term):
        return _compared(found, condition, _within_edits)
    return _equality(term, condition)


def conjunction(condition: str) -> Test:
    """SQL `a AND b ...`: true only when every term is true (NULL counts as not true)."""
    tests = tuple(_term(t, condition) for t in _AND.split(_strip_parens(condition)))
    if len(tests) == 1:
        return tests[0]

    def every(l_row: Features, r_row: Features) -> bool:
        return all(test(l_row, r_row) for test in tests)

    return every


def any_null(condition: str) -> Test:
    """SQL `a_l IS NULL OR b_r IS NULL ...`."""
    checks: list[tuple[bool, str]] = []
    for term in _OR.split(_strip_parens(condition)):
        found = _IS_NULL.match(_strip_parens(term))
        if found is None:
            raise UnsupportedModel(f"unsupported null level {condition!r}")
        checks.append((found.group(2).lower() == "l", found.group(1).lower()))
    if len(checks) == 2 and {checks[0], checks[1]} == {(True, checks[0][1]), (False, checks[0][1])}:
        # The usual `col_l IS NULL OR col_r IS NULL`: every score tests it once per comparison.
        column = checks[0][1]

        def either_null(l_row: Features, r_row: Features) -> bool:
            return l_row.get(column) is None or r_row.get(column) is None

        return either_null

    def any_null(l_row: Features, r_row: Features) -> bool:
        return any((l_row if on_left else r_row).get(c) is None for on_left, c in checks)

    return any_null


def exact_column(condition: str) -> str | None:
    """The column of a level that is exactly `col_l = col_r`, as Splink detects it."""
    bare = _strip_parens(condition)
    if condition.strip().upper() == "ELSE" or _JARO_WINKLER.match(bare) or _LEVENSHTEIN.match(bare):
        return None
    terms = _AND.split(bare)
    if len(terms) != 1:
        return None
    parts = _strip_parens(terms[0]).split("=")
    if len(parts) != 2:
        return None
    found = [_OPERAND.match(_strip_parens(p)) for p in parts]
    if not all(f and f.group(5) for f in found):
        return None
    columns = {f.group(5).lower() for f in found if f}
    sides = {f.group(6).lower() for f in found if f}
    return columns.pop() if len(columns) == 1 and sides == {"l", "r"} else None
