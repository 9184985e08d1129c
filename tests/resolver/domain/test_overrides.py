"""The pure rules of operator overrides: which part keeps the id, who is kept apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idres.resolver.domain.overrides import (
    Override,
    OverrideKind,
    kept_apart,
    marks_of,
    override_json,
    override_of,
    split_parts,
)


def test_opposite_sides_of_one_split_are_kept_apart() -> None:
    assert kept_apart({(4, 0)}, {(4, 1), (2, 0)}) == 4
    assert kept_apart({(4, 0)}, {(4, 0)}) is None  # the same side
    assert kept_apart({(4, 0)}, {(5, 1)}) is None  # another split
    assert kept_apart(set(), {(4, 1)}) is None


@pytest.mark.parametrize(
    ("named", "founding", "expected"),
    [
        (["c"], "a", (("a", "b"), ("c",), True)),  # the smaller part moves
        (["a", "b"], "a", (("a", "b"), ("c",), False)),  # the named part is larger: it stays
        (["b"], "a", (("a",), ("b",), True)),  # a tie: the founding record's part stays
        (["a"], "a", (("a",), ("b",), False)),
    ],
)
def test_the_larger_part_keeps_the_id(
    named: list[str], founding: str, expected: tuple[tuple[str, ...], tuple[str, ...], bool]
) -> None:
    members = ["a", "b", "c"] if len(expected[0]) + len(expected[1]) == 3 else ["a", "b"]
    assert split_parts(members, named, founding) == expected


def test_an_override_survives_its_json_and_lifted_splits_mark_nobody() -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    split = Override(3, OverrideKind.SPLIT, "ops", "twins", at, (("a",), ("b", "c")), ("x", "y"))
    assert override_of(override_json(split)) == split
    assert marks_of([split]) == {"a": {(3, 0)}, "b": {(3, 1)}, "c": {(3, 1)}}
    lifted = override_of({**override_json(split), "lifted_by": 9})
    assert marks_of([lifted]) == {}
    with pytest.raises(ValueError, match="a merge has 1 sides"):
        override_of({"id": 1, "kind": "merge", "sides": [["a"], ["b"]]})
