"""`idres review`: the possible matches waiting for a person, and deciding one."""

from __future__ import annotations

import argparse
from functools import partial

from idres.cli import operator, render
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

TOP_COMPARISONS = 4


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "review",
        help="list the possible matches waiting for a person, or decide one",
        description="Without ID: list the waiting reviews with their evidence. With ID and"
        " --same or --different: decide it (a merge, or keeping the two apart for good);"
        " prints the record's customer.",
    )
    parser.add_argument("review", nargs="?", type=int, metavar="ID")
    verdict = parser.add_mutually_exclusive_group()
    verdict.add_argument("--same", action="store_true", help="one person: merge them")
    verdict.add_argument("--different", action="store_true", help="two people: keep apart")
    parser.add_argument("--candidate", default="", help="the candidate meant (default: the best)")
    parser.add_argument("--all", action="store_true", help="list decided reviews too")
    parser.add_argument("--reason", default="", help="why (required to decide)")
    parser.add_argument("--by", default="", help="who decides (default: the login name)")
    parser.add_argument("--target", help="server address (default IDRES_HOST:IDRES_PORT)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.review is None:
        return _list(args)
    if not (args.same or args.different):
        return operator.fail_usage("say --same or --different to decide a review")
    decision = pb.REVIEW_DECISION_SAME if args.same else pb.REVIEW_DECISION_DIFFERENT
    request = pb.DecideReviewRequest(
        review_id=args.review,
        decision=decision,
        candidate_customer_id=args.candidate,
        reason=args.reason,
        actor=operator.actor(args),
    )
    reply = operator.call(args, lambda stub: stub.DecideReview(request, timeout=args.timeout))
    if isinstance(reply, int):
        return reply
    print(reply.customer_id)
    return 0


def _list(args: argparse.Namespace) -> int:
    rows: list[tuple[str, ...]] = []
    token = ""
    while True:
        request = pb.ListReviewsRequest(page_token=token, include_decided=args.all)
        reply = operator.call(args, partial(_page, request=request, timeout=args.timeout))
        if isinstance(reply, int):
            return reply
        rows += [_row(r) for r in reply.reviews]
        token = reply.next_page_token
        if not token:
            break
    if not rows:
        print("no reviews waiting" if not args.all else "no reviews")
        return 0
    header = ("review", "record", "customer", "candidate", "p", "evidence", "decision")
    print(render.table(header, rows))
    return 0


def _page(
    stub: rpc.IdentityServiceStub, *, request: pb.ListReviewsRequest, timeout: float
) -> pb.ListReviewsResponse:
    reply: pb.ListReviewsResponse = stub.ListReviews(request, timeout=timeout)
    return reply


def _row(review: pb.Review) -> tuple[str, ...]:
    best = review.candidates[0] if review.candidates else None
    evidence = ""
    if best is not None:
        strongest = sorted(best.comparisons, key=lambda c: -abs(c.match_weight))
        evidence = ", ".join(
            f"{c.comparison} {c.match_weight:+.1f}" for c in strongest[:TOP_COMPARISONS]
        )
    decision = pb.ReviewDecision.Name(review.decision).removeprefix("REVIEW_DECISION_").lower()
    return (
        str(review.review_id),
        review.record_id,
        review.customer_id,
        best.customer_id if best else "-",
        f"{best.probability:.2f}" if best else "-",
        evidence or "-",
        "waiting" if decision == "unspecified" else decision,
    )
