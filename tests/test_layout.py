"""The rings stay honest: the domain core imports no I/O, batch never imports the transport."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESOLVER = ROOT / "services" / "resolver" / "idres" / "resolver"
INGEST = ROOT / "services" / "ingest" / "idres" / "ingest"
IO_PACKAGES = ("grpc", "grpc_status", "grpc_health", "psycopg", "psycopg_pool", "faiss", "pgserver")
RULES = [
    (
        RESOLVER / "domain",
        (
            *IO_PACKAGES,
            "opentelemetry",
            "idres.resolver.adapters",
            "idres.resolver.transport",
            "idres.v1",
        ),
    ),
    (RESOLVER / "adapters", ("grpc", "idres.resolver.transport", "idres.v1", "opentelemetry.sdk")),
    (INGEST, ("idres.resolver.transport", "idres.cli", "grpc")),
    (RESOLVER, ("opentelemetry.sdk", "idres.ingest", "idres.cli")),
]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def forbidden(module: str, banned: tuple[str, ...]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


@pytest.mark.parametrize(("folder", "banned"), RULES, ids=lambda v: getattr(v, "name", ""))
def test_import_direction(folder: Path, banned: tuple[str, ...]) -> None:
    allowed_sdk = {RESOLVER / "telemetry.py"}  # the one place the SDK is wired
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in folder.rglob("*.py")
        if path not in allowed_sdk
        for module in imports(path)
        if forbidden(module, banned)
    }
    assert not offenders


def test_the_rules_can_fail() -> None:
    assert forbidden("psycopg.rows", IO_PACKAGES) and not forbidden("psycopgx", IO_PACKAGES)
