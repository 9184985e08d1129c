"""Settings, read once from `IDRES_`-prefixed environment variables into one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.domain.matching import DEFAULT_THRESHOLDS, Thresholds

PREFIX = "IDRES_"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = ""
    """PostgreSQL DSN; empty means an embedded PostgreSQL kept under `data_dir`."""

    data_dir: Path = Path(".idres")
    """Folder of the embedded database; two data dirs never see each other's data."""

    host: str = "127.0.0.1"
    """Address the gRPC server binds."""

    port: int = 50051
    """Port the gRPC server binds; 0 picks a free one."""

    max_workers: int = 16
    """Threads for the calls that wait on PostgreSQL (Observe, GetCustomer); Resolve needs none."""

    max_connection_age_s: int = 300
    """Clients reconnect after this long, so new replicas behind a Service get traffic."""

    default_region: str = "GB"
    """Region for phone numbers written without a country code."""

    placeholders: frozenset[str] = field(default_factory=frozenset)
    """Extra placeholder values (comma-separated) that never link anyone."""

    pool_size: int = 8
    """PostgreSQL connections held by one server process."""

    sync_interval_s: float = 0.5
    """How often a replica reads other replicas' changes from the store."""

    shutdown_grace_s: float = 5.0
    """How long in-flight calls may finish after SIGTERM."""

    trace_console: bool = False
    """Print trace spans to stdout; a collector is set with the standard OTEL_ variables."""

    use_model: bool = True
    """Decide with the active trained model when there is one (`idres train`); false, or no
    model, keeps the deterministic rules."""

    match_threshold: float = DEFAULT_THRESHOLDS.match
    """Model probability at or above which a record links to a customer."""

    possible_threshold: float = DEFAULT_THRESHOLDS.possible
    """Model probability at or above which a lookup is a possible match."""

    merge_threshold: float = DEFAULT_THRESHOLDS.merge
    """Direct evidence (as a probability) two customers need before one record merges them."""

    vector_index: bool = True
    """Keep a faiss index of weak attributes, for lookups that bring no known identifier."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Reads every field from `IDRES_<FIELD>`; a malformed value names its variable."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[FieldViolation] = []
        for f in fields(cls):
            raw = source.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(f.name, raw, cls)
            except ValueError as exc:
                problems.append(FieldViolation(PREFIX + f.name.upper(), str(exc)))
        values.update(overrides)
        settings = cls(**values)
        try:
            settings.thresholds  # noqa: B018 (validates the three together)
        except ValueError as exc:
            problems.append(FieldViolation(PREFIX + "MATCH_THRESHOLD", str(exc)))
        if problems:
            raise ValidationError(problems)
        return settings

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            match=self.match_threshold,
            possible=self.possible_threshold,
            merge=self.merge_threshold,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _parse(name: str, raw: str, cls: type[Settings]) -> Any:
    default = getattr(cls(), name)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, frozenset):
        return frozenset(v.strip().lower() for v in raw.split(",") if v.strip())
    return raw
