"""A database outage the tests cause: its sessions ended and new ones refused, then undone."""

from __future__ import annotations

import psycopg


def allow_connections(admin_url: str, dbname: str, allowed: bool) -> None:
    """Takes database `dbname` down (`allowed` false) or brings it back."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )


def dbname_of(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
