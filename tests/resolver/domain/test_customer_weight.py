"""A query weighed against a customer as a whole, from its scores against each record."""

from __future__ import annotations

import pytest

from idres.resolver.domain.matching import whole
from idres.resolver.domain.scoring import Contribution, Score, probability

PRIOR = -10.0


def _score(**parts: tuple[int, float]) -> Score:
    """Comparison name -> (gamma, weight); -1 is Splink's null level."""
    contributions = tuple(
        Contribution(name, f"level {gamma}", gamma, weight, 0.0)
        for name, (gamma, weight) in parts.items()
    )
    total = PRIOR + sum(c.match_weight for c in contributions)
    return Score(total, probability(total), contributions)


def test_agreements_in_different_records_add_up() -> None:
    name_only = _score(surname=(3, 8.0), email=(-1, 0.0))
    email_only = _score(surname=(-1, 0.0), email=(2, 13.0))
    together = whole(PRIOR, [name_only, email_only])
    assert together.match_weight == pytest.approx(PRIOR + 8.0 + 13.0)


def test_a_field_compared_in_one_record_beats_it_missing_in_another() -> None:
    # The customer's emails all differ from the query's; one record of theirs has none.
    other_email = _score(surname=(3, 8.0), email=(0, -1.6))
    no_email = _score(surname=(3, 8.0), email=(-1, 0.0))
    together = whole(PRIOR, [no_email, other_email])
    email = next(c for c in together.contributions if c.comparison == "email")
    assert email.gamma == 0 and together.match_weight == pytest.approx(PRIOR + 8.0 - 1.6)
    # Among fields compared, the best level still wins.
    same_email = _score(surname=(1, 2.0), email=(2, 13.0))
    best = whole(PRIOR, [other_email, same_email, no_email])
    assert best.match_weight == pytest.approx(PRIOR + 8.0 + 13.0)
