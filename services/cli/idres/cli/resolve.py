"""`idres resolve`: ask a running server who someone is."""

from __future__ import annotations

import argparse

import grpc

from idres.cli import render
from idres.cli.common import load_settings
from idres.cli.connection import open_channel
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

# Every lookup field of the API is a flag; the channel asking is this terminal.
FIELDS = tuple(f.name for f in pb.ResolveRequest.DESCRIPTOR.fields if f.name != "channel")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "resolve",
        help="ask a running server who someone is",
        description="Call Resolve on a running idres server and print the answer.",
    )
    for name in FIELDS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default="")
    parser.add_argument("--target", help="server address (default IDRES_HOST:IDRES_PORT)")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline in seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    target = args.target or settings.address
    request = pb.ResolveRequest(channel="cli", **{name: getattr(args, name) for name in FIELDS})
    with open_channel(target, settings) as channel:
        try:
            response = rpc.IdentityServiceStub(channel).Resolve(request, timeout=args.timeout)
        except grpc.RpcError as exc:
            print(render.rpc_error(exc))
            return 2
    print(describe(response))
    return 0


def describe(response: pb.ResolveResponse) -> str:
    rows = [
        ("decision", render.decision(response.decision)),
        ("customer", response.customer_id or "-"),
        ("matched", render.matched(response)),
        ("not counted", render.ignored(response)),
        ("model", response.model_version),
    ]
    if response.other_customer_ids:
        rows.insert(2, ("also possible", ", ".join(response.other_customer_ids)))
    rows += [("not used", f"{w.field}: {w.reason}") for w in response.warnings]
    return render.table(("field", "value"), rows)
