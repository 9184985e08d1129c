"""The `idres` command run as a user runs it: a subprocess against the test's database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Idres = Callable[..., subprocess.CompletedProcess[str]]


def _idres(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IDRES_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "idres.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def idres() -> Idres:
    return _idres
