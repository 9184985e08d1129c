"""The embedded PostgreSQL outlives no one: a process killed with SIGKILL does not keep the server
running for ever once the next idres process using the same directory has come and gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

_START = (
    "import sys; from pathlib import Path;"
    "from idres.resolver.adapters.embedded import embedded_server_url;"
    "embedded_server_url(Path(sys.argv[1])); print('ready', flush=True);"
    "{tail}"
)


def _postmaster(pgdata: Path) -> psutil.Process | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return psutil.Process(pid) if psutil.pid_exists(pid) else None


def test_a_process_killed_hard_does_not_keep_the_server_running(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _START.format(tail="import time; time.sleep(60)"), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "ready"
    postmaster = _postmaster(tmp_path / "pg")
    assert postmaster is not None and postmaster.is_running()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)

    subprocess.run(
        [sys.executable, "-c", _START.format(tail=""), str(tmp_path)], check=True, timeout=60
    )
    deadline = time.monotonic() + 10
    while postmaster.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not postmaster.is_running()
