"""The chain of links that joined two records: a shortest path through the links the resolver
recorded, each link read as an undirected edge but reported as it was stored."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from idres.resolver.domain.scoring import Contribution


@dataclass(frozen=True, slots=True)
class RecordLink:
    """One link the resolver made: `record_id`, when observed, joined the customer holding
    `to_record_id`, on the model's evidence about that pair."""

    record_id: str
    to_record_id: str
    merged: bool
    """The link merged `to_record_id`'s customer into the record's customer."""
    match_weight: float
    probability: float
    sure: bool
    contributions: tuple[Contribution, ...]
    model_version: str
    linked_at: datetime


def shortest_chain(links: Iterable[RecordLink], start: str, goal: str) -> tuple[RecordLink, ...]:
    """The fewest links leading from record `start` to record `goal` (breadth-first), in walking
    order; empty when `start` is `goal` or no path exists. Ties go to the first link given, so
    the caller's order makes the answer stable."""
    if start == goal:
        return ()
    edges = _adjacency(links)
    came_by: dict[str, RecordLink | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for link, nxt in edges.get(node, ()):
            if nxt in came_by:
                continue
            came_by[nxt] = link
            if nxt == goal:
                return _walk_back(came_by, start, goal)
            queue.append(nxt)
    return ()


def _adjacency(links: Iterable[RecordLink]) -> dict[str, list[tuple[RecordLink, str]]]:
    edges: dict[str, list[tuple[RecordLink, str]]] = {}
    for link in links:
        edges.setdefault(link.record_id, []).append((link, link.to_record_id))
        edges.setdefault(link.to_record_id, []).append((link, link.record_id))
    return edges


def _walk_back(
    came_by: dict[str, RecordLink | None], start: str, goal: str
) -> tuple[RecordLink, ...]:
    steps: list[RecordLink] = []
    node = goal
    while node != start:
        link = came_by[node]
        assert link is not None
        steps.append(link)
        node = link.record_id if link.to_record_id == node else link.to_record_id
    return tuple(reversed(steps))


def weakest(chain: Sequence[RecordLink]) -> RecordLink | None:
    """The link the chain's strength rests on: the least probable one."""
    return min(chain, key=lambda link: link.probability, default=None)
