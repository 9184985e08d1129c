"""`idres merge CUSTOMER CUSTOMER... --reason TEXT`: an operator joins customers."""

from __future__ import annotations

import argparse
import sys

from idres.cli import operator
from idres.v1 import identity_pb2 as pb


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="join customers that are one person; prints the surviving id",
        description="Call MergeCustomers on a running server. The oldest customer keeps its"
        " id; the merge lasts, and lifts any earlier split between them.",
    )
    parser.add_argument("customers", nargs="+", metavar="CUSTOMER")
    operator.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    request = pb.MergeCustomersRequest(
        customer_ids=args.customers, reason=args.reason, actor=operator.actor(args)
    )
    reply = operator.call(args, lambda stub: stub.MergeCustomers(request, timeout=args.timeout))
    if isinstance(reply, int):
        return reply
    if reply.override_id:
        absorbed = ", ".join(reply.absorbed_customer_ids)
        print(f"merged {absorbed} into it (override {reply.override_id})", file=sys.stderr)
        if reply.lifted_override_ids:
            lifted = ", ".join(map(str, reply.lifted_override_ids))
            print(f"lifted the split(s) that kept them apart: {lifted}", file=sys.stderr)
    else:
        print("already one customer: nothing to merge", file=sys.stderr)
    print(reply.customer_id)
    return 0
