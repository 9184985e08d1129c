"""`idres train FILE | --from-store`: train the match model with Splink and store it by version."""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from idres.cli import render
from idres.cli.common import fail, load_settings
from idres.ingest.frame import model_frame, read_file
from idres.ingest.training import (
    DEFAULT_MAX_PAIRS,
    model_version,
    plan_training,
    save_model,
    stage_bar,
    train,
    training_facts,
    training_stages,
)
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.model_store import SWITCH_AFTER, ModelStore, stored_records
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.scoring import MatchModel


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the match model on a file or on the stored records",
        description="Train the Fellegi-Sunter model with Splink (u by random sampling, m by"
        " EM, both capped by --max-pairs), store it by version and make it active.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, help="CSV, Parquet or JSON Lines records")
    source.add_argument("--from-store", action="store_true", help="train on the stored records")
    parser.add_argument("--out", type=Path, help="also write the model JSON to this file")
    parser.add_argument("--max-pairs", type=int, default=DEFAULT_MAX_PAIRS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-activate", action="store_true", help="store without serving it")
    parser.add_argument(
        "--switch-after",
        type=float,
        default=SWITCH_AFTER.total_seconds(),
        metavar="SECONDS",
        help="running servers prepare the model, then all switch to it this long after it is"
        f" activated (default {SWITCH_AFTER.total_seconds():.0f})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.file is not None and not args.file.exists():
        return fail(f"no such file: {args.file}")
    try:
        db = open_database(
            settings.database_url,
            settings.data_dir,
            pool_size=2,
            tenant=settings.tenant,
            apply_migrations=settings.migrate_on_start,
        )
    except UnavailableError as exc:
        return fail(str(exc))
    try:
        store = Store(db)
        try:
            if args.from_store:
                frame = model_frame(stored_records(store))
            else:
                read = read_file(args.file, progress=True)
                frame = read.table()
                print(
                    f"{len(read.rejected_rows):,} of {read.rows_read:,} rows rejected", flush=True
                )
        except ValueError as exc:
            return fail(str(exc))
        if frame.num_rows < 2:
            return fail("nothing to train on: fewer than two valid records")
        try:
            plan = plan_training(frame)
        except ValueError as exc:
            return fail(str(exc))
        print(f"training on {frame.num_rows:,} records (max pairs {args.max_pairs:,})", flush=True)
        print("\n".join(plan.lines()), flush=True)
        started = time.perf_counter()
        with stage_bar(stages=training_stages(plan.em_rules)) as advance:
            model = train(
                frame, seed=args.seed, max_pairs=args.max_pairs, plan=plan, progress=advance
            )
        seconds = time.perf_counter() - started
        version = model_version(model)
        source = "store" if args.from_store else str(args.file)
        facts = training_facts(frame, model, plan)
        meta = {"source": source, "seconds": round(seconds, 1), **facts}
        meta |= {"max_pairs": args.max_pairs, "seed": args.seed}
        lead = timedelta(seconds=max(0.0, args.switch_after))
        switch = ModelStore(store).save(
            version, model, meta, activate=not args.no_activate, switch_after=lead
        )
    finally:
        db.close()
    if args.out:
        save_model(model, args.out)
    print(describe(model, version, seconds, active=not args.no_activate))
    if switch is not None:
        print(f"\nrunning servers switch to it at {switch.isoformat(timespec='seconds')}")
    return 0


def describe(model: dict[str, Any], version: str, seconds: float, *, active: bool) -> str:
    """The trained weights, comparison by comparison: what the model believes, readable."""
    scorer = MatchModel.from_splink(model)
    rows = [
        (c.comparison, c.level, f"{c.log2_bayes_factor:+.2f}")
        for levels in scorer.levels().values()
        for c in levels
    ]
    state = "active" if active else "stored, not active"
    head = (
        f"model {version} ({state}), trained in {seconds:.1f} s; prior {scorer.prior_weight:+.2f}"
    )
    return head + "\n\n" + render.table(("comparison", "level", "match weight"), rows)
