"""`idres watch [--after CURSOR] [--limit N]`: follow changes to customers as JSON lines."""

from __future__ import annotations

import argparse
import json

import grpc

from idres.cli import render
from idres.cli.common import fail, load_settings
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow changes to customers as JSON lines",
        description="Call WatchChanges on a running server: every change to customers in"
        " commit order, one JSON object a line, each with the cursor to resume after it."
        " Without --after it starts at the oldest change kept; without --limit it follows"
        " until interrupted.",
    )
    parser.add_argument("--after", default="", metavar="CURSOR", help="resume after this cursor")
    parser.add_argument("--limit", type=int, default=0, help="stop after N changes")
    parser.add_argument("--target", help="server address (default IDRES_HOST:IDRES_PORT)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 0:
        return fail("--limit must be 0 (follow) or more", 2)
    target = args.target or load_settings().address
    request = pb.WatchChangesRequest(after=args.after, limit=args.limit)
    with grpc.insecure_channel(target) as channel:
        try:
            for change in rpc.IdentityServiceStub(channel).WatchChanges(request):
                print(json.dumps(as_json(change)), flush=True)
        except grpc.RpcError as exc:
            return fail(render.rpc_error(exc), 2)
    return 0


def as_json(change: pb.CustomerChange) -> dict[str, object]:
    kind = pb.ChangeType.Name(change.type).removeprefix("CHANGE_TYPE_").lower()
    out: dict[str, object] = {
        "cursor": change.cursor,
        "type": kind,
        "customer_id": change.customer_id,
        "at": change.at.ToDatetime().isoformat() + "Z" if change.HasField("at") else None,
    }
    for name in ("absorbed_customer_ids", "record_ids"):
        if getattr(change, name):
            out[name] = list(getattr(change, name))
    if change.new_customer_id:
        out["new_customer_id"] = change.new_customer_id
    if change.override_id:
        out["override_id"] = change.override_id
    return out
