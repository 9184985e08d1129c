"""Probabilistic linking: which customer a record belongs to, by the trained match model.

The same function decides for `Observe`, `Resolve` and the batch job, so the three agree. It
takes the candidate customers the retrieval found, each with its records' model features, and
weighs them with the Fellegi-Sunter model:
- a candidate whose attributes contradict the query (another birth date, another given name) is
  vetoed whatever its weight: the model adds fields up as if independent, and a household's
  shared surname, postcode and landline would otherwise outvote a different first name. The
  guard is lifted only for a file without identifiers whose matches often differ in the whole
  given name (`household_guard`); there the weight decides;
- an exact match on a personal identifier (email, handle, card) that the deterministic rules
  accept is a sure link, kept as evidence beside the model's weight;
- a candidate is weighed as a whole customer (`whole`): each comparison at its best level
  among the customer's records, so a caller who gives a name, a postcode and a new phone is
  found through the records that hold the name and the postcode;
- the best remaining candidate at or above the match threshold wins; between the possible and
  match thresholds, or when the query shares only a household's kind of identifier (a phone, a
  device) with a customer, the answer is a possible match;
- other matching candidates are merged in only when the evidence is strong directly between them
  and the winner, so a chain of links through one record never glues people together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from idres.resolver.domain.identifiers import Identifier
from idres.resolver.domain.linking import (
    DEFAULT_POLICY,
    Decision,
    Link,
    LinkPolicy,
    Plan,
    Scan,
    ValueState,
    scan_identifiers,
)
from idres.resolver.domain.overrides import Mark
from idres.resolver.domain.profiles import Profile, contradict, differing, operator_veto
from idres.resolver.domain.records import Query
from idres.resolver.domain.scoring import (
    IDENTIFIER_COLUMNS,
    Contribution,
    Features,
    MatchModel,
    Score,
    TermFrequencies,
    probability,
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Probabilities that turn a match weight into a decision (see docs/matching.md)."""

    match: float = 0.9
    possible: float = 0.5
    merge: float = 0.9
    """Direct evidence needed between two existing customers before one record merges them."""
    tie_bits: float = 1.0
    """Rivals within this many log2 units of the best, that cannot merge with it, are a tie."""

    def __post_init__(self) -> None:
        if not 0.0 < self.possible <= self.match < 1.0 or not 0.0 < self.merge < 1.0:
            raise ValueError(
                "thresholds need 0 < possible <= match < 1 and 0 < merge < 1, got"
                f" possible={self.possible} match={self.match} merge={self.merge}"
            )


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A customer the retrieval proposes, with the model features of its records."""

    profile: Profile
    records: Sequence[tuple[str, Features]]

    @property
    def customer_id(self) -> str:
        return self.profile.customer_id


DirectEvidence = Callable[[Candidate, Candidate], float]
"""The best match weight between any record of one candidate and any record of another."""


class PairScorer(Protocol):
    """How decisions weigh a query against a candidate: scored here (`Scorer`) or read from
    pairs a batch engine scored in bulk (`idres.ingest.pair_graph`)."""

    def best(self, features: Features, candidate: Candidate) -> tuple[str, Score] | None:
        """The candidate's record that fits the query best, with its score."""
        ...

    def direct(self, a: Candidate, b: Candidate) -> float:
        """The best match weight between any record of `a` and any record of `b`."""
        ...


@dataclass(frozen=True, slots=True)
class Scorer:
    """The model with the term frequencies it reads: scores pairs as they are asked for."""

    model: MatchModel
    version: str
    tf: TermFrequencies

    def best(self, features: Features, candidate: Candidate) -> tuple[str, Score] | None:
        best: tuple[str, Score] | None = None
        scores = []
        for record_id, other in candidate.records:
            score = self.model.score(features, other, self.tf)
            scores.append(score)
            if best is None or score.match_weight > best[1].match_weight:
                best = (record_id, score)
        if best is None or len(scores) == 1:
            return best
        return best[0], whole(self.model.prior_weight, scores)

    def direct(self, a: Candidate, b: Candidate) -> float:
        weight = -float("inf")
        for _, left in a.records:
            for _, right in b.records:
                weight = max(weight, self.model.score(left, right, self.tf).match_weight)
        return weight


