"""The `idres` command line: one module per verb, each exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

VERBS = (
    "serve",
    "migrate",
    "ingest",
    "export",
    "resolve",
    "merge",
    "split",
    "overrides",
    "watch",
    "review",
    "forget",
    "token",
    "generate",
    "train",
    "dedup",
    "evaluate",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idres",
        description="Identity resolution for the single customer view.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"idres.cli.{verb}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The embedded PostgreSQL is started and stopped through subprocesses; gRPC's fork
    # handlers are for forked gRPC clients, which the CLI never makes.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        # Splink narrates every training step; the verbs print their own summaries.
        logging.getLogger("splink").setLevel(logging.ERROR)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
