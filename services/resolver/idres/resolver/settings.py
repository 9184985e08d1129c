"""Settings, read once from `IDRES_`-prefixed environment variables into one frozen object."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.domain.matching import DEFAULT_THRESHOLDS, Thresholds
from idres.resolver.domain.normalize import NormalizationRules, check_region

PREFIX = "IDRES_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


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
    """Region for phone numbers written without a country code, when `phone_regions` is empty."""

    phone_regions: tuple[str, ...] = ()
    """Regions a phone number written without a country code may belong to, in order of
    preference (comma-separated ISO 3166 codes, such as GB,US); empty means `default_region`."""

    channel_regions: Mapping[str, str] = field(default_factory=dict)
    """The region each channel's records point to when their country and postcode do not say
    (comma-separated `channel:REGION` pairs, such as store_us:US,web_chat:GB)."""

    placeholders: frozenset[str] = field(default_factory=frozenset)
    """Extra placeholder values (comma-separated) that never link anyone."""

    channel_priority: tuple[str, ...] = ()
    """Channels whose values a customer's profile prefers, most trusted first
    (comma-separated, such as call_centre,store_pos); others come after, by recency."""

    pool_size: int = 8
    """PostgreSQL connections held by one server process."""

    sync_interval_s: float = 0.5
    """How often a replica reads other replicas' changes from the store."""

    event_retention_days: float = 7.0
    """How long change events are kept for `WatchChanges` consumers and replicas that fall
    behind; older ones are deleted by the server. 0 keeps them all."""

    suppression_key: str = field(default="", repr=False)
    """The secret erased identifiers are hashed with for their suppressions (`idres forget`);
    empty uses a key the store generates, which a dump of the store then holds too."""

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
        problems += _region_conflict(values, settings)
        if settings.event_retention_days < 0:
            problems.append(
                FieldViolation(PREFIX + "EVENT_RETENTION_DAYS", "0 (keep all) or more days")
            )
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
    def normalization_rules(self) -> NormalizationRules:
        """The rules every identifier is normalized with; build once and share."""
        return NormalizationRules(
            phone_regions=self.phone_regions or (self.default_region,),
            channel_regions=self.channel_regions,
            extra_placeholders=self.placeholders,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _parse(name: str, raw: str, cls: type[Settings]) -> Any:
    special = _PARSERS.get(name)
    if special is not None:
        return special(raw)
    default = getattr(cls(), name)
    if isinstance(default, bool):
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ValueError(f"{raw!r} is not a boolean: use true or false")
        return word in _TRUE
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, frozenset):
        return frozenset(v.strip().lower() for v in raw.split(",") if v.strip())
    return raw


def _region(raw: str) -> str:
    return check_region(raw.strip().upper(), "region")


def _regions(raw: str) -> tuple[str, ...]:
    """`GB,US` as ("GB", "US"); codes are upper-cased, each named when it is unknown."""
    regions = tuple(_region(code) for code in raw.split(",") if code.strip())
    if not regions:
        raise ValueError(f"no region in {raw!r}: list ISO 3166 codes such as GB,US")
    for code in regions:
        if regions.count(code) > 1:
            raise ValueError(f"region {code!r} is listed twice")
    return regions


def _channel_regions(raw: str) -> dict[str, str]:
    """`store_us:US,web_chat:GB` as {"store_us": "US", "web_chat": "GB"}."""
    channels: dict[str, str] = {}
    for entry in (each.strip() for each in raw.split(",")):
        if not entry:
            continue
        channel, colon, region = (part.strip() for part in entry.partition(":"))
        if not colon or not channel or not region:
            raise ValueError(f"{entry!r} is not channel:REGION, such as store_us:US")
        if channel.lower() in channels:
            raise ValueError(f"channel {channel!r} is given twice")
        try:
            channels[channel.lower()] = _region(region)
        except ValueError as exc:
            raise ValueError(f"channel {channel!r}: {exc}") from None
    return channels


_PARSERS: dict[str, Callable[[str], Any]] = {
    "default_region": _region,
    "phone_regions": _regions,
    "channel_regions": _channel_regions,
    "channel_priority": lambda raw: tuple(v.strip().lower() for v in raw.split(",") if v.strip()),
}


def _region_conflict(values: Mapping[str, Any], settings: Settings) -> list[FieldViolation]:
    """Both region variables given, disagreeing on the region tried first."""
    if "default_region" not in values or not settings.phone_regions:
        return []
    if settings.default_region == settings.phone_regions[0]:
        return []
    listed = ",".join(settings.phone_regions)
    return [
        FieldViolation(
            PREFIX + "DEFAULT_REGION",
            f"{settings.default_region!r} is not the first of {PREFIX}PHONE_REGIONS ({listed}): "
            "set only one of the two",
        )
    ]
