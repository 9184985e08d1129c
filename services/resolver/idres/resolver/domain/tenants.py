"""Tenants: each one's records, customers, models, events and indexes are its own.

A tenant's data lives in a PostgreSQL schema of its own, so no query, lock or index can reach
across: the same email in two tenants is two unrelated values. The default tenant is the
`public` schema, which is where a server without tokens keeps its data, so turning on
authentication later keeps that data as the tenant named `default`.
"""

from __future__ import annotations

import re

DEFAULT_TENANT = "default"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_tenant(name: str) -> str:
    """`name` when it can name a tenant (and its schema); otherwise ValueError saying why."""
    if not _NAME.match(name):
        raise ValueError(
            f"{name[:60]!r} is not a tenant name: a lower-case letter, then up to 39 lower-case"
            " letters, digits or underscores"
        )
    return name


def tenant_schema(tenant: str) -> str:
    """The PostgreSQL schema that holds `tenant`'s data."""
    return "public" if tenant == DEFAULT_TENANT else f"tenant_{check_tenant(tenant)}"
