"""Many records observed in one call (`ObserveBatch`): each one's outcome or error, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from idres.resolver.domain.errors import IdresError
from idres.resolver.domain.records import Record, parse_record
from idres.resolver.resolution import Observation, Resolver

Outcome = Observation | IdresError


def observe_batch(resolver: Resolver, batch: Sequence[Mapping[str, str]]) -> list[Outcome]:
    """Observes the records in order, each seeing the ones before it; a record that is refused
    (it does not parse, its id was stored with other content, it was erased) is its error, and
    the others are stored all the same."""
    parsed: list[Record | IdresError] = []
    for values in batch:
        try:
            parsed.append(parse_record(values, resolver.rules))
        except IdresError as exc:
            parsed.append(exc)
    observed = iter(_observe(resolver, [p for p in parsed if isinstance(p, Record)]))
    return [p if isinstance(p, IdresError) else next(observed) for p in parsed]


def _observe(resolver: Resolver, records: Sequence[Record]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for record in records:
        try:
            outcomes.append(resolver.observe(record))
        except IdresError as exc:
            outcomes.append(exc)
    return outcomes