def whole(prior_weight: float, scores: Sequence[Score]) -> Score:
    """A query against a customer as a whole, from its scores against each of the customer's
    records: every comparison at its best level among them. A field one record lacks or got
    wrong is no evidence against the customer when another record agrees, and agreements found
    in different records add up, as they would in one record that held them all. A field
    compared beats one missing: a customer whose records hold emails, none the query's,
    disagrees on email even though one of its records has no email."""
    best: dict[str, Contribution] = {}
    for score in scores:
        for part in score.contributions:
            found = best.get(part.comparison)
            if found is None or _better(part, found):
                best[part.comparison] = part
    parts = tuple(best.values())
    total = prior_weight + sum(part.match_weight for part in parts)
    return Score(total, probability(total), parts)


def _better(part: Contribution, found: Contribution) -> bool:
    if (part.gamma < 0) != (found.gamma < 0):
        return found.gamma < 0  # Splink's null level: the field was missing on a side
    return part.match_weight > found.match_weight


GUARD_BITS = -4.0
"""A differing given name weighing more than this (a Bayes factor over 1/16) says the data's
matches often carry a whole other given name."""


def household_guard(model: MatchModel) -> bool:
    """Whether contradictions veto: always where the model compares an identifier, since
    the identifiers carry the links there and the guard is what keeps a household's members
    apart. A file of names, dates and addresses alone (a registry extract such as FEBRL's)
    keeps it too, unless the model learned that its matches often differ in the whole given
    name (FEBRL: -2.2 bits; one person in five would be split); there the weight decides.
    The learned weight alone is no guide where identifiers exist: a small sample's EM can
    put it near -2 bits while twins and households fill the file."""
    if any(column in model.levels() for column in IDENTIFIER_COLUMNS):
        return True
    weight = model.difference_weight("given_name")
    return weight is None or weight <= GUARD_BITS


def guarded(policy: LinkPolicy, model: MatchModel) -> LinkPolicy:
    """`policy` with the household guard the model calls for (`GUARD_BITS`)."""
    return dataclasses.replace(policy, household_guard=household_guard(model))


@dataclass(frozen=True, slots=True)
class Matcher:
    """The model with the thresholds and policy it decides by: what `Observe`, `Resolve` and a
    batch run share."""

    scorer: Scorer
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    policy: LinkPolicy = DEFAULT_POLICY

    def decide(
        self,
        query: Query,
        features: Features,
        states: Mapping[Identifier, ValueState],
        candidates: Sequence[Candidate],
    ) -> Plan:
        return decide_scored(
            query,
            features,
            states,
            candidates,
            self.scorer,
            thresholds=self.thresholds,
            policy=self.policy,
        )


def decide_scored(
    query: Query,
    features: Features,
    states: Mapping[Identifier, ValueState],
    candidates: Sequence[Candidate],
    scorer: PairScorer,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    policy: LinkPolicy = DEFAULT_POLICY,
    marks: frozenset[Mark] = frozenset(),
) -> Plan:
    """Decides the customer for `query` among `candidates` (which must include every holder of
    the query's identifiers in `states`). `marks` put the record itself on sides of operator
    splits: a batch run's stored records can be; a new record online never is."""
    profiles = {c.customer_id: c.profile for c in candidates}
    scan = scan_identifiers(query, states, profiles, policy)
    scan.mine.marks.update(marks)
    links = [_link(c, features, scan, scorer, policy) for c in candidates]
    # A customer holding one of the query's values stays in the answer as a possible match
    # even when the model alone gives little: a device or a landline is worth showing.
    held = scan.accepted.keys()
    viable = sorted(
        (
            lk
            for lk in links
            if not lk.veto
            and (lk.sure or lk.probability >= thresholds.possible or lk.customer_id in held)
        ),
        key=lambda lk: (
            not _qualifies(lk, thresholds),
            -lk.match_weight,
            profiles[lk.customer_id].seq,
        ),
    )
    evidence = tuple(scan.evidence)
    vetoed = tuple(lk for lk in links if lk.veto)
    if not viable:
        return Plan(Decision.NO_MATCH, None, (), evidence, (), links=vetoed)
    best = viable[0]
    if not _qualifies(best, thresholds):
        others = tuple(lk.customer_id for lk in viable)
        return Plan(Decision.POSSIBLE_MATCH, None, (), evidence, others, links=(*viable, *vetoed))
    rivals = [lk for lk in viable[1:] if _qualifies(lk, thresholds)]
    by_id = {c.customer_id: c for c in candidates}
    group = _merge_group(best, rivals, by_id, thresholds, scorer.direct, policy)
    left_out = [lk for lk in rivals if lk.customer_id not in group]
    if any(_tied(best, lk, thresholds) for lk in left_out):
        # Two people fit about equally well: guessing would attach the record to the wrong one.
        others = tuple(lk.customer_id for lk in viable)
        return Plan(Decision.POSSIBLE_MATCH, None, (), evidence, others, links=(*viable, *vetoed))
    survivor = min(group, key=lambda c: profiles[c].seq)
    absorbed = tuple(sorted(c for c in group if c != survivor))
    ordered = (best, *(lk for lk in viable[1:] if lk.customer_id in group))
    others = tuple(lk.customer_id for lk in viable if lk.customer_id not in group)
    return Plan(
        Decision.MATCH,
        survivor,
        absorbed,
        evidence,
        others,
        links=(*ordered, *(lk for lk in viable if lk.customer_id not in group), *vetoed),
    )


