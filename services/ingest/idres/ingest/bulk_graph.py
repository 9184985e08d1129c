"""The bulk load's clustering: pairs scored in bulk, decided against what the store holds.

`idres ingest --bulk` once took every record through `StreamClusterer`, retrieving and
scoring its candidates in Python as `Observe` does: at a million records that was nine of its
thirteen minutes. Here Splink's prediction scores the blocked pairs in bulk, as `idres dedup`
does (`idres.ingest.pairs`), over the file's new records and the records the store already
holds; the Python loop only decides (`GraphClusterer`: the resolver's own `decide_scored`),
and keeps what `Observe` would have written: the change events, each link with its
explanation, the possible matches for review.

The store's records are the graph's first nodes, each owned by its live customer, and the
decisions start from the store's identifier states, holders, profiles and operator splits, so
a new record meets a stored customer as it meets one the file made, stored ids survive a
merge (the oldest customer wins) and a split keeps its sides apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from idres.ingest.clustering import ClusterCounts, Kept
from idres.ingest.frame import FRAME_COLUMNS
from idres.ingest.heap import records_frozen
from idres.ingest.pair_graph import GraphClusterer, PairGraph
from idres.ingest.pairs import NEAR_RULES, score_pairs
from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.adapters.store import Snapshot
from idres.resolver.domain.events import ChangeEvent, EventType, flagged_payload, linked_payload
from idres.resolver.domain.identifiers import IdentifierStatus
from idres.resolver.domain.linking import (
    DEFAULT_POLICY,
    Decision,
    Holdings,
    Link,
    LinkPolicy,
    Plan,
    crowded,
)
from idres.resolver.domain.matching import DEFAULT_THRESHOLDS, Thresholds, guarded
from idres.resolver.domain.records import Record
from idres.resolver.domain.scoring import (
    Contribution,
    MatchModel,
    features,
    identifier_differences,
    match_weight,
)

PROGRESS_EVERY = 1024
_NO_PAIRS = pa.table(
    {name: pa.array([], pa.string()) for name in ("unique_id_l", "unique_id_r")}
    | {"match_weight": pa.array([], pa.float64())}
)


@dataclass(slots=True)
class Decided:
    """What the decisions came to: everything a bulk load writes."""

    owners: dict[str, str]
    """record id -> live customer, for every record decided."""
    kept: Kept
    index: IdentityIndex
    """Identifier states and holders after the load, merges followed."""
    counts: ClusterCounts
    pairs: int
    """Candidate pairs scored at or above the possible-match weight."""


class KeepingClusterer(GraphClusterer):
    """`GraphClusterer` that keeps each decision as `Observe` would write it."""

    def __init__(
        self,
        records: Sequence[Record],
        graph: PairGraph,
        model: MatchModel,
        *,
        first_seq: int,
        new_id: Callable[[], str],
        **options: Any,
    ) -> None:
        super().__init__(records, graph, **options)
        self.kept = Kept()
        self._first_seq = first_seq
        self._new_id = new_id
        self._event = 0
        self._unannounced = set(self.crowded)
        """Values flagged shared from the start whose `flagged` event is still to come."""
        self._levels = {
            name: {c.gamma: c for c in levels} for name, levels in model.levels().items()
        }
        self._gammas = level_gammas(graph, model)

    def _named(self, number: int) -> tuple[str, int]:
        # Numbered after the store's customers, in time order as `Observe` would number them.
        return self._new_id(), self._first_seq + number - len(self.stored)

    def _decided(self, record: Record, plan: Plan, target: str, held: Holdings) -> None:
        shared = IdentifierStatus.SHARED
        flags = [(i, shared) for i in self._announced(record)] + list(held.flags)
        events: list[ChangeEvent] = []
        if plan.target is None:
            events.append(self._make(EventType.CREATED, target, {"seq": self._seq(target)}))
        if plan.absorbed:
            events.append(self._make(EventType.MERGED, target, {"absorbed": list(plan.absorbed)}))
        for ident, status in flags:
            events.append(self._make(EventType.FLAGGED, target, flagged_payload(ident, status)))
        row = features(record)
        events.append(self._make(EventType.LINKED, target, linked_payload(record, held.held, row)))
        self.kept.keep(record, self._explained(plan), target, events)

    def _announced(self, record: Record) -> list[Any]:
        """The crowded values this record is the first to carry: announced with it."""
        if not self._unannounced:
            return []
        found = [o.identifier for o in record.identifiers if o.identifier in self._unannounced]
        self._unannounced.difference_update(found)
        return list(dict.fromkeys(found))

    def _seq(self, customer: str) -> int:
        return self.index.profile(customer).seq

    def _make(self, type_: EventType, customer: str, payload: dict[str, Any]) -> ChangeEvent:
        self._event += 1
        return ChangeEvent(self._event, type_, customer, payload)

    def _explained(self, plan: Plan) -> Plan:
        """The plan with the comparisons of each link the load keeps (the ones joined, or
        every candidate of a possible match): the explanation `Explain` shows."""
        if plan.decision is Decision.NO_MATCH or not self._gammas.size:
            return plan
        joined = {plan.target, *plan.absorbed} if plan.target else None
        links = tuple(
            self._with_parts(lk)
            if not lk.veto and (joined is None or lk.customer_id in joined)
            else lk
            for lk in plan.links
        )
        return dataclasses.replace(plan, links=links)

    def _with_parts(self, link: Link) -> Link:
        rows = self._rows.get(link.customer_id)
        if not rows:
            return link
        return dataclasses.replace(link, contributions=self._contributions(rows))

    def _contributions(self, rows: list[int]) -> tuple[Contribution, ...]:
        """Each comparison at its best level among the pairs at `rows`: a compared field
        before a missing one, then the heavier weight, as `matching.whole` takes them."""
        gammas, parts = self._gammas[rows], self.graph.parts[rows]
        best = np.argmax(np.where((gammas >= 0) & ~np.isnan(parts), parts, -np.inf), axis=0)
        out = []
        for j, name in enumerate(self.graph.columns):
            k = int(best[j])
            gamma = int(gammas[k, j])
            level = self._levels[name].get(gamma)
            if level is None:
                continue
            weight = float(parts[k, j])
            adjustment = 0.0 if np.isnan(weight) else weight - level.log2_bayes_factor
            adjustment = round(adjustment, 4) if abs(adjustment) >= 1e-4 else 0.0
            out.append(dataclasses.replace(level, tf_adjustment=adjustment))
        return tuple(out)


def level_gammas(graph: PairGraph, model: MatchModel) -> np.ndarray:
    """Each pair's level per comparison (Splink's gamma, -1 where a side lacked the field),
    told by its level weight: within a comparison each level has its own."""
    gammas = np.full(graph.levels.shape, -1, np.int8)
    levels = model.levels()
    for j, name in enumerate(graph.columns):
        counted = [c for c in levels[name] if c.gamma >= 0]
        weights = np.array([c.log2_bayes_factor for c in counted], np.float32)
        found = graph.levels[:, j]
        nearest = np.abs(found[:, None] - weights[None, :]).argmin(axis=1)
        gamma = np.array([c.gamma for c in counted], np.int8)[nearest]
        # A side without the field: no weight at all (term-frequency comparisons, see
        # `pairs.part_expressions`), or the null level's even odds where no level has them.
        missing = np.isnan(graph.parts[:, j])
        if not np.any(np.abs(weights) < 1e-6):
            missing |= found == 0.0
        gammas[:, j] = np.where(missing, -1, gamma)
    return gammas


def stored_frame(snapshot: Snapshot) -> tuple[pa.Table, list[tuple[str, str]], IdentityIndex]:
    """The store's records as model-frame rows, each with its live customer, and the
    decisions' starting index (the records themselves are graph nodes, not index entries)."""
    index = IdentityIndex.from_snapshot(dataclasses.replace(snapshot, records=[]))
    stored = [(rid, index.canonical(cid) or cid) for rid, cid, _ in snapshot.records]
    columns: dict[str, list[str | None]] = {"unique_id": [rid for rid, _ in stored]}
    for name in FRAME_COLUMNS[1:]:
        columns[name] = [f.get(name) for _, _, f in snapshot.records]
    frame = pa.table({n: pa.array(v, pa.string()) for n, v in columns.items()})
    return frame, stored, index


