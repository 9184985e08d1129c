"""`idres migrate`: apply the schema migrations this release bundles, once, before servers start.

Servers and commands migrate on open by default; with IDRES_MIGRATE_ON_START=false (as in
Kubernetes) they refuse a schema that is behind, and this verb (the migrations job) is what
brings it forward, for every tenant's schema at once.
"""

from __future__ import annotations

import argparse

import psycopg

from idres.cli.common import fail, load_settings
from idres.resolver.adapters.database import migrate, migrations, pending, resolve_url, tenant_url
from idres.resolver.domain.tenants import check_tenant, tenant_schema

_TENANT_PREFIX = "tenant_"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply pending schema migrations",
        description="Apply the bundled schema migrations the store lacks, each in its own"
        " transaction, to the configured tenant (IDRES_TENANT) and every tenant whose schema"
        " exists; print each one applied.",
    )
    parser.add_argument(
        "--tenant",
        action="append",
        default=[],
        type=_tenant,
        metavar="NAME",
        help="also migrate this tenant's schema, creating it if missing (repeatable)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only list the pending migrations; exit 1 when there are any",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        url = resolve_url(settings.database_url, settings.data_dir)
        tenants = sorted({settings.tenant, *args.tenant, *existing_tenants(url)})
        behind = 0
        for tenant in tenants:
            schema_url = tenant_url(url, tenant)
            names = pending(schema_url) if args.check else migrate(schema_url)
            for name in names:
                print(f"{tenant}: {'pending' if args.check else 'applied'} {name}", flush=True)
            if not names:
                print(f"{tenant}: up to date ({len(migrations())} migrations)", flush=True)
            elif args.check:
                behind += 1
    except psycopg.Error as exc:
        return fail(f"database unavailable: {exc}")
    return 1 if behind else 0


def existing_tenants(url: str) -> list[str]:
    """Tenants whose schema is in the database already: an upgrade migrates all of them."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (_TENANT_PREFIX,)
        ).fetchall()
    found = []
    for (schema,) in rows:
        try:
            tenant = check_tenant(schema.removeprefix(_TENANT_PREFIX))
        except ValueError:
            continue  # not a schema idres named
        if tenant_schema(tenant) == schema:
            found.append(tenant)
    return found


def _tenant(raw: str) -> str:
    try:
        return check_tenant(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
