"""Batch clustering over pairs scored in bulk: the resolver's decisions, fed by the engine.

`StreamClusterer` retrieves and scores every record's candidates in Python, as `Observe` does;
at a million records that is most of the job. Here Splink's prediction has already scored every
blocked pair (`idres.ingest.pairs`), so each record only looks up its scored pairs with earlier
records, groups them by the customer those records now belong to, and hands the candidates to
the one decision function (`decide_scored`): the same vetoes, sure links, thresholds, ties and
direct-evidence merges, the same identifier states and flags.

What differs from the stream is what a candidate is scored against: the pairs the blocking
rules proposed, not every record of the customer (up to 32) nor faiss's near misses; and term
frequencies are those of the whole file, as Splink's own prediction has them. A customer met
through several pairs is weighed as a whole from their per-comparison weights, as the stream
weighs it from its records (`matching.whole`). And the whole file is seen before the first
decision, so a value typed in for many people is shared from the start (`linking.crowded`).

Records only ever meet through a scored pair or a shared identifier value, so the records fall
into independent groups (connected components). The groups are shared between worker processes
and each worker walks its records in time order; customers are named by their first record, so
the result does not depend on how the groups were shared out.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from idres.ingest.clustering import ClusterCounts
from idres.ingest.heap import records_frozen
from idres.ingest.pairs import LEVEL_PREFIX, PART_PREFIX
from idres.resolver.adapters.identity_index import CANDIDATES, IdentityIndex
from idres.resolver.domain.identifiers import Identifier, IdentifierStatus
from idres.resolver.domain.linking import (
    DEFAULT_POLICY,
    Decision,
    Holdings,
    LinkPolicy,
    Plan,
    ValueState,
    crowded,
    holdings,
    newly_shared,
)
from idres.resolver.domain.matching import (
    DEFAULT_THRESHOLDS,
    Candidate,
    Thresholds,
    decide_scored,
)
from idres.resolver.domain.overrides import Mark
from idres.resolver.domain.profiles import Profile, differing, profile_of
from idres.resolver.domain.records import FIELD_OF_KIND, Record
from idres.resolver.domain.scoring import Features, Score, probability

ACTIVE = IdentifierStatus.ACTIVE
_NOBODY = Plan(Decision.NO_MATCH, None, (), (), ())
"""What `decide_scored` decides when there is no candidate, as far as clustering reads it."""


@dataclass(frozen=True, slots=True)
class PairGraph:
    """Scored pairs keyed by their later record, records numbered in time order: record `i`
    pairs with `earlier[start[i]:start[i + 1]]` at `weights[...]` of the same slice, whose
    per-comparison weights are the same rows of `parts` (NaN where a side lacked the field)."""

    start: list[int]
    earlier: list[int]
    weights: list[float]
    parts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    columns: tuple[str, ...] = ()
    """The comparison of each column of `parts`."""
    differences: Mapping[str, float] = field(default_factory=dict)
    """Identifier comparisons' weights where nothing agrees: what a pair the floor left out
    weighed on them (`GraphClusterer._unweighed`)."""
    near: frozenset[int] = frozenset()
    """Pairs only a near-miss rule proposed (`pairs.NEAR_RULES`): candidates only for a record
    whose values nobody holds, as the online retrieval asks faiss only then."""
    levels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """The level weight of the same cells, when the pairs carried them (`lw_` columns): what
    names the level in a link's explanation (`idres.ingest.bulk_graph`)."""

    @classmethod
    def build(
        cls, ids: pa.Array, pairs: pa.Table, differences: Mapping[str, float] | None = None
    ) -> PairGraph:
        """`ids`: record ids in time order; `pairs`: `unique_id_l, unique_id_r, match_weight`
        and any per-comparison `w_` columns (`idres.ingest.pairs`); `differences`: the
        model's weight for each identifier comparison's last level."""
        left = _positions(pairs.column("unique_id_l"), ids)
        right = _positions(pairs.column("unique_id_r"), ids)
        later, earlier = np.maximum(left, right), np.minimum(left, right)
        order = np.lexsort((earlier, later))
        counts = np.bincount(later, minlength=len(ids))
        start = np.concatenate(([0], np.cumsum(counts)))
        weights = pairs.column("match_weight").to_numpy()
        names = [n for n in pairs.column_names if n.startswith(PART_PREFIX)]
        parts = np.zeros((len(order), len(names)), np.float32)
        for j, name in enumerate(names):
            parts[:, j] = pairs.column(name).to_numpy()[order]
        columns = tuple(name.removeprefix(PART_PREFIX) for name in names)
        return cls(
            start.tolist(),
            earlier[order].tolist(),
            weights[order].tolist(),
            parts,
            columns,
            dict(differences or {}),
            _near(pairs, order),
            _levels(pairs, columns, order),
        )

    def __len__(self) -> int:
        return len(self.earlier)

    def back(self, record: int) -> Iterator[tuple[int, float]]:
        """The earlier records `record` was scored against, with the weights."""
        lo, hi = self.start[record], self.start[record + 1]
        return zip(self.earlier[lo:hi], self.weights[lo:hi], strict=True)

    def whole(self, rows: Sequence[int]) -> float:
        """The weight of the pairs at `rows` (one record's, with one customer) taken
        together: each comparison at its best among them."""
        if len(rows) == 1 or not self.parts.shape[1]:
            return max(self.weights[k] for k in rows)
        taken = self.parts[list(rows)]
        # A pair's weight is the prior plus its parts: the prior is what the parts leave.
        prior = self.weights[rows[0]] - float(np.nansum(taken[0]))
        # A field missing in one pair (NaN, weighing 0) loses to one compared in another.
        best = np.where(np.isnan(taken), -np.inf, taken).max(axis=0)
        return prior + float(best[np.isfinite(best)].sum())

    def compared(self, rows: Sequence[int]) -> set[str]:
        """The comparisons the pairs at `rows` made: both sides held the field."""
        if not self.parts.shape[1]:
            return set()
        made = ~np.isnan(self.parts[list(rows)]).all(axis=0)
        return {self.columns[j] for j in np.flatnonzero(made)}


