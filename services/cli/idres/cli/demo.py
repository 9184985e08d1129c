"""`idres demo`: generate a sample, train the model on it, load it, serve it on loopback, and
ask it who people are."""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from idres.cli import render
from idres.cli.common import load_settings
from idres.ingest.frame import read_file
from idres.ingest.generator import default_truth_path, generate, write_dataset
from idres.ingest.loader import ingest_file
from idres.ingest.training import model_version, train, training_facts
from idres.resolver.adapters.database import ensure_database, open_database
from idres.resolver.adapters.embedded import embedded_server_url
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import InvalidValue
from idres.resolver.domain.normalize import normalize
from idres.resolver.domain.records import IDENTIFIER_FIELDS
from idres.resolver.settings import Settings
from idres.resolver.transport.server import create_server
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

DEMO_DATABASE = "idres_demo"
DEMO_MAX_PAIRS = 1_000_000
WEAK_FIELDS = ("given_name", "surname", "dob", "postcode")
# (channel asking, field it knows): one lookup per channel system, with the sample's own noise.
ASKS = (
    ("call_centre", "phone"),
    ("web", "email"),
    ("store", "loyalty_card"),
    ("social_care", "handle"),
    ("mobile_app", "device_id"),
    ("email", "email"),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="load a generated sample, serve it, resolve a few lookups",
        description="Runs the whole service on an embedded PostgreSQL, end to end.",
    )
    parser.add_argument("--persons", type=int, default=1000, help="people in the sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(port=0, host="127.0.0.1")
    url = settings.database_url or ensure_database(
        embedded_server_url(settings.data_dir), DEMO_DATABASE, recreate=True
    )
    settings = dataclasses.replace(settings, database_url=url)
    data = generate(args.persons, args.seed)
    sample = settings.data_dir / "demo" / "sample.csv"
    write_dataset(data, sample, default_truth_path(sample))
    print(f"1. generated {len(data.records):,} records of {args.persons:,} people: {sample}")
    print(f"2. {_train(sample, settings)}")
    server = create_server(settings)
    print(f"3. ingesting through model {server.resolver.model_version}")
    summary = ingest_file(sample, server.resolver)
    print("\n".join("   " + line for line in summary.lines()))
    server.start()
    print(f"4. serving idres.v1.IdentityService on {server.address}")
    try:
        rows = _ask(server.address, data.records, dict(data.truth))
    finally:
        server.stop()
    print("5. who is this?\n")
    heads = ("channel", "lookup", "decision", "p", "customer", "matched", "right person")
    print(render.table(heads, rows))
    print("\n6. server stopped")
    return 0


def _train(sample: Path, settings: Settings) -> str:
    """Trains on the sample with Splink and stores the model active, as `idres train` does."""
    started = time.perf_counter()
    frame = read_file(sample).table()
    model = train(frame, max_pairs=DEMO_MAX_PAIRS)
    version = model_version(model)
    db = open_database(settings.database_url, settings.data_dir, pool_size=1)
    try:
        ModelStore(Store(db)).save(version, model, training_facts(frame, model), activate=True)
    finally:
        db.close()
    return f"trained model {version} on the sample in {time.perf_counter() - started:.1f} s"


def _ask(
    address: str, records: list[dict[str, str]], truth: dict[str, str]
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with grpc.insecure_channel(address) as channel:
        stub = rpc.IdentityServiceStub(channel)
        for channel_name, lookup, request, person in _lookups(records, truth):
            answer = stub.Resolve(request, timeout=5)
            # A possible match names its best candidate, shown in brackets and checked too.
            best = answer.other_customer_ids[0] if answer.other_customer_ids else ""
            shown = answer.customer_id or (f"({best})" if best else "-")
            check = _check(stub, answer.customer_id or best, person, truth)
            rows.append(
                (
                    channel_name,
                    lookup,
                    render.decision(answer.decision),
                    _probability(answer),
                    shown,
                    render.matched(answer) if answer.customer_id else render.ignored(answer),
                    check,
                )
            )
    return rows


def _lookups(
    records: list[dict[str, str]], truth: dict[str, str]
) -> Iterator[tuple[str, str, pb.ResolveRequest, str]]:
    used: set[str] = set()
    # People seen by the most channels first: their lookups show linking across channels.
    reach: dict[str, set[str]] = {}
    for rec in records:
        reach.setdefault(truth.get(rec["record_id"], ""), set()).add(rec["channel"])
    ordered = sorted(records, key=lambda r: -len(reach[truth.get(r["record_id"], "")]))
    for channel_name, field in ASKS:
        for rec in ordered:
            person = truth.get(rec["record_id"], "")
            if rec["channel"] != channel_name or person in used or not _usable(rec, field):
                continue
            used.add(person)
            request = pb.ResolveRequest(channel=channel_name, **{field: rec[field]})
            if field == "handle":
                request.handle_platform = rec["handle_platform"]
            yield channel_name, f"{field} {rec[field]!r}", request, person
            break
    yield from _weak_lookup(ordered, truth)
    yield "web", "email 'test@test.com'", pb.ResolveRequest(email="test@test.com"), ""
    unknown = pb.ResolveRequest(email="first.visit@outlook.com")
    yield "web", "email 'first.visit@outlook.com'", unknown, ""


def _probability(answer: pb.ResolveResponse) -> str:
    """The model's probability, marked when a personal identifier also matched exactly."""
    if not answer.candidates:
        return "-"
    best = answer.candidates[0]
    return f"{best.probability:.2f}" + (" + id" if best.sure else "")


def _weak_lookup(
    records: list[dict[str, str]], truth: dict[str, str]
) -> Iterator[tuple[str, str, pb.ResolveRequest, str]]:
    """A caller who gives only a name, a birth date and a postcode: the model's case."""
    for rec in records:
        if rec["channel"] == "call_centre" and all(rec.get(f) for f in WEAK_FIELDS):
            request = pb.ResolveRequest(channel="call_centre", **{f: rec[f] for f in WEAK_FIELDS})
            label = f"{rec['given_name']} {rec['surname']}, {rec['dob']}, {rec['postcode']}"
            yield "call_centre", label, request, truth.get(rec["record_id"], "")
            return


def _usable(rec: dict[str, str], field: str) -> bool:
    """A real (not placeholder, not malformed) value, so the lookup shows linking at work."""
    if not rec.get(field):
        return False
    platform = rec.get("handle_platform") or None
    try:
        return not normalize(IDENTIFIER_FIELDS[field], rec[field], platform=platform).placeholder
    except InvalidValue:
        return False


def _check(
    stub: rpc.IdentityServiceStub, customer_id: str, person: str, truth: dict[str, str]
) -> str:
    """Ground truth: does the customer hold this person's records, and only theirs?"""
    if not customer_id:
        return "yes (nobody)" if not person else "missed"
    customer = stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer_id), timeout=5).customer
    people = {truth.get(r.record_id, "?") for r in customer.records}
    n = len(customer.records)
    if people == {person}:
        return f"yes ({n} records)"
    return f"no: {len(people)} people in {n} records"
