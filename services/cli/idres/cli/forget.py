"""`idres forget (--customer ID | --record ID | --identifier KIND:VALUE) --reason TEXT`:
erasure with a receipt, and `--lift` to let an erased record or value be stored again."""

from __future__ import annotations

import argparse
import json
import sys

from idres.cli import operator
from idres.v1 import identity_pb2 as pb

KINDS = {
    "email": pb.IDENTIFIER_KIND_EMAIL,
    "phone": pb.IDENTIFIER_KIND_PHONE,
    "handle": pb.IDENTIFIER_KIND_SOCIAL_HANDLE,
    "social_handle": pb.IDENTIFIER_KIND_SOCIAL_HANDLE,
    "device_id": pb.IDENTIFIER_KIND_DEVICE_ID,
    "loyalty_card": pb.IDENTIFIER_KIND_LOYALTY_CARD,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "forget",
        help="erase a customer, a record or an identifier; prints a JSON receipt",
        description="Call Forget on a running server: the personal data goes from every table,"
        " the change events and the models' term frequencies, and from every replica's"
        " indexes. A suppression (a keyed hash) keeps a replayed record from bringing it back;"
        " --lift removes one.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--customer", metavar="ID", help="a customer and all its records")
    target.add_argument("--record", metavar="ID", help="one record")
    target.add_argument(
        "--identifier",
        metavar="KIND:VALUE",
        help=f"one value wherever it is held; KIND is one of {', '.join(KINDS)}",
    )
    parser.add_argument(
        "--lift",
        action="store_true",
        help="instead, lift the suppression of an erased --record or --identifier",
    )
    operator.add_arguments(parser)
    parser.set_defaults(func=run)


def identifier(text: str) -> pb.IdentifierValue | None:
    kind, colon, value = text.partition(":")
    if not colon or kind.strip().lower() not in KINDS or not value.strip():
        return None
    return pb.IdentifierValue(kind=KINDS[kind.strip().lower()], value=value.strip())


def run(args: argparse.Namespace) -> int:
    ident = identifier(args.identifier) if args.identifier else None
    if args.identifier and ident is None:
        return operator.fail_usage(
            f"--identifier {args.identifier!r}: write KIND:VALUE, KIND one of {', '.join(KINDS)}"
        )
    if args.lift:
        return _lift(args, ident)
    request = pb.ForgetRequest(reason=args.reason, actor=operator.actor(args))
    if args.customer:
        request.customer_id = args.customer
    elif args.record:
        request.record_id = args.record
    elif ident is not None:
        request.identifier.CopyFrom(ident)
    reply = operator.call(args, lambda stub: stub.Forget(request, timeout=args.timeout))
    if isinstance(reply, int):
        return reply
    receipt = {
        "erasure_id": reply.erasure_id,
        "at": reply.at.ToDatetime().isoformat() + "Z",
        "target": reply.target,
        "customer_ids": list(reply.customer_ids),
        "forgotten_customer_ids": list(reply.forgotten_customer_ids),
        "record_ids": list(reply.record_ids),
        "removed": dict(sorted(reply.removed.items())),
    }
    print(json.dumps(receipt, indent=2))
    return 0


def _lift(args: argparse.Namespace, ident: pb.IdentifierValue | None) -> int:
    if args.customer:
        return operator.fail_usage("--lift names a --record or an --identifier")
    request = pb.LiftSuppressionRequest(reason=args.reason, actor=operator.actor(args))
    if args.record:
        request.record_id = args.record
    elif ident is not None:
        request.identifier.CopyFrom(ident)
    reply = operator.call(args, lambda stub: stub.LiftSuppression(request, timeout=args.timeout))
    if isinstance(reply, int):
        return reply
    print(f"lifted {reply.lifted} suppression(s)", file=sys.stderr)
    print(reply.lifted)
    return 0
