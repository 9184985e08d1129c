"""Records: one observation from one channel, validated and normalized as a whole."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from idres.resolver.domain.errors import FieldViolation, InvalidValue, ValidationError
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.normalize import DEFAULT_RULES, NormalizationRules, normalize

CANONICAL_COLUMNS: tuple[str, ...] = (
    "record_id",
    "channel",
    "ts",
    "given_name",
    "surname",
    "dob",
    "postcode",
    "email",
    "phone",
    "handle",
    "handle_platform",
    "device_id",
    "loyalty_card",
)
IDENTIFIER_FIELDS: dict[str, IdentifierKind] = {
    "email": IdentifierKind.EMAIL,
    "phone": IdentifierKind.PHONE,
    "handle": IdentifierKind.SOCIAL_HANDLE,
    "device_id": IdentifierKind.DEVICE_ID,
    "loyalty_card": IdentifierKind.LOYALTY_CARD,
}
FIELD_OF_KIND = {kind: name for name, kind in IDENTIFIER_FIELDS.items()}
MAX_TEXT = 256
_SPACES = re.compile(r"\s+")
_RECORD_ID = re.compile(r"^[\w.:@/#+=-]{1,128}$")
_EARLIEST_DOB = date(1900, 1, 1)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attributes:
    """Weak attributes: they corroborate or contradict, never link on their own."""

    given_name: str = ""
    surname: str = ""
    dob: date | None = None
    postcode: str = ""

    @property
    def empty(self) -> bool:
        return not (self.given_name or self.surname or self.dob or self.postcode)


_EMPTY = Attributes()
_HANDLE = IdentifierKind.SOCIAL_HANDLE


@dataclass(frozen=True, slots=True)
class Observed:
    """An identifier as a record carried it."""

    identifier: Identifier
    placeholder: bool


@dataclass(frozen=True, slots=True)
class Query:
    """What a channel knows about someone: identifiers and attributes, nothing stored."""

    attributes: Attributes
    identifiers: tuple[Observed, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored observation. `fingerprint` tells a retry from a conflicting re-use of an id."""

    record_id: str
    channel: str
    ts: datetime
    query: Query
    fingerprint: str

    @property
    def attributes(self) -> Attributes:
        return self.query.attributes

    @property
    def identifiers(self) -> tuple[Observed, ...]:
        return self.query.identifiers


def parse_record(
    values: Mapping[str, str],
    rules: NormalizationRules = DEFAULT_RULES,
    *,
    prefix: str = "record.",
    now: datetime | None = None,
) -> Record:
    """Validates a canonical-schema mapping; every bad field is reported, not just the first."""
    problems: list[FieldViolation] = []
    record_id = _text(values.get("record_id"))
    if not record_id:
        problems.append(FieldViolation(prefix + "record_id", "required"))
    elif not _RECORD_ID.match(record_id):
        problems.append(
            FieldViolation(prefix + "record_id", "1-128 letters, digits or ._:@/#+=- characters")
        )
    ts = _field(problems, prefix + "ts", lambda: parse_ts(values.get("ts"), now))
    query = _parse_query(values, rules, prefix, problems)
    if problems or query is None or ts is None:
        raise ValidationError(problems)
    channel = _clean(values.get("channel")).lower()
    # A retry without a timestamp is the same observation, though "now" has moved on.
    stamp = ts.isoformat() if _text(values.get("ts")) else ""
    return Record(record_id, channel, ts, query, _fingerprint(channel, stamp, query))


def parse_query(
    values: Mapping[str, str], rules: NormalizationRules = DEFAULT_RULES, *, prefix: str = ""
) -> Query:
    problems: list[FieldViolation] = []
    query = _parse_query(values, rules, prefix, problems)
    if problems or query is None:
        raise ValidationError(problems)
    return query


def _parse_query(
    values: Mapping[str, str],
    rules: NormalizationRules,
    prefix: str,
    problems: list[FieldViolation],
) -> Query | None:
    before = len(problems)
    get = values.get
    # Lookups carry one or two fields: empty ones must cost next to nothing.
    attributes = _EMPTY
    if get("given_name") or get("surname") or get("dob") or get("postcode"):
        attributes = Attributes(
            given_name=_name(problems, prefix + "given_name", get("given_name")),
            surname=_name(problems, prefix + "surname", get("surname")),
            dob=_field(problems, prefix + "dob", lambda: parse_dob(get("dob"))),
            postcode=_clean(get("postcode")).upper(),
        )
    observed: list[Observed] = []
    for name, kind in IDENTIFIER_FIELDS.items():
        raw = get(name)
        if not raw or not (raw := _text(raw)):
            continue
        platform = _text(get("handle_platform")) or None if kind is _HANDLE else None
        try:
            found = normalize(kind, raw, platform=platform, rules=rules)
        except InvalidValue as exc:
            problems.append(FieldViolation(prefix + name, str(exc)))
            continue
        observed.append(Observed(found.identifier, found.placeholder))
    if len(problems) > before:
        return None
    if len(observed) > 1:
        observed = sorted(set(observed), key=lambda o: o.identifier)
    return Query(attributes, tuple(observed))


def parse_ts(raw: str | None, now: datetime | None = None) -> datetime:
    text = _text(raw)
    if not text:
        return now or datetime.now(UTC)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue("not an ISO-8601 timestamp such as 2024-03-01T12:00:00Z") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def parse_dob(raw: str | None) -> date | None:
    text = _text(raw)
    if not text:
        return None
    try:
        dob = date.fromisoformat(text)
    except ValueError:
        raise InvalidValue("not a date in YYYY-MM-DD form") from None
    if not _EARLIEST_DOB <= dob <= date.today():
        raise InvalidValue(f"date of birth {dob} is out of range")
    return dob


def _name(problems: list[FieldViolation], field: str, raw: str | None) -> str:
    text = _clean(raw)
    if any(ch.isdigit() for ch in text):
        problems.append(FieldViolation(field, "a name has no digits"))
    return text


def _field(problems: list[FieldViolation], field: str, parse: Callable[[], T]) -> T | None:
    try:
        return parse()
    except InvalidValue as exc:
        problems.append(FieldViolation(field, str(exc)))
        return None


def _text(raw: str | None) -> str:
    return (raw or "").strip()[: MAX_TEXT * 4]


def _clean(raw: str | None) -> str:
    return _SPACES.sub(" ", _text(raw))[:MAX_TEXT]


def _fingerprint(channel: str, stamp: str, query: Query) -> str:
    a = query.attributes
    parts = [channel, stamp, a.given_name, a.surname, str(a.dob), a.postcode]
    parts += [o.identifier.key for o in query.identifiers]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
