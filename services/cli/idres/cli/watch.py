"""`idres watch [--after CURSOR] [--limit N]`: follow changes to customers as JSON lines."""

from __future__ import annotations

import argparse
import json
import time

import grpc

from idres.cli import render
from idres.cli.common import fail, load_settings
from idres.cli.connection import open_channel
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

RETRIES = 8
"""Reconnections in a row before giving up on an unreachable server."""
SERVED_S = 5.0
"""A stream that lasted this long was served: its end is no failure to count."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow changes to customers as JSON lines",
        description="Call WatchChanges on a running server: every change to customers in"
        " commit order, one JSON object a line, each with the cursor to resume after it."
        " Without --after it starts at the oldest change kept; without --limit it follows"
        " until interrupted, reconnecting after its last change when the server drops it.",
    )
    parser.add_argument("--after", default="", metavar="CURSOR", help="resume after this cursor")
    parser.add_argument("--limit", type=int, default=0, help="stop after N changes")
    parser.add_argument("--target", help="server address (default IDRES_HOST:IDRES_PORT)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 0:
        return fail("--limit must be 0 (follow) or more", 2)
    settings = load_settings()
    target = args.target or settings.address
    cursor, left, retries = args.after, args.limit, 0
    while not (args.limit and left == 0):
        request = pb.WatchChangesRequest(after=cursor, limit=left)
        opened = time.monotonic()
        try:
            with open_channel(target, settings) as channel:
                for change in rpc.IdentityServiceStub(channel).WatchChanges(request):
                    print(json.dumps(as_json(change)), flush=True)
                    cursor, retries = change.cursor, 0
                    left = max(0, left - 1) if args.limit else 0
            return 0
        except grpc.RpcError as exc:
            # A server recycles connections (IDRES_MAX_CONNECTION_AGE_S) and restarts: resume
            # after the last change printed, which the stream promises to be exact.
            if time.monotonic() - opened > SERVED_S:
                retries = 0  # it was serving: a recycled connection, not a failing server
            if not _transient(exc) or retries >= RETRIES:
                return fail(render.rpc_error(exc), 2)
            retries += 1
            time.sleep(min(5.0, 0.2 * 2**retries))
    return 0


def _transient(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.UNAVAILABLE


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
