"""Tables of canonical records in CSV, Parquet or JSON Lines, read as a stream of text rows.

Readers hand every value over as text, exactly as written: normalization and validation belong to
the resolver's domain, which must see the same strings whether a record arrives in a file or over
the API. Row-level damage (a bad JSON line, a CSV row with the wrong field count) becomes a
`RawRow` with an error so one bad row never stops a million-row load.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from idres.resolver.domain.records import CANONICAL_COLUMNS

REQUIRED_COLUMN = "record_id"

# Longest suffix first so that ".csv.gz" wins over ".gz".
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"),
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".csv", "csv"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".parquet", "parquet"),
)
_BATCH_ROWS = 65_536
# JSON Lines has no header: the columns are the keys seen in the first lines.
_JSONL_SAMPLE_LINES = 1_000
_CHUNK_BYTES = 1 << 20
_BLANK: dict[str, str] = dict.fromkeys(CANONICAL_COLUMNS, "")


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row as text; `number` counts data rows from 1, a CSV header not included."""

    number: int
    values: dict[str, str]
    error: str | None = None


def table_format(path: Path) -> str:
    """The format ("csv", "jsonl" or "parquet") named by the file's extension."""
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"unsupported file type {path.name!r}: use .csv, .parquet or .jsonl")


def split_suffix(path: Path) -> tuple[str, str]:
    """`people.csv.gz` -> ("people", ".csv.gz"): the stem and the full table extension."""
    name = path.name
    for suffix, _ in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    raise ValueError(f"unsupported file type {path.name!r}: use .csv, .parquet or .jsonl")


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig drops the byte-order mark spreadsheet exports put before the header.
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if _is_gzip(path) else path.open("rb")


def _count_lines(path: Path) -> int:
    """Newlines counted in raw chunks: far cheaper than parsing, exact for one row per line."""
    total, last = 0, b"\n"
    with _open_binary(path) as f:
        while chunk := f.read(_CHUNK_BYTES):
            total += chunk.count(b"\n")
            last = chunk[-1:]
    return total + (last != b"\n")


def _canonical_index(columns: Sequence[str], path: Path) -> dict[str, int]:
    """Canonical name -> position in the file; header case and padding are forgiven."""
    index: dict[str, int] = {}
    for position, column in enumerate(columns):
        name = column.strip().lower()
        if name not in _BLANK:
            continue
        if name in index:
            raise ValueError(f"{path.name}: column {name!r} appears more than once")
        index[name] = position
    return index


class TableReader:
    """Streams one table file; usable as a context manager that closes every open stream."""

    def __init__(self, path: Path, columns: Sequence[str], schema_known: bool = True) -> None:
        self.path = path
        self.columns: tuple[str, ...] = tuple(columns)
        self._index = _canonical_index(self.columns, path)
        self.extra_columns: tuple[str, ...] = tuple(
            c for c in self.columns if c.strip().lower() not in _BLANK
        )
        self.schema_known = schema_known
        self._streams: weakref.WeakSet[Generator[RawRow, None, None]] = weakref.WeakSet()

    @property
    def has_required_column(self) -> bool:
        return REQUIRED_COLUMN in self._index

    def __iter__(self) -> Iterator[RawRow]:
        rows = self._rows()
        self._streams.add(rows)
        return rows

    def _rows(self) -> Generator[RawRow, None, None]:
        raise NotImplementedError

    def count_rows(self) -> int | None:
        """A cheap total for progress bars, or None when it cannot be had cheaply."""
        return None

    def close(self) -> None:
        for stream in list(self._streams):
            stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _CsvReader(TableReader):
    def __init__(self, path: Path) -> None:
        with _open_text(path) as f:
            header = next(csv.reader(f), [])
        super().__init__(path, [h.strip() for h in header])

    def count_rows(self) -> int:
        return max(0, _count_lines(self.path) - 1)

    def _rows(self) -> Generator[RawRow, None, None]:
        with _open_text(self.path) as f:
            reader = csv.reader(f)
            next(reader, None)
            number = 0
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    number += 1
                    yield RawRow(number, {}, f"unreadable CSV row: {exc}")
                    continue
                except UnicodeDecodeError as exc:
                    raise ValueError(f"{self.path.name}: not UTF-8 after row {number}") from exc
                if not fields:  # blank line
                    continue
                number += 1
                yield self._row(number, fields)

    def _row(self, number: int, fields: list[str]) -> RawRow:
        if len(fields) != len(self.columns):
            error = f"expected {len(self.columns)} fields, found {len(fields)}"
            return RawRow(number, {}, error)
        values = dict(_BLANK)
        for name, position in self._index.items():
            values[name] = fields[position]
        return RawRow(number, values)


def _jsonl_columns(path: Path) -> tuple[list[str], bool]:
    """Keys of the first objects, in first-seen order, and whether any object was seen."""
    seen: dict[str, None] = {}
    found = False
    with _open_text(path) as f:
        for line in itertools.islice(f, _JSONL_SAMPLE_LINES):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                found = True
                seen.update(dict.fromkeys(obj))
    return list(seen), found


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _float_text(value: float) -> str:
    # 7.0 came from a number column, not a decimal: "7" is what the writer meant.
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    return repr(value)


