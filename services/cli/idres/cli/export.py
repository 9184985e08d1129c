"""`idres export --out FILE`: record_id,customer_id for every stored record."""

from __future__ import annotations

import argparse
from pathlib import Path

from idres.cli.common import fail, load_settings
from idres.ingest.files import write_table
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write record_id,customer_id for every stored record",
        description="Write the clustering: CSV, or Parquet or JSON Lines by extension.",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
        return fail(str(exc))
    try:
        count = write_table(args.out, ("record_id", "customer_id"), Store(db).record_assignments())
    except ValueError as exc:
        return fail(str(exc))
    finally:
        db.close()
    print(f"wrote {count:,} records to {args.out}")
    return 0