def _near(pairs: pa.Table, order: np.ndarray) -> frozenset[int]:
    if "near" not in pairs.column_names:
        return frozenset()
    near = pairs.column("near").to_numpy(zero_copy_only=False)[order]
    return frozenset(np.flatnonzero(near).tolist())


def _levels(pairs: pa.Table, columns: Sequence[str], order: np.ndarray) -> np.ndarray:
    names = [LEVEL_PREFIX + c for c in columns]
    if not columns or not all(n in pairs.column_names for n in names):
        return np.zeros((0, 0), np.float32)
    levels = np.zeros((len(order), len(names)), np.float32)
    for j, name in enumerate(names):
        levels[:, j] = pairs.column(name).to_numpy(zero_copy_only=False)[order]
    return levels


def _positions(column: pa.ChunkedArray, ids: pa.Array) -> np.ndarray:
    found = pc.index_in(column, value_set=ids)
    if found.null_count:
        raise ValueError("scored pairs name records the batch does not hold")
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(slots=True)
class DecisionLog:
    """What the decisions weighed, for the report: each record's best candidate weight, and
    the links records made (record, linked record, probability)."""

    best_weights: list[float] = field(default_factory=list)
    links: list[tuple[str, str, float]] = field(default_factory=list)

    def note(self, record: Record, plan: Plan) -> None:
        best = plan.links[0] if plan.links else None
        if best is None or not math.isfinite(best.match_weight):
            return
        self.best_weights.append(best.match_weight)
        if plan.target is not None:
            self.links.append((record.record_id, best.record_id, best.probability))

    def extend(self, other: DecisionLog) -> None:
        self.best_weights.extend(other.best_weights)
        self.links.extend(other.links)


@dataclass(slots=True)
class Clustered:
    """What a walk over the graph decided: every record's customer, and how."""

    customers: list[str]
    """The customer of each record, by number (named `c<number of its first record>`)."""
    counts: ClusterCounts
    decisions: DecisionLog
    refused: int = 0
    """Operator merges a later split kept from joining (`overrides.joined`)."""


