"""Records: one observation from one channel, validated and normalized field by field.

Tolerance at the edge: a record with a usable id always parses. A field that does not
validate is kept raw with its reason (`Flagged`) and is not used to link, so one mistyped
phone never costs the customer the rest of the record.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from idres.resolver.domain.errors import FieldViolation, InvalidValue, ValidationError
from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.names import display_name, placeholder_name
from idres.resolver.domain.normalize import (
    DEFAULT_RULES,
    NormalizationRules,
    normalize,
    normalize_postcode,
    region_of,
)

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
    "street_number",
    "street",
    "locality",
    "state",
    "country",
)
"""The record schema; every column optional but the id. `country` only tells which region a
record's phone and postcode are read in."""
ADDRESS_FIELDS: tuple[str, ...] = ("street_number", "street", "locality", "state")
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
PLACEHOLDER_DOBS = frozenset({date(1900, 1, 1), date(1901, 1, 1), date(1970, 1, 1)})
"""Dates systems fill in for "unknown" (and the Unix epoch): far more common than any birthday."""
_DIGIT = re.compile(r"\d")
_SYMBOLS = re.compile(r"[^\w\s,.'\-]|_")
_T = TypeVar("_T")


def _pickled_by_position(cls: type[_T]) -> type[_T]:
    """Pickles the class as its constructor's arguments in order. A batch read sends every
    record from a worker process, and the default for a slotted dataclass walks its fields in
    Python: several times slower to load."""
    values = operator.attrgetter(*cls.__slots__)  # type: ignore[attr-defined]

    def reduce(self: Any) -> tuple[type[_T], tuple[Any, ...]]:
        return cls, values(self)

    setattr(cls, "__reduce__", reduce)  # noqa: B010 (mypy refuses a method assigned directly)
    return cls


@_pickled_by_position
@dataclass(frozen=True, slots=True)
class Attributes:
    """Weak attributes: they corroborate or contradict, never link on their own."""

    given_name: str = ""
    surname: str = ""
    dob: date | None = None
    postcode: str = ""
    street_number: str = ""
    street: str = ""
    locality: str = ""
    state: str = ""
    """State, county or province."""

    @property
    def empty(self) -> bool:
        return not (
            self.given_name
            or self.surname
            or self.dob
            or self.postcode
            or self.street
            or self.locality
            or self.street_number
            or self.state
        )

    @property
    def address(self) -> tuple[str, str, str, str]:
        return (self.street_number, self.street, self.locality, self.state)


@_pickled_by_position
@dataclass(frozen=True, slots=True)
class Flagged:
    """A field kept as given but not used to link, and why: a warning, never a rejection."""

    field: str
    """The record column, such as `phone`."""
    raw: str
    reason: str


_EMPTY = Attributes()
_HANDLE = IdentifierKind.SOCIAL_HANDLE


@_pickled_by_position
@dataclass(frozen=True, slots=True)
class Observed:
    """An identifier as a record carried it."""

    identifier: Identifier
    placeholder: bool


@_pickled_by_position
@dataclass(frozen=True, slots=True)
class Query:
    """What a channel knows about someone: identifiers and attributes, nothing stored."""

    attributes: Attributes
    identifiers: tuple[Observed, ...]
    flagged: tuple[Flagged, ...] = ()


@_pickled_by_position
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

    @property
    def flagged(self) -> tuple[Flagged, ...]:
        return self.query.flagged


ERASED = "erased on request: not kept"
"""Why a suppressed identifier is missing from a record (see `domain.erasure`)."""


def redacted(record: Record, erased: Collection[Identifier | Flagged], fingerprint: str) -> Record:
    """The record without the identifiers and raw values that were erased: each is named as
    a field with no value. `fingerprint` replaces its print, taken of the erased values."""
    kept = tuple(o for o in record.identifiers if o.identifier not in erased)
    gone = [Flagged(FIELD_OF_KIND[o.identifier.kind], "", ERASED) for o in record.identifiers]
    gone = [g for g, o in zip(gone, record.identifiers, strict=True) if o.identifier in erased]
    flagged = [f if f not in erased else Flagged(f.field, "", ERASED) for f in record.flagged]
    query = Query(record.attributes, kept, (*flagged, *gone))
    return replace(record, query=query, fingerprint=fingerprint)


def parse_record(
    values: Mapping[str, str],
    rules: NormalizationRules = DEFAULT_RULES,
    *,
    prefix: str = "record.",
    now: datetime | None = None,
) -> Record:
    """A canonical-schema mapping as a record: raises ValidationError only for a missing or
    malformed record id; any other bad field is flagged (see `Flagged`)."""
    record_id = _text(values.get("record_id"))
    if not record_id:
        raise ValidationError([FieldViolation(prefix + "record_id", "required")])
    if not _RECORD_ID.match(record_id):
        raise ValidationError(
            [FieldViolation(prefix + "record_id", "1-128 letters, digits or ._:@/#+=- characters")]
        )
    flagged: list[Flagged] = []
    stamp = _text(values.get("ts"))
    try:
        ts = parse_ts(stamp, now)
    except InvalidValue as exc:
        flagged.append(Flagged("ts", stamp, str(exc)))
        ts, stamp = now or datetime.now(UTC), ""
    query = _parse_query(values, rules, flagged)
    channel = _clean(values.get("channel")).lower()
    # A retry without a timestamp is the same observation, though "now" has moved on.
    stamp = ts.isoformat() if stamp else ""
    return Record(record_id, channel, ts, query, _fingerprint(channel, stamp, query))


