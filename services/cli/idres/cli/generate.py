"""`idres generate --out FILE`: synthetic omnichannel records with their ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from idres.cli.common import fail
from idres.ingest.generator import write_generated


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write synthetic customer records with ground truth",
        description=(
            "Writes UK-flavoured records from six channels (web, mobile app, call centre, store,"
            " social care, email) with realistic noise, households and placeholders, plus a"
            " record_id,person_id ground-truth file. The same seed gives the same data."
        ),
    )
    parser.add_argument(
        "--persons", type=_positive, default=1000, metavar="N", help="people (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="random seed (default 7)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="records file; .csv, .parquet or .jsonl (optionally .gz) picks the format",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        metavar="FILE",
        help="ground-truth file (default: the --out name with .truth.csv)",
    )
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        out, truth, count = write_generated(args.out, args.persons, args.seed, args.truth)
    except (ValueError, OSError) as exc:
        return fail(str(exc), 2 if isinstance(exc, ValueError) else 1)
    print(f"wrote {count:,} records for {args.persons:,} persons to {out}; ground truth in {truth}")
    return 0
