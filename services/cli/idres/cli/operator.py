"""What `idres merge` and `idres split` share: the server to call and who is calling."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from typing import TypeVar

import grpc

from idres.cli import render
from idres.cli.common import fail, load_settings
from idres.cli.connection import open_channel
from idres.v1 import identity_pb2_grpc as rpc

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why, kept with the override")
    parser.add_argument("--by", default="", help="who decides (default: the login name)")
    parser.add_argument("--target", help="server address (default IDRES_HOST:IDRES_PORT)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")


def actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return ""


def call(args: argparse.Namespace, method: Callable[[rpc.IdentityServiceStub], T]) -> T | int:
    """The RPC's reply, or the exit code after printing why it failed."""
    settings = load_settings()
    target = args.target or settings.address
    with open_channel(target, settings) as channel:
        try:
            return method(rpc.IdentityServiceStub(channel))
        except grpc.RpcError as exc:
            return fail(render.rpc_error(exc), 2)


def fail_usage(message: str) -> int:
    return fail(message, 2)
