"""`idres ingest FILE`: every record through the same linking the server uses."""

from __future__ import annotations

import argparse
from pathlib import Path

from idres.cli.common import fail, load_settings, rejected_rows
from idres.cli.connection import open_channel
from idres.cli.upload import BATCH, RemoteError, ingest_remote
from idres.ingest.bulk import bulk_ingest
from idres.ingest.files import write_table
from idres.ingest.loader import IngestSummary, ingest_file
from idres.ingest.training import DEFAULT_MAX_PAIRS
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.resolution import Resolver
from idres.resolver.settings import Settings
from idres.resolver.transport.servicer import MAX_BATCH
from idres.v1 import identity_pb2_grpc as rpc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="load a CSV, Parquet or JSON Lines file of records",
        description="Observe every record of FILE (canonical record schema); bad rows are"
        " reported with their row number and field and the rest still load.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--workers", type=int, default=4, help="rows in flight (default 4)")
    parser.add_argument("--rejects", type=Path, help="write every rejected row to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="load the whole file at once: cluster it in memory against what is stored and"
        " write it with COPY in one transaction (trains a model first if none is active)",
    )
    parser.add_argument(
        "--max-pairs", type=int, default=DEFAULT_MAX_PAIRS, help="training cap with --bulk"
    )
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="send the file through a running server's API (ObserveBatch) instead of opening"
        " the store: for loading from another machine (TLS and token as IDRES_TLS_CA_FILE and"
        " IDRES_TOKEN say)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help=f"records a call with --server (default {BATCH}, at most {MAX_BATCH:,})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not args.file.exists():
        return fail(f"no such file: {args.file}")
    if args.server:
        if args.bulk:
            return fail("--bulk opens the store itself; use it without --server")
        return _remote(args, settings)
    if args.bulk:
        if args.rejects:
            # The bulk path keeps every rejected row's number, but the reasons of a few only.
            return fail("--rejects is for the row-by-row load; --bulk lists rejected rows itself")
        return _bulk(args, settings)
    try:
        resolver = Resolver.from_settings(settings, durable=False)
    except UnavailableError as exc:
        return fail(str(exc))
    try:
        summary = ingest_file(args.file, resolver, workers=args.workers, progress=not args.quiet)
    except ValueError as exc:
        return fail(str(exc))
    except UnavailableError as exc:
        # Records already observed stay; observing them again changes nothing.
        return fail(f"{exc}; the load stopped part way and can be run again as it is")
    finally:
        resolver.close()
    return _report(summary, args.rejects)


def _remote(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.batch <= MAX_BATCH:
        return fail(f"--batch must be 1 to {MAX_BATCH:,}, not {args.batch}")
    if args.workers < 1:
        return fail(f"--workers must be 1 or more, not {args.workers}")
    with open_channel(args.server, settings) as channel:
        stub = rpc.IdentityServiceStub(channel)
        try:
            summary = ingest_remote(
                args.file, stub, batch=args.batch, workers=args.workers, progress=not args.quiet
            )
        except ValueError as exc:
            return fail(str(exc))
        except RemoteError as exc:
            return fail(
                f"{args.server}: {exc}; the records sent so far are stored, and the load can"
                " be run again as it is"
            )
    return _report(summary, args.rejects)


def _report(summary: IngestSummary, rejects: Path | None) -> int:
    print("\n".join(summary.lines()))
    for r in summary.rejections[:20]:
        print(f"  row {r.row}: {r.field}: {r.reason}")
    if len(summary.rejections) > 20:
        print(f"  ... {len(summary.rejections) - 20:,} more (use --rejects FILE)")
    if rejects:
        rows = ((str(r.row), r.field, r.reason) for r in summary.rejections)
        write_table(rejects, ("row", "field", "reason"), rows)
    return 0


def _bulk(args: argparse.Namespace, settings: Settings) -> int:
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
        summary = bulk_ingest(
            args.file,
            Store(db),
            max_pairs=args.max_pairs,
            progress=not args.quiet,
            rules=settings.normalization_rules,
            suppression_key=settings.suppression_key,
        )
    except (ValueError, UnavailableError) as exc:
        return fail(f"{exc}; nothing was written")
    finally:
        db.close()
    print("\n".join(summary.lines()))
    for r in summary.rejections[:20]:
        print(f"  row {r.row}: {r.reason}")
    if len(summary.rejected_rows) > 20:
        print(f"  rejected rows: {rejected_rows(summary.rejected_rows)}")
    for record_id in summary.conflicts[:20]:
        print(f"  record {record_id!r}: stored before with other content")
    return 0
