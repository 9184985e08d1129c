"""Overlapping bridging records from many clients must neither lose nor duplicate customers."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import psycopg
import pytest
from google.protobuf import json_format

from idres.resolver.resolution import Resolver
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

PEOPLE = ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon"]
LINKS = 5


def workload(seed: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Per person a chain of emails, each bridged to the next; shuffled so bridges race."""
    records: list[dict[str, str]] = []
    truth: dict[str, str] = {}
    for person in PEOPLE:
        emails = [f"{person.lower()}.{i}@post.co.uk" for i in range(LINKS)]
        base = {"given_name": person, "surname": "Roe"}
        rows = [{"email": e} for e in emails]
        rows += [
            {"email": a, "handle": f"@{person.lower()}{i}", "handle_platform": "x"}
            for i, a in enumerate(emails)
        ]
        rows += [{"email": a} | {"loyalty_card": ""} for a in emails[1:]]
        rows += [
            {"email": emails[i], "phone": ""} | {"device_id": f"{person.lower()}-dev-{i:04d}"}
            for i in range(LINKS)
        ]
        for i in range(LINKS - 1):
            rows.append({"email": emails[i], "device_id": f"{person.lower()}-dev-{i + 1:04d}"})
        for n, row in enumerate(rows):
            rid = f"{person}-{n}"
            records.append({"record_id": rid, **base, **{k: v for k, v in row.items() if v}})
            truth[rid] = person
    random.Random(seed).shuffle(records)
    return records, truth


def assert_one_customer_per_person(url: str, truth: dict[str, str]) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT record_id, customer_id FROM records").fetchall()
        live = conn.execute("SELECT count(*) FROM customers WHERE merged_into IS NULL").fetchone()
    assert len(rows) == len(truth), "records lost or duplicated"
    by_person: dict[str, set[str]] = {}
    for record_id, customer_id in rows:
        by_person.setdefault(truth[record_id], set()).add(customer_id)
    assert all(len(c) == 1 for c in by_person.values()), by_person
    assert len({next(iter(c)) for c in by_person.values()}) == len(PEOPLE)
    assert live is not None and live[0] == len(PEOPLE)


def test_threads_on_one_resolver(resolver: Resolver) -> None:
    records, truth = workload(seed=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(resolver.observe_values, records))
    assert_one_customer_per_person(resolver.db.url, truth)


@pytest.fixture
def two_servers(database_url: str) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "IDRES_DATABASE_URL": database_url,
        "IDRES_PORT": "0",
        "IDRES_SYNC_INTERVAL_S": "0.05",
        # One process each: these servers are about one store; tests/cli/test_serve_processes.py
        # covers several processes on a port.
        "IDRES_PROCESSES": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "idres.cli", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    addresses = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"serving on (127\.0\.0\.1:\d+)", line)
            assert found, f"server did not start: {line!r}"
            addresses.append(found.group(1))
        yield addresses
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            assert proc.wait(timeout=30) == 0


def test_two_server_processes_on_one_database(two_servers: list[str], database_url: str) -> None:
    records, truth = workload(seed=2)
    channels = [grpc.insecure_channel(a) for a in two_servers]
    stubs = [rpc.IdentityServiceStub(c) for c in channels]

    def send(item: tuple[int, dict[str, str]]) -> None:
        n, values = item
        stubs[n % 2].Observe(
            pb.ObserveRequest(record=json_format.ParseDict(values, pb.Record())), timeout=30
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, enumerate(records)))
    assert_one_customer_per_person(database_url, truth)
    # Each replica learns the other's writes from the store and answers the same.
    deadline = time.monotonic() + 15
    while True:
        answers = {
            (person, stub_n): stub.Resolve(
                pb.ResolveRequest(email=f"{person.lower()}.0@post.co.uk"), timeout=5
            ).customer_id
            for person in PEOPLE
            for stub_n, stub in enumerate(stubs)
        }
        agree = all(answers[(p, 0)] == answers[(p, 1)] != "" for p in PEOPLE)
        if agree or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert agree, answers
    assert len({answers[(p, 0)] for p in PEOPLE}) == len(PEOPLE)
    for channel in channels:
        channel.close()