def parse_query(values: Mapping[str, str], rules: NormalizationRules = DEFAULT_RULES) -> Query:
    """What a lookup carries; fields that do not validate are flagged, never raised."""
    return _parse_query(values, rules, [])


def warnings(flagged: tuple[Flagged, ...], prefix: str = "") -> tuple[FieldViolation, ...]:
    """Flagged fields as field violations, for a response or a summary to name."""
    return tuple(FieldViolation(prefix + f.field, f.reason) for f in flagged)


def _parse_query(
    values: Mapping[str, str], rules: NormalizationRules, flagged: list[Flagged]
) -> Query:
    get = values.get
    region = None
    if get("phone") or get("postcode"):
        region = region_of(
            _text(get("postcode")),
            country=_text(get("country")),
            channel=_text(get("channel")).lower(),
            rules=rules,
        )
    # Lookups carry one or two fields: empty ones must cost next to nothing.
    attributes = _EMPTY
    if any(get(name) for name in _ATTRIBUTE_FIELDS):
        attributes = _attributes(values, region, flagged)
    observed: list[Observed] = []
    for name, kind in IDENTIFIER_FIELDS.items():
        raw = get(name)
        if not raw or not (raw := _text(raw)):
            continue
        platform = _text(get("handle_platform")) or None if kind is _HANDLE else None
        try:
            found = normalize(kind, raw, platform=platform, rules=rules, region=region)
        except InvalidValue as exc:
            flagged.append(Flagged(name, raw[:MAX_TEXT], str(exc)))
            continue
        observed.append(Observed(found.identifier, found.placeholder))
    if len(observed) > 1:
        observed = sorted(set(observed), key=lambda o: o.identifier)
    return Query(attributes, tuple(observed), tuple(flagged))


_ATTRIBUTE_FIELDS = ("given_name", "surname", "dob", "postcode", *ADDRESS_FIELDS)


def _attributes(
    values: Mapping[str, str], region: str | None, flagged: list[Flagged]
) -> Attributes:
    def text(name: str) -> str:
        return _bounded(name, values.get(name), flagged)

    given, surname = _names(text("given_name"), text("surname"))
    return Attributes(
        given_name=_checked_name("given_name", given, flagged),
        surname=_checked_name("surname", surname, flagged),
        dob=_dob(_text(values.get("dob")), flagged),
        postcode=normalize_postcode(text("postcode"), region),
        street_number=text("street_number").upper(),
        street=text("street"),
        locality=text("locality"),
        state=text("state"),
    )


def _bounded(name: str, raw: str | None, flagged: list[Flagged]) -> str:
    """The field's text; one longer than `MAX_TEXT` is no name or address anyone has, and is
    flagged (its start kept) rather than cut to something that might link."""
    text = _SPACES.sub(" ", _text(raw))
    if len(text) > MAX_TEXT:
        flagged.append(Flagged(name, text[:MAX_TEXT], f"longer than {MAX_TEXT} characters"))
        return ""
    return text


def _names(given: str, surname: str) -> tuple[str, str]:
    """A display name in the given-name field alone is split as people write it, and
    "Smith," + "John" across the two fields is John Smith."""
    if not surname:
        return display_name(given) if given else ("", "")
    if given.endswith(","):
        given, surname = surname, given.rstrip(",")
    return _SYMBOLS.sub(" ", given).strip(), _SYMBOLS.sub(" ", surname).strip()


def _checked_name(field: str, text: str, flagged: list[Flagged]) -> str:
    text = _SPACES.sub(" ", text)
    if _DIGIT.search(text):
        flagged.append(Flagged(field, text, "a name has no digits"))
        return ""
    if text and placeholder_name(text):
        flagged.append(Flagged(field, text, "a placeholder, not a name"))
        return ""
    return text


def _dob(text: str, flagged: list[Flagged]) -> date | None:
    try:
        dob = parse_dob(text)
    except InvalidValue as exc:
        flagged.append(Flagged("dob", text[:MAX_TEXT], str(exc)))
        return None
    if dob in PLACEHOLDER_DOBS:
        flagged.append(Flagged("dob", text, "a placeholder date, not a birthday"))
        return None
    return dob


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


def _text(raw: str | None) -> str:
    return (raw or "").strip()[: MAX_TEXT * 4]


def _clean(raw: str | None) -> str:
    return _SPACES.sub(" ", _text(raw))[:MAX_TEXT]


def _fingerprint(channel: str, stamp: str, query: Query) -> str:
    a = query.attributes
    parts = [channel, stamp, a.given_name, a.surname, str(a.dob), a.postcode]
    parts += [o.identifier.key for o in query.identifiers]
    # Appended only when present, so records stored before these fields keep their prints.
    if any(a.address):
        parts += a.address
    parts += [f"{f.field}={f.raw}" for f in query.flagged]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
