"""`idres overrides`: every operator merge and split in the store, as JSON lines."""

from __future__ import annotations

import argparse
import json

from idres.cli.common import fail, load_settings
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.override_store import read_overrides
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.overrides import override_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "overrides",
        help="list the operator merges and splits as JSON lines",
        description="Print every override (who, when, why, its records by side) as one JSON"
        " object a line: the audit trail, and a file `idres dedup --overrides` honours.",
    )
    parser.add_argument("--active", action="store_true", help="only those not overruled since")
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
        for override in read_overrides(Store(db), active_only=args.active):
            print(json.dumps(override_json(override), ensure_ascii=False))
    finally:
        db.close()
    return 0
