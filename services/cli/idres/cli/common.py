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