class GraphClusterer:
    """Records in time order, each decided against the customers of its scored pairs."""

    def __init__(
        self,
        records: Sequence[Record],
        graph: PairGraph,
        *,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        policy: LinkPolicy = DEFAULT_POLICY,
        limit: int = CANDIDATES,
        crowded: frozenset[Identifier] = frozenset(),
        marks: Mapping[str, frozenset[Mark]] | None = None,
        index: IdentityIndex | None = None,
        stored: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`records` in time order, numbered as `graph` numbers them; `crowded` values are
        shared from the start (`linking.crowded`); `marks` put records on the sides of
        operator splits (`overrides`), which the resolver's veto then keeps apart. `index`
        starts from what a store holds, whose records are the graph's first nodes: `stored`
        names each one and its customer, and `records` are numbered after them."""
        self.marks = marks or {}
        self.records = records
        self.graph = graph
        self.thresholds = thresholds
        self.policy = policy
        self.limit = limit
        self.index = index if index is not None else IdentityIndex()
        """Identifier states, holders and profiles, as the resolver keeps them."""
        self.stored = [record_id for record_id, _ in stored]
        """The record of each graph node before the first of `records`: decided before."""
        active, _ = self.index.states(crowded)
        self.crowded = frozenset(i for i, s in active.items() if s.status is ACTIVE)
        """The crowded values this run flagged shared (not already flagged in the store)."""
        for ident in self.crowded:
            self.index.flag(ident, IdentifierStatus.SHARED)
        self.counts = ClusterCounts()
        self.decisions = DecisionLog()
        self._owner: list[str] = [customer for _, customer in stored] + [""] * len(records)
        """The live customer of each node added: a merge rewrites its absorbed members'."""
        self._members: dict[str, list[int]] = {}
        for number, (_, customer) in enumerate(stored):
            self._members.setdefault(customer, []).append(number)
        self._best: dict[str, tuple[float, int]] = {}
        self._rows: dict[str, list[int]] = {}
        """The current record's scored pairs with each customer: rows of the graph."""
        self._mine = Profile("", 0)
        """The current record as a profile, with its usable identifiers."""

    def add(self, number: int) -> str:
        """Decides and applies the record at graph node `number`; every earlier record it
        meets must be added already. Returns the customer it joined."""
        record = self.records[number - len(self.stored)]
        query = record.query
        states, holders = self.index.states([o.identifier for o in query.identifiers])
        self._mine = _usable(record, states)
        best, self._rows = self._scored(number, near=not holders)
        self._best = best
        chosen = self._chosen(holders, best)
        plan = _NOBODY
        if chosen:  # most first sightings have no candidate: nothing to decide
            candidates = [Candidate(self.index.profile(c), ()) for c in chosen]
            plan = decide_scored(
                query,
                {},
                states,
                candidates,
                self,
                thresholds=self.thresholds,
                policy=self.policy,
                marks=self.marks.get(record.record_id, frozenset()),
            )
            self.decisions.note(record, plan)
        self.counts.count(plan, len(chosen))
        target = plan.target or self._create(number)
        if plan.absorbed:
            self._merge(target, plan.absorbed)
        held = holdings(query, states, newly_shared(query, states, plan, self.policy))
        for ident, status in held.flags:
            self.index.flag(ident, status)
        self.index.hold(target, record.attributes, held.held, self.marks.get(record.record_id, ()))
        self._owner[number] = target
        self._members.setdefault(target, []).append(number)
        self._decided(record, plan, target, held)
        return target

    def _decided(self, record: Record, plan: Plan, target: str, held: Holdings) -> None:
        """What a subclass keeps of each decision (`idres.ingest.bulk_graph`): nothing here."""

    def customers(self, numbers: Sequence[int]) -> list[str]:
        """The customer of each of these records, merges followed."""
        return [self._owner[number] for number in numbers]

    def record_id(self, number: int) -> str:
        first = len(self.stored)
        return self.records[number - first].record_id if number >= first else self.stored[number]

    # PairScorer: what decide_scored asks of the pairs.

    def best(self, features: Features, candidate: Candidate) -> tuple[str, Score] | None:
        found = self._best.get(candidate.customer_id)
        if found is None:
            return None  # a holder of a query value with no scored pair: unweighed
        weight, other = found
        weight += self._unweighed(candidate)
        return self.record_id(other), Score(weight, probability(weight), ())

    def direct(self, a: Candidate, b: Candidate) -> float:
        weight = -math.inf
        for one, other in ((a.customer_id, b.customer_id), (b.customer_id, a.customer_id)):
            for member in self._members.get(one, ()):
                for earlier, w in self.graph.back(member):
                    if w > weight and self._owner[earlier] == other:
                        weight = w
        return weight

    # Internals.

    def _unweighed(self, candidate: Candidate) -> float:
        """What the pairs the floor left out said against the customer: a kind of identifier
        it and the record both hold, with no value in common, and that no scored pair
        compared, weighs as the model's disagreement on it. The stream scores every record
        of a candidate, so `matching.whole` finds that disagreement there."""
        differ = differing(self._mine, candidate.profile)
        if not differ:
            return 0.0
        compared = self.graph.compared(self._rows[candidate.customer_id])
        columns = (FIELD_OF_KIND[kind] for kind in differ)
        return sum(self.graph.differences.get(c, 0.0) for c in columns if c not in compared)

    def _scored(
        self, number: int, *, near: bool
    ) -> tuple[dict[str, tuple[float, int]], dict[str, list[int]]]:
        """Each customer's weight as a whole, with its best-scored record, by the customer's
        current id; and the rows of the graph each customer was weighed from. `near`: whether
        the near-miss pairs count."""
        graph = self.graph
        best: dict[str, tuple[float, int]] = {}
        rows: dict[str, list[int]] = {}
        lo = graph.start[number]
        skipped = graph.near if not near else frozenset()
        for k in range(lo, graph.start[number + 1]):
            if k in skipped:
                continue
            earlier, weight = graph.earlier[k], graph.weights[k]
            customer = self._owner[earlier]
            rows.setdefault(customer, []).append(k)
            found = best.get(customer)
            if found is None or weight > found[0]:
                best[customer] = (weight, earlier)
        for customer, taken in rows.items():
            if len(taken) > 1:
                best[customer] = (graph.whole(taken), best[customer][1])
        return best, rows

    def _chosen(self, holders: set[str], best: dict[str, tuple[float, int]]) -> list[str]:
        """Every holder of a query value, then the best-scored customers, up to the limit."""
        ordered = dict.fromkeys(sorted(holders))
        ordered.update(dict.fromkeys(sorted(best, key=lambda c: -best[c][0])))
        return list(ordered)[: max(self.limit, len(holders))]

    def _create(self, number: int) -> str:
        """A customer named and aged by its first record, whichever worker founds it."""
        customer, seq = self._named(number)
        self.index.create(customer, seq)
        self._members[customer] = []
        return customer

    def _named(self, number: int) -> tuple[str, int]:
        """The id and age of the customer record `number` founds."""
        return f"c{number}", number

    def _merge(self, survivor: str, absorbed: Sequence[str]) -> None:
        self.index.merge(survivor, absorbed)
        for gone in absorbed:
            moved = self._members.pop(gone, [])
            for number in moved:
                self._owner[number] = survivor
            self._members.setdefault(survivor, []).extend(moved)


def _usable(record: Record, states: Mapping[Identifier, ValueState]) -> Profile:
    """The record as a profile with the values that still link: a shared or placeholder value
    says nothing of whose record it is."""
    mine = profile_of(record.attributes)
    active = IdentifierStatus.ACTIVE
    mine.identifiers = {
        o.identifier
        for o in record.identifiers
        if not o.placeholder and states.get(o.identifier, ValueState()).status is active
    }
    return mine


def components(records: Sequence[Record], graph: PairGraph) -> list[int]:
    """A group label per record: records meet only through a scored pair or a shared value
    (placeholders never link, so they join nothing)."""
    parent = list(range(len(records)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(a: int, b: int) -> None:
        a, b = root(a), root(b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    for number in range(len(records)):
        for earlier, _ in graph.back(number):
            join(number, earlier)
    first: dict[Identifier, int] = {}
    for number, record in enumerate(records):
        for observed in record.identifiers:
            if not observed.placeholder:
                join(number, first.setdefault(observed.identifier, number))
    return [root(x) for x in range(len(records))]


def shares(labels: Sequence[int], parts: int) -> list[list[int]]:
    """Record numbers in `parts` shares of whole groups, about equal in size, each in time
    order."""
    sizes = Counter(labels)
    load = [0] * parts
    part_of: dict[int, int] = {}
    for label in sorted(sizes, key=lambda g: (-sizes[g], g)):
        lightest = load.index(min(load))
        part_of[label] = lightest
        load[lightest] += sizes[label]
    out: list[list[int]] = [[] for _ in range(parts)]
    for number, label in enumerate(labels):
        out[part_of[label]].append(number)
    return out


PROGRESS_EVERY = 2048


def cluster_graph(
    records: Sequence[Record],
    graph: PairGraph,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    policy: LinkPolicy = DEFAULT_POLICY,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    marks: Mapping[str, frozenset[Mark]] | None = None,
) -> Clustered:
    """Every record decided in time order, its independent groups shared between `workers`
    processes (this one included); `progress` is told the records done so far; `marks` are
    the operator splits' (see `GraphClusterer`)."""
    parts = (
        shares(components(records, graph), workers) if workers > 1 else [list(range(len(records)))]
    )
    shared = crowded((r.query for r in records), policy)
    # Nothing left for a forked worker's collector to find, such as an engine's connection
    # whose native destructor would run in the child.
    gc.collect()
    with records_frozen(paused=True):
        work = _Work(records, graph, thresholds, policy, shared, marks or {})
        return _share(work, parts, progress)


def _share(
    work: _Work, parts: list[list[int]], progress: Callable[[int], None] | None
) -> Clustered:
    records = work.records
    context = multiprocessing.get_context("fork")
    children = []
    for part in parts[1:]:
        mine, theirs = context.Pipe(duplex=False)
        child = context.Process(target=work.send, args=(part, theirs))
        child.start()
        theirs.close()
        children.append((child, mine, part))
    own = work.walk(parts[0], progress)
    customers = [""] * len(records)
    _place(customers, parts[0], own)
    for child, pipe, part in children:
        try:
            result: Clustered = pipe.recv()
        except EOFError:
            raise RuntimeError(f"a clustering worker failed (exit code {child.exitcode})") from None
        child.join()
        _place(customers, part, result)
        own.counts.add(result.counts)
        own.decisions.extend(result.decisions)
    if progress is not None:
        progress(len(records))
    own.customers = customers
    return own


def _place(customers: list[str], part: Sequence[int], result: Clustered) -> None:
    for number, customer in zip(part, result.customers, strict=True):
        customers[number] = customer


@dataclass(frozen=True, slots=True)
class _Work:
    """What every worker shares: the records, their pairs, the rules, and a count of records
    done across workers for the progress bar."""

    records: Sequence[Record]
    graph: PairGraph
    thresholds: Thresholds
    policy: LinkPolicy
    crowded: frozenset[Identifier]
    marks: Mapping[str, frozenset[Mark]]
    done: Synchronized[Any] = field(
        default_factory=lambda: multiprocessing.get_context("fork").Value("q", 0)
    )

    def walk(self, part: Sequence[int], progress: Callable[[int], None] | None) -> Clustered:
        clusterer = GraphClusterer(
            self.records,
            self.graph,
            thresholds=self.thresholds,
            policy=self.policy,
            crowded=self.crowded,
            marks=self.marks,
        )
        for step, number in enumerate(part, start=1):
            clusterer.add(number)
            if step % PROGRESS_EVERY == 0:
                with self.done.get_lock():
                    self.done.value += PROGRESS_EVERY
                    so_far = self.done.value
                if progress is not None:
                    progress(so_far)
        return Clustered(clusterer.customers(part), clusterer.counts, clusterer.decisions)

    def send(self, part: Sequence[int], pipe: Connection) -> None:
        """In a worker process: walks its share and sends back what it decided."""
        pipe.send(self.walk(part, None))
        pipe.close()
