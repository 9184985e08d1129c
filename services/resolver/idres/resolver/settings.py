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
from idres.resolver.domain.tenants import DEFAULT_TENANT, check_tenant

PREFIX = "IDRES_"
MAX_PROCESSES = 256
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

    max_message_bytes: int = 4 * 1024 * 1024
    """The largest request or reply message the server takes or sends."""

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

    pool_wait_s: float = 2.0
    """The longest a call waits for a PostgreSQL connection (less when its deadline is
    nearer); past it the call is UNAVAILABLE, so a database outage fails calls fast."""

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

    processes: int = 0
    """Server processes `idres serve` runs on its port, one per core; 0 means one per core
    this process may use (its CPU affinity, capped by a container's CPU limit)."""

    trace_console: bool = False
    """Print trace spans to stdout; a collector is set with the standard OTEL_ variables."""

    tenant: str = DEFAULT_TENANT
    """The tenant whose data CLI commands (ingest, train, dedup --store-overrides, export)
    work on and a server without tokens serves; with `auth_tokens_file`, each call is served
    for its token's tenant."""

    tls_cert_file: str = ""
    """PEM certificate chain the gRPC port serves TLS with (re-read when it changes); with it
    set, no plaintext port is open. Empty serves plaintext."""

    tls_key_file: str = ""
    """PEM private key of `tls_cert_file`."""

    tls_client_ca_file: str = ""
    """PEM certificates client certificates must chain to; set, every caller needs one."""

    auth_tokens_file: str = ""
    """Bearer tokens, one `TOKEN TENANT SCOPE[,SCOPE...]` a line (scopes: resolve, observe,
    admin), re-read when it changes; empty means no authentication and the default tenant."""

    auth_token_key: str = field(default="", repr=False)
    """The key of the `hmac-sha256:HEX` token hashes `auth_tokens_file` may hold instead of
    tokens (`idres token` prints both)."""

    token: str = field(default="", repr=False)
    """The bearer token CLI commands send to a server."""

    tls_ca_file: str = ""
    """PEM certificates CLI commands trust for the server; set, they connect with TLS."""

    tls_client_cert_file: str = ""
    """PEM certificate CLI commands present to a server that asks for client certificates."""

    tls_client_key_file: str = ""
    """PEM private key of `tls_client_cert_file`."""

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

    migrate_on_start: bool = True
    """Apply pending schema migrations when a server or command opens the store; false (as in
    Kubernetes, where the migrations job applies them once) refuses to start while the schema
    is behind this release."""

    metrics_port: int = 0
    """Port of a Prometheus scrape endpoint (`/metrics`, on `host`) for teams without an
    OpenTelemetry collector; 0 serves none."""

    log_format: str = "text"
    """How `idres serve` writes its log lines on stderr: `text` for a person at a terminal,
    `json` (one object a line, with trace ids) for a log pipeline."""

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
        if not 0 <= settings.processes <= MAX_PROCESSES:
            problems.append(
                FieldViolation(
                    PREFIX + "PROCESSES", f"0 (one per core) to {MAX_PROCESSES} processes"
                )
            )
        if settings.event_retention_days < 0:
            problems.append(
                FieldViolation(PREFIX + "EVENT_RETENTION_DAYS", "0 (keep all) or more days")
            )
        problems += _tls_problems(settings)
        if settings.pool_wait_s <= 0:
            problems.append(FieldViolation(PREFIX + "POOL_WAIT_S", "more than 0 seconds"))
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
    "tenant": check_tenant,
    "log_format": lambda raw: _choice(raw, ("text", "json")),
    "metrics_port": lambda raw: _port(int(raw)),
    "channel_priority": lambda raw: tuple(v.strip().lower() for v in raw.split(",") if v.strip()),
}


def _port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port: 1 to 65535, or 0 for none")
    return port


def _choice(raw: str, choices: tuple[str, ...]) -> str:
    word = raw.strip().lower()
    if word not in choices:
        raise ValueError(f"{raw[:60]!r} is not one of {', '.join(choices)}")
    return word


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


def _tls_problems(settings: Settings) -> list[FieldViolation]:
    """A certificate needs its key (and a key its certificate); client CAs need a certificate."""
    pairs = (
        ("TLS_CERT_FILE", settings.tls_cert_file, "TLS_KEY_FILE", settings.tls_key_file),
        (
            "TLS_CLIENT_CERT_FILE",
            settings.tls_client_cert_file,
            "TLS_CLIENT_KEY_FILE",
            settings.tls_client_key_file,
        ),
    )
    problems = [
        FieldViolation(
            PREFIX + (b_name if a else a_name),
            f"set together with {PREFIX}" + (a_name if a else b_name),
        )
        for a_name, a, b_name, b in pairs
        if bool(a) != bool(b)
    ]
    if settings.tls_client_ca_file and not settings.tls_cert_file:
        problems.append(
            FieldViolation(PREFIX + "TLS_CLIENT_CA_FILE", f"needs {PREFIX}TLS_CERT_FILE too")
        )
    return problems
