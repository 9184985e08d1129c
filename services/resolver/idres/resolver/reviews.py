"""The review queue: `ListReviews`, `DecideReview` and `idres review`.

A record that fits a customer only between the possible and the match threshold, or fits two
about equally, starts a customer of its own, and `Observe` queues it here in the same
transaction. A person then decides; the decision is an operator override (a merge, or a split
that keeps the two apart), kept with who and why, in the same transaction as the review's
answer.
"""

from __future__ import annotations

from dataclasses import replace

from idres.resolver.adapters.review_store import (
    Review,
    lock_review,
    read_reviews,
    record_decision,
)
from idres.resolver.adapters.store import Transaction
from idres.resolver.domain.errors import (
    FieldViolation,
    NotFoundError,
    PreconditionError,
    ValidationError,
)
from idres.resolver.overrides import Overrides
from idres.resolver.resolution import Resolver

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SAME, DIFFERENT = "same", "different"


class Reviews:
    def __init__(self, resolver: Resolver) -> None:
        self.store = resolver.store
        self.overrides = Overrides(resolver)

    def page(
        self, size: int = 0, token: str = "", *, decided: bool = False
    ) -> tuple[list[Review], str]:
        """A page of reviews, oldest first, and the token of the next ("" on the last)."""
        if size < 0 or size > MAX_PAGE_SIZE:
            raise ValidationError(
                [FieldViolation("page_size", f"0 (for {PAGE_SIZE}) to {MAX_PAGE_SIZE}")]
            )
        if token and not token.isdigit():
            raise ValidationError([FieldViolation("page_token", "not a token from a page")])
        wanted = size or PAGE_SIZE
        found = read_reviews(self.store, int(token or 0), wanted + 1, decided=decided)
        more = len(found) > wanted
        return found[:wanted], str(found[wanted - 1].id) if more else ""

    def decide(
        self, review_id: int, decision: str, *, candidate: str = "", reason: str, actor: str = ""
    ) -> tuple[Review, str]:
        """Settles a review; returns it and the record's customer afterwards."""
        if decision not in (SAME, DIFFERENT):
            raise ValidationError([FieldViolation("decision", "SAME or DIFFERENT")])
        review = self._pending(review_id)
        chosen = candidate or (review.candidates[0].customer_id if review.candidates else "")
        if chosen not in {c.customer_id for c in review.candidates}:
            raise ValidationError(
                [FieldViolation("candidate_customer_id", "not a candidate of this review")]
            )

        def settle(tx: Transaction, override: int) -> None:
            if lock_review(tx, review_id) != review:
                raise PreconditionError(f"review {review_id} changed meanwhile; list it again")
            record_decision(tx, review_id, decision, override)

        ids = [review.customer_id, chosen]
        if decision == SAME:
            merged = self.overrides.merge(ids, reason=reason, actor=actor, also=settle)
            if merged.override_id is None:
                raise PreconditionError("the record's customer and the candidate are one already")
            return replace(
                review, decision=SAME, override_id=merged.override_id
            ), merged.customer_id
        override = self.overrides.apart(*ids, reason=reason, actor=actor, also=settle)
        return replace(review, decision=DIFFERENT, override_id=override), review.customer_id

    def _pending(self, review_id: int) -> Review:
        with self.store.transaction() as tx:
            review = lock_review(tx, review_id)
        if review is None:
            raise NotFoundError(f"no review {review_id}")
        if review.decision is not None:
            raise PreconditionError(f"review {review_id} was decided already ({review.decision})")
        return review
