"""The `idres` command as a person at a terminal uses it, against a real database and server."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from idres.resolver.transport.server import IdresServer

Idres = Callable[..., subprocess.CompletedProcess[str]]


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["record_id", "email", "phone", "given_name", "shoe_size"]
        )
        writer.writeheader()
        writer.writerows(rows)


def test_ingest_keeps_bad_fields_as_warnings_and_loads_every_row(
    idres: Idres, tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "records.csv"
    write_csv(
        data,
        [
            {"record_id": "r1", "email": "amy@post.co.uk", "given_name": "Amy", "shoe_size": "5"},
            {"record_id": "r2", "email": "not-an-email", "given_name": "Amy"},
            {"record_id": "r3", "email": "AMY@post.co.uk", "phone": "07911 123456"},
            {"record_id": "r4", "phone": "+44 7911 123456", "given_name": "Ben9"},
            {"record_id": "r5", "phone": "07911 123458", "given_name": "Cal"},
            {"record_id": "", "phone": "07911 123459", "given_name": "Dee"},
        ],
    )
    # One row in flight, so the counts below do not depend on which row a thread got first.
    args = ("ingest", str(data), "--quiet", "--workers", "1")
    done = idres(*args, database_url=database_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "records read:        6" in done.stdout
    assert "rejected rows:       1" in done.stdout
    assert "row 6: record_id: required" in done.stdout
    assert "warned rows:         2" in done.stdout
    assert "customers created:   3" in done.stdout
    assert "row 2: email: not an email address" in done.stdout
    assert "row 4: given_name: a name has no digits" in done.stdout
    assert "shoe_size" in done.stderr  # extra columns are named in a warning

    out = tmp_path / "clusters.csv"
    exported = idres("export", "--out", str(out), database_url=database_url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with out.open() as f:
        rows = {r["record_id"]: r["customer_id"] for r in csv.DictReader(f)}
    assert set(rows) == {"r1", "r2", "r3", "r4", "r5"}
    assert rows["r1"] == rows["r3"] == rows["r4"] != rows["r5"]

    parquet = tmp_path / "clusters.parquet"
    assert (
        idres("export", "--out", str(parquet), database_url=database_url, cwd=tmp_path).returncode
        == 0
    )
    assert pq.read_table(parquet).num_rows == 5


def test_ingest_of_a_missing_file_is_a_clear_error(
    idres: Idres, tmp_path: Path, database_url: str
) -> None:
    done = idres("ingest", str(tmp_path / "nope.csv"), database_url=database_url, cwd=tmp_path)
    assert done.returncode == 1 and "no such file" in done.stderr


def test_generate_then_ingest(idres: Idres, tmp_path: Path, database_url: str) -> None:
    out = tmp_path / "people.jsonl"
    made = idres(
        "generate",
        "--persons",
        "60",
        "--seed",
        "3",
        "--out",
        str(out),
        database_url=database_url,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "people.truth.csv").exists()
    loaded = idres("ingest", str(out), "--quiet", database_url=database_url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    created = next(line for line in loaded.stdout.splitlines() if "customers created" in line)
    assert 60 <= int(created.split()[-1].replace(",", "")) < 200


def test_resolve_prints_the_answer(
    idres: Idres, server: IdresServer, database_url: str, tmp_path: Path
) -> None:
    obs = server.resolver.observe_values({"record_id": "w1", "email": "dee@post.co.uk"})
    done = idres(
        "resolve",
        "--email",
        " DEE@post.co.uk ",
        "--target",
        server.address,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert obs.customer_id in done.stdout and "match" in done.stdout
    bad = idres(
        "resolve",
        "--phone",
        "12",
        "--target",
        server.address,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "INVALID_ARGUMENT" in bad.stdout and "phone:" in bad.stdout
    partly = idres(
        "resolve",
        "--email",
        "dee@post.co.uk",
        "--phone",
        "12",
        "--target",
        server.address,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert partly.returncode == 0, partly.stderr
    assert obs.customer_id in partly.stdout and "not used" in partly.stdout


def test_bulk_ingest_trains_loads_and_skips_what_is_stored(
    idres: Idres, tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "people.csv"
    made = idres(
        "generate", "--persons", "150", "--seed", "4", "--out", str(data),
        database_url=database_url, cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    args = ("ingest", "--bulk", str(data), "--quiet", "--max-pairs", "100000")
    first = idres(*args, database_url=database_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "(trained on this file)" in first.stdout
    loaded = int(first.stdout.split("loaded")[1].split()[0].replace(",", ""))
    assert loaded > 400 and "row " in first.stdout  # the generator's malformed rows, by number
    again = idres(*args, database_url=database_url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "loaded             0 records" in again.stdout
    assert f"already stored     {loaded:,}" in again.stdout and "(active)" in again.stdout
    missing = idres("ingest", "--bulk", "nope.csv", database_url=database_url, cwd=tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_merge_split_and_overrides_at_the_terminal(
    idres: Idres, server: IdresServer, database_url: str, tmp_path: Path
) -> None:
    observe = server.resolver.observe_values
    a = observe({"record_id": "o1", "email": "ola@post.co.uk"}).customer_id
    observe({"record_id": "o2", "email": "ola@post.co.uk", "phone": "+447911300002"})
    b = observe({"record_id": "o3", "phone": "+447911300003"}).customer_id
    target = ("--target", server.address)
    merged = idres(
        "merge",
        b,
        a,
        "--reason",
        "same person",
        "--by",
        "ops",
        *target,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert merged.returncode == 0, merged.stderr
    assert merged.stdout.strip() == a and b in merged.stderr
    split = idres(
        "split",
        a,
        "--records",
        "o3",
        "--reason",
        "not her",
        *target,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert split.returncode == 0, split.stderr
    moved = split.stdout.strip()
    assert moved.startswith("cus_") and moved != a
    listed = idres("overrides", database_url=database_url, cwd=tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["kind"], r["actor"], r["reason"]) for r in rows] == [
        ("merge", "ops", "same person"),
        ("split", rows[1]["actor"], "not her"),
    ]
    assert rows[1]["sides"] == [["o1", "o2"], ["o3"]] and rows[1]["customers"] == [a, moved]
    refused = idres(
        "split",
        a,
        "--records",
        "nope",
        "--reason",
        "x",
        *target,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert refused.returncode == 2 and "record_ids" in refused.stderr


def test_watch_prints_changes_as_json_lines(
    idres: Idres, server: IdresServer, database_url: str, tmp_path: Path
) -> None:
    first = server.resolver.observe_values({"record_id": "x1", "email": "xia@post.co.uk"})
    done = idres(
        "watch", "--limit", "2", "--target", server.address, database_url=database_url, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(c["type"], c["customer_id"]) for c in lines] == [
        ("created", first.customer_id),
        ("linked", first.customer_id),
    ]
    assert lines[1]["record_ids"] == ["x1"] and int(lines[1]["cursor"]) > int(lines[0]["cursor"])
    bad = idres(
        "watch",
        "--after",
        "soon",
        "--limit",
        "1",
        "--target",
        server.address,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "after" in bad.stderr


def test_review_lists_and_decides(
    idres: Idres, server: IdresServer, database_url: str, tmp_path: Path
) -> None:
    observe = server.resolver.observe_values
    ann = observe({"record_id": "a1", "email": "ann@post.co.uk", "given_name": "Ann"})
    observe(
        {"record_id": "b1", "handle": "@bea_cli", "handle_platform": "twitter", "given_name": "Bea"}
    )
    observe(
        {
            "record_id": "q1",
            "email": "ann@post.co.uk",
            "handle": "@bea_cli",
            "handle_platform": "twitter",
        }
    )
    target = ("--target", server.address)
    listed = idres("review", *target, database_url=database_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "q1" in listed.stdout and "waiting" in listed.stdout
    review_id = listed.stdout.splitlines()[2].split()[0]
    unsure = idres("review", review_id, *target, database_url=database_url, cwd=tmp_path)
    assert unsure.returncode == 2 and "--same or --different" in unsure.stderr
    done = idres(
        "review",
        review_id,
        "--same",
        "--candidate",
        ann.customer_id,
        "--reason",
        "called her",
        *target,
        database_url=database_url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ann.customer_id
    empty = idres("review", *target, database_url=database_url, cwd=tmp_path)
    assert "no reviews waiting" in empty.stdout


def test_forget_prints_a_receipt_and_lift_undoes_the_suppression(
    idres: Idres, server: IdresServer, database_url: str, tmp_path: Path
) -> None:
    observe = server.resolver.observe_values
    customer = observe({"record_id": "f1", "email": "fay@post.co.uk"}).customer_id
    observe({"record_id": "f2", "email": "fay@post.co.uk", "phone": "+447911300009"})
    target = ("--target", server.address, "--reason", "asked", "--by", "dpo")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return idres("forget", *args, *target, database_url=database_url, cwd=tmp_path)

    forgot = run("--record", "f2")
    assert forgot.returncode == 0, forgot.stderr
    receipt = json.loads(forgot.stdout)
    assert receipt["record_ids"] == ["f2"] and receipt["customer_ids"] == [customer]
    assert receipt["removed"]["records"] == 1 and receipt["target"] == "record"
    whole = json.loads(run("--customer", customer).stdout)
    assert whole["forgotten_customer_ids"] == [customer]
    bad = run("--identifier", "fax:123")
    assert bad.returncode == 2 and "KIND:VALUE" in bad.stderr
    lifted = run("--lift", "--identifier", "email:FAY@post.co.uk")
    assert lifted.returncode == 0 and lifted.stdout.strip() == "1"
    missing = run("--record", "f2")
    assert missing.returncode == 2 and "no record" in missing.stderr


def test_ingest_through_a_running_server_reports_like_a_local_load(
    idres: Idres, tmp_path: Path, database_url: str, server: IdresServer
) -> None:
    data = tmp_path / "records.csv"
    write_csv(
        data,
        [
            {"record_id": "r1", "email": "amy@post.co.uk", "given_name": "Amy", "shoe_size": "5"},
            {"record_id": "r2", "email": "not-an-email", "given_name": "Amy"},
            {"record_id": "r3", "email": "AMY@post.co.uk", "phone": "07911 123456"},
            {"record_id": "r4", "phone": "+44 7911 123456", "given_name": "Ben9"},
            {"record_id": "r5", "phone": "07911 123458", "given_name": "Cal"},
            {"record_id": "", "phone": "07911 123459", "given_name": "Dee"},
        ],
    )
    rejects = tmp_path / "rejects.csv"
    args = ("ingest", "--server", server.address, str(data), "--quiet", "--batch", "2")
    # One batch in flight, so the counts do not depend on which batch the server took first.
    first = (*args, "--workers", "1", "--rejects", str(rejects))
    done = idres(*first, database_url=database_url, cwd=tmp_path)
    again = idres(*args, database_url=database_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "records read:        6" in done.stdout
    assert "rejected rows:       1" in done.stdout
    assert "row 6: record_id: required" in done.stdout
    assert "warned rows:         2" in done.stdout
    assert "customers created:   3" in done.stdout
    assert "row 2: email: not an email address" in done.stdout
    assert "row 4: given_name: a name has no digits" in done.stdout
    assert "shoe_size" in done.stderr
    assert "row,field,reason" in rejects.read_text()
    assert again.returncode == 0, again.stderr
    assert "already observed:    5" in again.stdout


def test_ingest_to_a_server_that_is_not_there_says_so(idres: Idres, tmp_path: Path) -> None:
    data = tmp_path / "records.csv"
    write_csv(data, [{"record_id": "r1", "email": "amy@post.co.uk"}])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = f"127.0.0.1:{port}"
    done = idres("ingest", "--server", target, str(data), "--quiet", database_url="", cwd=tmp_path)
    assert done.returncode == 1
    assert f"127.0.0.1:{port}: the server stayed unavailable" in done.stderr
