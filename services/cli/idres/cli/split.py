"""`idres split CUSTOMER --records ID[,ID...] --reason TEXT`: an operator separates records."""

from __future__ import annotations

import argparse
import sys

from idres.cli import operator
from idres.v1 import identity_pb2 as pb


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "split",
        help="separate records from a customer; prints the id they now belong to",
        description="Call SplitCustomer on a running server. The larger part keeps the"
        " customer's id (on a tie, the part with the founding record); the parts stay apart.",
    )
    parser.add_argument("customer", metavar="CUSTOMER")
    parser.add_argument(
        "--records", required=True, metavar="ID[,ID...]", help="the records to separate"
    )
    operator.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    records = [r for r in args.records.split(",") if r.strip()]
    request = pb.SplitCustomerRequest(
        customer_id=args.customer,
        record_ids=records,
        reason=args.reason,
        actor=operator.actor(args),
    )
    reply = operator.call(args, lambda stub: stub.SplitCustomer(request, timeout=args.timeout))
    if isinstance(reply, int):
        return reply
    which = "new" if reply.customer_id == reply.new_customer_id else "kept its id"
    print(
        f"records {', '.join(records)}: customer {reply.customer_id} ({which});"
        f" the others: {reply.rest_customer_id} (override {reply.override_id})",
        file=sys.stderr,
    )
    print(reply.customer_id)
    return 0
