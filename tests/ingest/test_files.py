"""Table files: every format round-trips, and damaged rows are reported without stopping a load."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from idres.ingest.files import RawRow, open_table, write_table
from idres.resolver.domain.records import CANONICAL_COLUMNS

FORMATS = (
    "people.csv",
    "people.csv.gz",
    "people.parquet",
    "people.jsonl",
    "people.jsonl.gz",
    "people.ndjson",
)
ROWS: list[list[str | None]] = [
    ["web-000001", "web", "2024-03-01T12:34:56Z", "Zoë", "O'Brien", None, "SW1A 1AA",
     "Zoe.OBrien+shop@gmail.com", None, None, None, "GA1.2.1234567890.1700000000", None,
     "10", "Downing Street", "London", None, "GB"],
    ["call-000001", "call_centre", "2024-03-02T08:00:00Z", "Bob", "Smith, Jr", "1980-07-03",
     "m1 1ae", None, "07911 123456", None, None, None, None, None, None, None, None, None],
    ["social-000001", "social_care", "2024-03-03T09:15:00Z", "", 'Quote "the" Name', None, None,
     None, None, "@bob_smith", "x", None, "6338 0000 0000 0001", None, None, None, None, None],
    ["store-000001", "store", "2024-03-04T10:00:00Z", "Multi\nLine", "Lee", None, "EH8 9YL",
     None, "n/a", None, None, None, "6338000000000001", "2a", "Royal Mile", "Edinburgh",
     "Midlothian", None],
]  # fmt: skip


def _expected(row: list[str | None]) -> dict[str, str]:
    return {c: v or "" for c, v in zip(CANONICAL_COLUMNS, row, strict=True)}


def _read(path: Path) -> list[RawRow]:
    with open_table(path) as table:
        return list(table)


@pytest.mark.parametrize("name", FORMATS)
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_table(path, CANONICAL_COLUMNS, ROWS) == len(ROWS)
    rows = _read(path)
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert all(r.error is None for r in rows)
    assert [r.values for r in rows] == [_expected(row) for row in ROWS]
    with open_table(path) as table:
        assert table.columns == CANONICAL_COLUMNS
        assert table.extra_columns == ()


@pytest.mark.parametrize("name", ["people.csv", "people.parquet", "people.jsonl.gz"])
def test_count_rows(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rows = [[f"r{i}", "web", None] for i in range(2500)]
    write_table(path, ("record_id", "channel", "ts"), rows)
    with open_table(path) as table:
        assert table.count_rows() == 2500
        assert sum(1 for _ in table) == 2500


@pytest.mark.parametrize("name", ["people.csv", "people.parquet", "people.jsonl"])
def test_extra_and_missing_columns(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_table(path, ("record_id", "email", "favourite_colour"), [["a-1", "a@b.com", "teal"]])
    with open_table(path) as table:
        assert table.extra_columns == ("favourite_colour",)
        (row,) = list(table)
    assert set(row.values) == set(CANONICAL_COLUMNS)
    assert row.values["email"] == "a@b.com"
    assert row.values["phone"] == ""


@pytest.mark.parametrize("name", ["people.csv", "people.parquet", "people.jsonl"])
def test_missing_record_id_column(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_table(path, ("email", "phone"), [["a@b.com", "07911123456"]])
    with pytest.raises(ValueError, match="record_id"):
        open_table(path)


def test_unsupported_and_absent_files(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"unsupported file type .*use \.csv, \.parquet or \.jsonl"
    ):
        open_table(tmp_path / "people.xlsx")
    with pytest.raises(ValueError, match="unsupported file type"):
        write_table(tmp_path / "people.txt", ("record_id",), [])
    with pytest.raises(FileNotFoundError):
        open_table(tmp_path / "absent.csv")


def test_malformed_jsonl_lines(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl"
    lines = [
        json.dumps({"record_id": "a-1", "email": "a@b.com"}),
        '{"record_id": "a-2", "email": ',
        "",
        json.dumps({"record_id": "a-3", "phone": "07911 123456"}),
        "[1, 2, 3]",
        json.dumps({"record_id": "a-4"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _read(path)
    assert [r.number for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1].error is not None and "JSON" in rows[1].error and rows[1].values == {}
    assert rows[3].error is not None and "object" in rows[3].error
    assert rows[2].values["phone"] == "07911 123456"
    assert rows[4].error is None and rows[4].values["record_id"] == "a-4"


def test_csv_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "record_id,email\na-1,a@b.com\na-2,x@y.com,surplus\n\na-3\na-4,d@e.com\n", encoding="utf-8"
    )
    rows = _read(path)
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert rows[1].error == "expected 2 fields, found 3"
    assert rows[2].error == "expected 2 fields, found 1"
    assert rows[3].error is None and rows[3].values["email"] == "d@e.com"


def test_csv_header_forgiven_for_bom_case_and_padding(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes("\ufeffRecord_ID, Email \nweb-1,a@b.com\n".encode())
    (row,) = _read(path)
    assert row.values["record_id"] == "web-1" and row.values["email"] == "a@b.com"


def test_parquet_typed_columns_become_text(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    table = pa.table(
        {
            "record_id": pa.array([42, 43], pa.int64()),
            "ts": pa.array(
                [datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC), None], pa.timestamp("ns", "UTC")
            ),
            "dob": pa.array([date(1985, 3, 7), None], pa.date32()),
            "phone": pa.array([7911123456.0, 1.5], pa.float64()),
            "loyalty_card": pa.array([6338000000000001, None], pa.int64()),
        }
    )
    pq.write_table(table, path)
    first, second = _read(path)
    assert first.values["record_id"] == "42"
    assert first.values["ts"] == "2024-03-01T12:34:56Z"
    assert first.values["dob"] == "1985-03-07"
    assert first.values["phone"] == "7911123456"
    assert first.values["loyalty_card"] == "6338000000000001"
    assert second.values["ts"] == "" and second.values["phone"] == "1.5"


def test_jsonl_numbers_and_nulls_become_text(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl.gz"
    obj = {"record_id": 17, "phone": 7911123456.0, "email": None, "Handle": "@bob", "x": [1]}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(obj) + "\n")
    with open_table(path) as table:
        assert table.extra_columns == ("x",)
        (row,) = list(table)
    assert row.values["record_id"] == "17"
    assert row.values["phone"] == "7911123456"
    assert row.values["email"] == ""
    assert row.values["handle"] == "@bob"


def test_empty_tables(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.parquet", "empty.jsonl"):
        path = tmp_path / name
        assert write_table(path, CANONICAL_COLUMNS, []) == 0
        with open_table(path) as table:
            assert list(table) == []
            assert table.count_rows() == 0


def test_closing_the_reader_ends_open_streams(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    write_table(path, CANONICAL_COLUMNS, ROWS)
    with open_table(path) as table:
        rows = iter(table)
        assert next(rows).number == 1
    with pytest.raises(StopIteration):
        next(rows)


def test_write_rejects_ragged_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="row 2 has 1 values for 2 columns"):
        write_table(tmp_path / "bad.csv", ("record_id", "email"), [["a", "b"], ["c"]])
