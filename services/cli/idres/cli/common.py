"""What every verb shares: settings from the environment, errors printed plainly."""

from __future__ import annotations

import sys
from typing import Any

from idres.resolver.domain.errors import ValidationError
from idres.resolver.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ValidationError as exc:
        for v in exc.violations:
            print(f"idres: invalid {v.field}: {v.description}", file=sys.stderr)
        raise SystemExit(2) from exc


def fail(message: str, code: int = 1) -> int:
    print(f"idres: {message}", file=sys.stderr)
    return code


ROW_NUMBERS_SHOWN = 20


def rejected_rows(rows: list[int]) -> str:
    """`3 (rows 4, 9, 17)`: the numbers let a user find the rows; a long list is cut short."""
    if not rows:
        return "0"
    shown = ", ".join(str(row) for row in rows[:ROW_NUMBERS_SHOWN])
    more = f" and {len(rows) - ROW_NUMBERS_SHOWN:,} more" if len(rows) > ROW_NUMBERS_SHOWN else ""
    return f"{len(rows):,} (rows {shown}{more})"