def decide_load(
    records: Sequence[Record],
    frame: pa.Table,
    model: Mapping[str, Any],
    snapshot: Snapshot,
    facts: Mapping[str, Any],
    *,
    new_id: Callable[[], str],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    policy: LinkPolicy = DEFAULT_POLICY,
    progress: bool = False,
) -> Decided:
    """Decides `records` (whose model frame is `frame`) in time order against `snapshot`,
    term frequencies seeded from the model's training `facts`."""
    ordered = sorted(records, key=lambda r: (r.ts, r.record_id))
    match_model = MatchModel.from_splink(model)
    with tqdm(total=3, unit=" stage", desc="score", leave=False, disable=not progress) as bar:
        known, stored, index = stored_frame(snapshot)
        bar.update()
        both = pa.concat_tables([known, frame.select(list(FRAME_COLUMNS))])
        floor = match_weight(thresholds.possible)
        if ordered and both.num_rows > 1:
            pairs = score_pairs(both, model, floor=floor, levels=True, near=NEAR_RULES, facts=facts)
        else:  # nothing new, or one record alone: no pair to score
            pairs = _NO_PAIRS
        bar.update()
        ids = pa.array([rid for rid, _ in stored] + [r.record_id for r in ordered], pa.string())
        graph = PairGraph.build(ids, pairs, identifier_differences(match_model))
        del pairs, both
        bar.update()
    clusterer = KeepingClusterer(
        ordered,
        graph,
        match_model,
        first_seq=max((seq for _, seq in snapshot.customers), default=0) + 1,
        new_id=new_id,
        thresholds=thresholds,
        policy=guarded(policy, match_model),
        crowded=crowded((r.query for r in ordered), policy),
        index=index,
        stored=stored,
    )
    first = len(stored)
    # The loop makes no reference cycles: a collection would only walk the growing events.
    with (
        records_frozen(paused=True),
        tqdm(
            total=len(ordered), unit=" rec", desc="cluster", leave=False, disable=not progress
        ) as bar,
    ):
        for number in range(first, first + len(ordered)):
            clusterer.add(number)
            if (number - first) % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                bar.update(PROGRESS_EVERY)
        bar.update(len(ordered) - bar.n)
    numbers = range(first, first + len(ordered))
    owners = dict(zip((r.record_id for r in ordered), clusterer.customers(numbers), strict=True))
    return Decided(owners, clusterer.kept, clusterer.index, clusterer.counts, len(graph))
