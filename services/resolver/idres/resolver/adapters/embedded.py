"""The embedded PostgreSQL for local use: one server per data directory, shared by every idres
process that uses the directory and stopped when the last of them exits."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)
# pgserver's own register of the processes using a server, in the data directory.
_HANDLES = ".handle_pids.json"
# Servers stay referenced for the life of the process; pgserver stops each one when the last
# process using its data dir exits.
_EMBEDDED: dict[Path, Any] = {}


def embedded_server_url(data_dir: Path) -> str:
    """Starts (or joins) the embedded PostgreSQL under `data_dir`; returns its admin DSN."""
    import pgserver  # imported here: a deployment with a real DSN never needs it

    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _EMBEDDED:
        pgdata.mkdir(parents=True, exist_ok=True)
        with pgserver.PostgresServer._lock:  # type: ignore[attr-defined]
            _take_over(pgdata)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        _EMBEDDED[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = _EMBEDDED[pgdata].get_uri()
    return uri


def _take_over(pgdata: Path) -> None:
    """Drops the processes that died without letting go (`kill -9`) from the server's register:
    otherwise the server counts them as users forever and nobody ever stops it."""
    register = pgdata / _HANDLES
    try:
        pids: list[int] = json.loads(register.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        log.info(
            "taking over the embedded PostgreSQL from %d dead process(es)", len(pids) - len(alive)
        )
        register.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_embedded(data_dir: Path) -> None:
    """Stops the embedded server under `data_dir` now, rather than at process exit."""
    server = _EMBEDDED.pop((data_dir / "pg").resolve(), None)
    if server is not None:
        server.cleanup()