class _JsonlReader(TableReader):
    def __init__(self, path: Path) -> None:
        columns, found = _jsonl_columns(path)
        super().__init__(path, columns, schema_known=found)
        # Look keys up by the spelling the file uses, so "Email" still fills `email`.
        spelled = {name: self.columns[i] for name, i in self._index.items()}
        self._keys = [(name, spelled.get(name, name)) for name in CANONICAL_COLUMNS]

    def count_rows(self) -> int:
        return _count_lines(self.path)

    def _rows(self) -> Generator[RawRow, None, None]:
        with _open_text(self.path) as f:
            number = 0
            try:
                for line in f:
                    if not line.strip():
                        continue
                    number += 1
                    yield self._row(number, line)
            except UnicodeDecodeError as exc:
                raise ValueError(f"{self.path.name}: not UTF-8 after row {number}") from exc

    def _row(self, number: int, line: str) -> RawRow:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            return RawRow(number, {}, f"invalid JSON: {exc}")
        if not isinstance(obj, dict):
            return RawRow(number, {}, f"expected a JSON object, found {type(obj).__name__}")
        values = dict(_BLANK)
        for name, key in self._keys:
            value = obj.get(key)
            if value is not None:
                values[name] = value if type(value) is str else _json_text(value)
        return RawRow(number, values)


def _iso_datetime(value: datetime, as_date: bool = False) -> str:
    """UTC ISO-8601 with a Z; naive timestamps are taken as UTC, the canonical zone."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if as_date and value.time() == time(0):
        return value.date().isoformat()
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _python_text(value: Any, as_date: bool) -> str:
    if isinstance(value, datetime):
        return _iso_datetime(value, as_date)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return _json_text(value)


def _arrow_texts(array: pa.ChunkedArray | pa.Array, name: str) -> list[str]:
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [v if v is not None else "" for v in array.to_pylist()]
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        # Python datetimes stop at microseconds; identity data never needs more.
        array = array.cast(pa.timestamp("us", tz=kind.tz), safe=False)
    as_date = name == "dob"  # a dob exported as a midnight timestamp is still a date
    return [_python_text(v, as_date) for v in array.to_pylist()]


class _ParquetReader(TableReader):
    def __init__(self, path: Path) -> None:
        self._file = pq.ParquetFile(path)
        try:
            super().__init__(path, self._file.schema_arrow.names)
        except ValueError:
            self._file.close()
            raise

    def count_rows(self) -> int:
        return int(self._file.metadata.num_rows)

    def close(self) -> None:
        super().close()
        self._file.close()

    def _rows(self) -> Generator[RawRow, None, None]:
        names = list(self._index)
        sources = [self.columns[i] for i in self._index.values()]
        number = 0
        for batch in self._file.iter_batches(batch_size=_BATCH_ROWS, columns=sources):
            texts = [_arrow_texts(batch.column(i), name) for i, name in enumerate(names)]
            for row in zip(*texts, strict=True):
                number += 1
                values = dict(_BLANK)
                values.update(zip(names, row, strict=True))
                yield RawRow(number, values)


_READERS: dict[str, Callable[[Path], TableReader]] = {
    "csv": _CsvReader,
    "jsonl": _JsonlReader,
    "parquet": _ParquetReader,
}


def open_table(path: Path) -> TableReader:
    """Open a table by extension; fails early on a wrong type, a missing file or no record_id."""
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such table file: {path}")
    reader = _READERS[fmt](path)
    if reader.schema_known and not reader.has_required_column:
        reader.close()
        found = ", ".join(reader.columns) or "none"
        raise ValueError(
            f"{path.name}: missing required column {REQUIRED_COLUMN!r} (columns found: {found})"
        )
    return reader


def _open_write_text(path: Path) -> IO[str]:
    if _is_gzip(path):
        # mtime=0 keeps the bytes identical for identical content (reproducible fixtures).
        raw = gzip.GzipFile(path, "wb", mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="")
    return path.open("w", encoding="utf-8", newline="")


def _checked(rows: Iterable[Sequence[str | None]], width: int) -> Iterator[Sequence[str | None]]:
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} values for {width} columns")
        yield row


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterable[Sequence[str | None]]) -> int:
    count = 0
    with _open_write_text(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in _checked(rows, len(columns)):
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count


def _write_jsonl(path: Path, columns: tuple[str, ...], rows: Iterable[Sequence[str | None]]) -> int:
    count = 0
    with _open_write_text(path) as f:
        for row in _checked(rows, len(columns)):
            obj = dict(zip(columns, row, strict=True))
            f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


def _write_parquet(
    path: Path, columns: tuple[str, ...], rows: Iterable[Sequence[str | None]]
) -> int:
    schema = pa.schema([(name, pa.string()) for name in columns])
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        batch: list[Sequence[str | None]] = []
        for row in _checked(rows, len(columns)):
            batch.append(row)
            if len(batch) == _BATCH_ROWS:
                count += _write_batch(writer, schema, batch)
                batch = []
        if batch:
            count += _write_batch(writer, schema, batch)
    return count


def _write_batch(
    writer: pq.ParquetWriter, schema: pa.Schema, batch: list[Sequence[str | None]]
) -> int:
    arrays = [pa.array([row[i] for row in batch], pa.string()) for i in range(len(schema))]
    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return len(batch)


_WRITERS: dict[str, Callable[[Path, tuple[str, ...], Iterable[Sequence[str | None]]], int]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
}


def write_table(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str | None]]) -> int:
    """Write rows by extension and return how many; None becomes empty (CSV) or null."""
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _WRITERS[fmt](path, tuple(columns), rows)