def _link(
    candidate: Candidate,
    features: Features,
    scan: Scan,
    scorer: PairScorer,
    policy: LinkPolicy,
) -> Link:
    found = scorer.best(features, candidate)
    record_id, score = found if found else ("", None)
    held = scan.accepted.get(candidate.customer_id, ())
    sole = scan.sole if _undisputed(scan.mine, candidate.profile, policy) else set()
    personal = [
        i
        for i in held
        if i.kind not in policy.shareable or (i.kind in policy.sole_holder and i in sole)
    ]
    return Link(
        customer_id=candidate.customer_id,
        record_id=record_id,
        match_weight=score.match_weight if score else -float("inf"),
        probability=score.probability if score else 0.0,
        contributions=score.contributions if score else (),
        sure=bool(personal),
        veto=_veto(scan.mine, candidate.profile, policy),
    )


def _veto(mine: Profile, holder: Profile, policy: LinkPolicy) -> str:
    """Why they cannot be one: always an operator's split, and the household guard's reasons
    where the model wants the guard."""
    return contradict(mine, holder) if policy.household_guard else operator_veto(mine, holder)


def _undisputed(mine: Profile, holder: Profile, policy: LinkPolicy) -> bool:
    """Whether a value one customer alone holds may link surely: not where the record brings
    its own email, card or handle and the customer holds others of that kind (a household's
    tablet, used by each member with their own login)."""
    return not any(kind not in policy.shareable for kind in differing(mine, holder))


def _qualifies(link: Link, thresholds: Thresholds) -> bool:
    return link.sure or link.probability >= thresholds.match


def _tied(best: Link, rival: Link, thresholds: Thresholds) -> bool:
    if best.sure != rival.sure:
        return False
    return best.match_weight - rival.match_weight < thresholds.tie_bits


def _merge_group(
    best: Link,
    rivals: list[Link],
    candidates: Mapping[str, Candidate],
    thresholds: Thresholds,
    direct: DirectEvidence,
    policy: LinkPolicy,
) -> list[str]:
    """Grows the merge set from the best candidate: a rival joins only when it contradicts no
    member and either the evidence straight between it and a member is strong, or the query
    links to both strongly and to one of them through a personal identifier."""
    group = [best.customer_id]
    combined = Profile("", 0)
    combined.absorb(candidates[best.customer_id].profile)
    sure = {best.customer_id} if best.sure else set()
    firm = best.sure or best.probability >= thresholds.merge
    for rival in rivals:
        candidate = candidates[rival.customer_id]
        if _veto(combined, candidate.profile, policy):
            continue
        # The query bridges them: its own personal identifier on one side, and on the other
        # a second one or a model weight strong enough to merge on.
        strong = (rival.sure and (bool(sure) or firm)) or (
            bool(sure) and rival.probability >= thresholds.merge
        )
        if not strong:
            weight = max(direct(candidates[member], candidate) for member in group)
            strong = probability(weight) >= thresholds.merge
        if strong:
            group.append(rival.customer_id)
            combined.absorb(candidate.profile)
            if rival.sure:
                sure.add(rival.customer_id)
    return group
