"""`idres dedup INPUT --out OUTPUT`: cluster one file's records offline, no database needed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from idres.cli.common import fail, load_settings, rejected_rows
from idres.ingest.dedup import (
    DEFAULT_SEED,
    DEFAULT_THRESHOLD,
    DEFAULT_WORKERS,
    DedupResult,
    dedup,
    write_clusters,
)
from idres.ingest.files import table_format
from idres.ingest.overrides import read_overrides
from idres.ingest.pairs import Engine
from idres.ingest.report import write_report
from idres.ingest.training import DEFAULT_MAX_PAIRS, load_model
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.override_store import read_overrides as read_store_overrides
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.overrides import Override
from idres.resolver.domain.scoring import MatchModel

_STEPS = ("read", "train", "score", "cluster", "write", "report")
_REJECTIONS_SHOWN = 5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dedup",
        help="cluster the records of one file into persons",
        description="Train the match model on the file (or use --model), score the blocked"
        " candidate pairs in bulk with Splink's prediction, take the records in time order"
        " through the resolver's own decisions (as Observe would), and write"
        " record_id,cluster_id for every record; a field that does not validate is kept and"
        " reported, never a reason to leave a record out; a cluster is named by its smallest"
        " record_id.",
    )
    parser.add_argument("input", type=Path, help="CSV, Parquet or JSON Lines records")
    parser.add_argument(
        "--out", type=Path, required=True, help="record_id,cluster_id as .csv, .parquet or .jsonl"
    )
    parser.add_argument("--model", type=Path, help="a trained model JSON: skip training")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="match probability at or above which a record joins a customer, and the direct"
        " evidence two customers need to merge (default %(default)s)",
    )
    parser.add_argument("--max-pairs", type=int, default=DEFAULT_MAX_PAIRS)
    parser.add_argument(
        "--report", type=Path, help="also write a self-contained HTML report of the run"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--engine",
        choices=[engine.value for engine in Engine],
        default=Engine.DUCKDB.value,
        help="where Splink trains and scores pairs: duckdb in this process, or spark (local"
        " mode unless IDRES_SPARK_MASTER names a cluster; needs Java and pyspark)"
        " (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="processes that share the clustering, by independent groups of records"
        " (default %(default)s: the cores, up to 4)",
    )
    given = parser.add_mutually_exclusive_group()
    given.add_argument(
        "--overrides",
        type=Path,
        help="operator merges and splits to honour, as JSON lines (`idres overrides` prints"
        " the store's)",
    )
    given.add_argument(
        "--store-overrides",
        action="store_true",
        help="honour the operator merges and splits of the configured store",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        table_format(args.out)  # refuse a bad output name before the slow part
        model = load_model(args.model) if args.model is not None else None
        overrides = _given_overrides(args)
        result = dedup(
            args.input,
            model=model,
            threshold=args.threshold,
            max_pairs=args.max_pairs,
            seed=args.seed,
            engine=Engine(args.engine),
            workers=args.workers,
            rules=load_settings().normalization_rules,
            overrides=overrides,
        )
        started = time.perf_counter()
        written = write_clusters(result, args.out)
        result.seconds["write"] = time.perf_counter() - started
        if args.report is not None:
            started = time.perf_counter()
            write_report(args.report, result)
            result.seconds["report"] = time.perf_counter() - started
    except (ValueError, OSError) as exc:  # JSONDecodeError is a ValueError
        return fail(str(exc))
    print(summary(result, written, args.out))
    return 0


def _training(result: DedupResult) -> list[str]:
    """What the model compares: the plan training chose from this file's columns, or a given
    model's comparisons."""
    if result.plan is not None:
        return result.plan.lines()
    return ["comparisons        " + ", ".join(MatchModel.from_splink(result.model).levels())]


def _given_overrides(args: argparse.Namespace) -> list[Override]:
    if args.overrides is not None:
        return read_overrides(args.overrides)
    if not args.store_overrides:
        return []
    settings = load_settings()
    try:
        db = open_database(
            settings.database_url,
            settings.data_dir,
            pool_size=1,
            tenant=settings.tenant,
            apply_migrations=settings.migrate_on_start,
        )
    except UnavailableError as exc:
        raise ValueError(str(exc)) from exc
    try:
        return read_store_overrides(Store(db), active_only=True)
    finally:
        db.close()


def _overrides(result: DedupResult) -> list[str]:
    if not result.overrides:
        return []
    line = f"overrides          {result.overrides:,} honoured"
    if result.refused:
        line += f" ({result.refused:,} merge(s) left undone where a later split keeps them apart)"
    return [line]


def summary(result: DedupResult, written: int, out: Path) -> str:
    """The closing report: what was read, what was left out, and what came of it."""
    source = "trained on this file" if result.trained else "given"
    c = result.counts
    lines = [
        f"records read       {result.rows_read:,}",
        f"rejected           {rejected_rows(result.rejected_rows)}",
        f"warned             {result.warnings.rows:,} rows (fields kept, not used to link)",
        f"clusters           {result.clusters:,} (of {result.records:,} records)",
        f"largest cluster    {result.largest_cluster:,}",
        f"decisions          {c.linked:,} linked, {c.merged:,} merged customers, {c.created:,}"
        f" new ({c.possible:,} of them possible matches) at p >= {result.threshold:g}",
        f"model              {result.model_version} ({source})",
        *_overrides(result),
        *_training(result),
        "seconds            "
        + ", ".join(
            f"{step} {result.seconds[step]:.1f}" for step in _STEPS if step in result.seconds
        ),
        f"wrote              {written:,} rows to {out}",
    ]
    for rejection in result.rejections[:_REJECTIONS_SHOWN]:
        lines.append(f"  row {rejection.row}: {rejection.reason}")
    more = len(result.rejected_rows) - min(len(result.rejections), _REJECTIONS_SHOWN)
    if more > 0:
        lines.append(f"  ... {more:,} more rejected rows")
    lines += result.warnings.lines(_REJECTIONS_SHOWN)
    return "\n".join(lines)
