"""Operator overrides in a batch run: a file of them read, and the merges joined at the end.

The file is what `idres overrides` prints: one JSON object a line. Splits reach the clusterer
as marks on their records, so the resolver's own veto keeps the parts apart while records are
decided; merges are must-links, joined once every record has its customer, since the clusterer
only ever joins customers a record bridges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from idres.resolver.domain.overrides import (
    Mark,
    MustLinks,
    Override,
    kept_apart,
    marks_of,
    override_of,
)


@dataclass(frozen=True, slots=True)
class Constraints:
    """The active overrides of a run: marks per record, and the groups to join."""

    marks: Mapping[str, frozenset[Mark]]
    must: MustLinks

    @classmethod
    def of(cls, overrides: Sequence[Override]) -> Constraints:
        return cls(marks_of(overrides), MustLinks.of(overrides))

    def __bool__(self) -> bool:
        return bool(self.marks or self.must.groups)


NO_CONSTRAINTS = Constraints({}, MustLinks())


def read_overrides(path: Path) -> list[Override]:
    """Overrides from a JSON Lines file. Raises ValueError naming the line that is wrong."""
    found = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                found.append(override_of(json.loads(line)))
            except ValueError as exc:  # JSONDecodeError is one
                raise ValueError(f"{path.name} line {number}: {exc}") from None
    return found


def joined(
    record_ids: Sequence[str], customers: Sequence[str], constraints: Constraints
) -> tuple[list[str], int]:
    """Each record's customer once the merges are joined, and how many merges a split left
    undone: a merge whose customers a split keeps apart loses to it there."""
    position = {rid: n for n, rid in enumerate(record_ids)}
    parent: dict[str, str] = {}

    def root(label: str) -> str:
        while parent.get(label, label) != label:
            label = parent[label]
        return label

    marks: dict[str, set[Mark]] = {}
    for rid, found in constraints.marks.items():
        if rid in position:
            marks.setdefault(customers[position[rid]], set()).update(found)
    refused = 0
    for group in constraints.must.groups:
        labels = sorted({customers[position[r]] for r in group if r in position})
        for other in labels[1:]:
            a, b = root(labels[0]), root(other)
            if a == b:
                continue
            if kept_apart(marks.get(a, set()), marks.get(b, set())) is not None:
                refused += 1
                continue
            parent[b] = a
            marks.setdefault(a, set()).update(marks.pop(b, set()))
    return [root(c) for c in customers], refused
