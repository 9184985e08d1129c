"""`idres evaluate --truth FILE --pred FILE`: score a clustering against the ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from idres.cli.common import fail
from idres.ingest.evaluation import evaluate_files


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a clustering against ground truth",
        description=(
            "Compares record_id,<cluster> (for example the output of `idres export`) with"
            " record_id,<entity> ground truth (for example from `idres generate`): pairwise and"
            " B-cubed precision, recall and F1, plus cluster counts and sizes. Records on one"
            " side only are counted and left out of the scores."
        ),
    )
    parser.add_argument(
        "--truth",
        type=Path,
        required=True,
        metavar="FILE",
        help="record_id and true entity; .csv (optionally .gz), .parquet or .jsonl",
    )
    parser.add_argument(
        "--pred",
        type=Path,
        required=True,
        metavar="FILE",
        help="record_id and predicted cluster; same formats",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        evaluation = evaluate_files(args.truth, args.pred)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(evaluation.to_dict(), indent=2))
    else:
        print("\n".join(evaluation.lines()))
    return 0
