"""`idres ingest --bulk`: COPY loads that cluster against the store and keep customer ids."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from idres.ingest.bulk import bulk_ingest
from idres.ingest.clustering import StreamClusterer
from idres.ingest.evaluation import evaluate_arrays
from idres.ingest.files import write_table
from idres.ingest.frame import read_file
from idres.ingest.generator import generate
from idres.resolver.adapters.database import Database
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.review_store import read_reviews
from idres.resolver.adapters.store import Store
from idres.resolver.domain.erasure import Target, TargetKind
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.domain.records import CANONICAL_COLUMNS, Record
from idres.resolver.erasure import Erasure
from idres.resolver.overrides import Overrides
from idres.resolver.resolution import Resolver
from idres.v1 import identity_pb2 as pb
from tests.servers import Serve

MAX_PAIRS = 100_000


@dataclass(frozen=True)
class Halves:
    first: Path
    second: Path
    new_cards: list[dict[str, str]]
    """Records of the second half whose loyalty card the first half never saw."""


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> Halves:
    """400 people's records split in time: what an export held, and what came after."""
    rows = sorted(generate(400, 13).records, key=lambda r: r["ts"])
    folder = tmp_path_factory.mktemp("bulk")
    middle = len(rows) // 2
    paths = []
    for name, part in (("a.csv", rows[:middle]), ("b.csv", rows[middle:])):
        path = folder / name
        write_table(path, CANONICAL_COLUMNS, ([r[c] for c in CANONICAL_COLUMNS] for r in part))
        paths.append(path)
    seen = {r["loyalty_card"] for r in rows[:middle]}
    fresh = [r for r in rows[middle:] if r["loyalty_card"] and r["loyalty_card"] not in seen]
    return Halves(paths[0], paths[1], fresh)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = Database(database_url, pool_size=4)
    yield Store(db)
    db.close()


def members(store: Store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for record_id, customer in store.record_assignments():
        found[customer].add(record_id)
    return found


def test_a_second_load_keeps_every_customer_id(store: Store, halves: Halves) -> None:
    first = bulk_ingest(halves.first, store, max_pairs=MAX_PAIRS, progress=False)
    assert first.trained and first.loaded > 0 and first.new_customers > 0
    assert ModelStore(store).active() is not None
    before = members(store)
    assert sum(len(m) for m in before.values()) == first.loaded
    second = bulk_ingest(halves.second, store, progress=False)
    assert not second.trained and second.model_version == first.model_version
    after = members(store)
    assert sum(len(m) for m in after.values()) == first.loaded + second.loaded
    for customer, records in before.items():
        live = store.canonical_id(customer)
        assert live is not None, customer
        assert records <= after[live]
    grew = sum(1 for c, recs in before.items() if after[store.canonical_id(c) or c] > recs)
    print(f"{second.merged_stored} stored customers merged, {grew} grew")
    assert grew > 0
    # Loading the first file again changes nothing.
    again = bulk_ingest(halves.first, store, progress=False)
    assert again.loaded == 0 and again.already == first.loaded and not again.conflicts
    assert members(store) == after


def test_resolve_keeps_answering_during_a_bulk_load(
    store: Store, halves: Halves, database_url: str, serve: Serve
) -> None:
    bulk_ingest(halves.first, store, max_pairs=MAX_PAIRS, progress=False)
    with serve(database_url) as stub:
        row = halves.new_cards[0]
        unseen = stub.Resolve(pb.ResolveRequest(loyalty_card=row["loyalty_card"]))
        assert unseen.decision == pb.DECISION_NO_MATCH
        loader = threading.Thread(
            target=bulk_ingest, args=(halves.second, store), kwargs={"progress": False}
        )
        loader.start()
        answered = 0
        while loader.is_alive() and answered < 5_000:
            stub.Resolve(pb.ResolveRequest(email="first.visit@outlook.com"), timeout=5)
            answered += 1
        loader.join(timeout=120)
        assert not loader.is_alive() and answered > 0
        # The running server learns the load from the change events it wrote.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = stub.Resolve(pb.ResolveRequest(loyalty_card=row["loyalty_card"]))
            if answer.decision == pb.DECISION_MATCH:
                break
            time.sleep(0.05)
        assert answer.decision == pb.DECISION_MATCH
        held = stub.GetCustomer(pb.GetCustomerRequest(customer_id=answer.customer_id))
        assert row["record_id"] in {r.record_id for r in held.customer.records}


def test_a_bulk_load_keeps_an_operator_split(with_model: str, tmp_path: Path) -> None:
    resolver = Resolver(Database(with_model, pool_size=2), rules=DEFAULT_RULES)
    try:
        for rid, phone in (("s1", "+447911400001"), ("s2", ""), ("s3", "+447911400003")):
            resolver.observe_values({"record_id": rid, "email": "sol@post.co.uk", "phone": phone})
        first = resolver.store.canonical_id(
            resolver.resolve_values({"email": "sol@post.co.uk"}).target or ""
        )
        assert first is not None
        split = Overrides(resolver).split(first, ["s3"], reason="twins", actor="ops")
        path = tmp_path / "bridge.csv"
        bridge = {"record_id": "s9", "email": "sol@post.co.uk", "phone": "+447911400003"}
        write_table(path, CANONICAL_COLUMNS, [[bridge.get(c, "") for c in CANONICAL_COLUMNS]])
        loaded = bulk_ingest(path, resolver.store, progress=False)
        assert loaded.loaded == 1 and loaded.merged_stored == 0
        found = members(resolver.store)
        assert {"s1", "s2"} <= found[first] and "s3" in found[split.customer_id]
        assert not found[first] & found[split.customer_id]
    finally:
        resolver.close()


def test_a_bulk_load_does_not_restore_what_was_erased(with_model: str, tmp_path: Path) -> None:
    resolver = Resolver(Database(with_model, pool_size=2), rules=DEFAULT_RULES)
    try:
        resolver.observe_values({"record_id": "e1", "email": "eve@post.co.uk", "surname": "Eve"})
        resolver.observe_values({"record_id": "e2", "phone": "+447911400009"})
        erasure = Erasure(resolver)
        erasure.forget(Target(TargetKind.RECORD, "e1"), reason="asked", actor="dpo")
        phone = Target(TargetKind.IDENTIFIER, "+447911400009", "phone")
        erasure.forget(phone, reason="asked", actor="dpo")
        path = tmp_path / "replay.csv"
        rows = [
            {"record_id": "e1", "email": "eve@post.co.uk", "surname": "Eve"},
            {"record_id": "e2", "phone": "+447911400009"},
            {"record_id": "e3", "email": "eve@post.co.uk", "phone": "+447911400009"},
        ]
        write_table(
            path, CANONICAL_COLUMNS, [[r.get(c, "") for c in CANONICAL_COLUMNS] for r in rows]
        )
        loaded = bulk_ingest(path, resolver.store, progress=False)
        assert loaded.erased == ["e1"] and loaded.erased_values == 3
        assert loaded.already == 1 and loaded.loaded == 1 and not loaded.conflicts
        assert set(members(resolver.store)) and "e1" not in {
            rid for rids in members(resolver.store).values() for rid in rids
        }
        assert resolver.resolve_values({"email": "eve@post.co.uk"}).target is None
    finally:
        resolver.close()


def test_a_bulk_load_queues_its_possible_matches(with_model: str, tmp_path: Path) -> None:
    resolver = Resolver(Database(with_model, pool_size=2), rules=DEFAULT_RULES)
    try:
        ann = {"record_id": "a1", "email": "ann@post.co.uk", "given_name": "Ann", "surname": "Lee"}
        stored = resolver.observe_values(ann).customer_id
        path = tmp_path / "anna.csv"
        anna = {"record_id": "q1", "given_name": "Anna", "surname": "Lee", "dob": "1980-01-01"}
        write_table(path, CANONICAL_COLUMNS, [[anna.get(c, "") for c in CANONICAL_COLUMNS]])
        bulk_ingest(path, resolver.store, progress=False)
        [review] = read_reviews(resolver.store, 0, 10)
        assert review.record_id == "q1" and review.customer_id != stored
        assert [c.customer_id for c in review.candidates][:1] == [stored]
        assert 0.5 <= review.candidates[0].probability < 0.9
    finally:
        resolver.close()


def test_a_bulk_load_decides_as_the_stream_does(store: Store, halves: Halves) -> None:
    loaded = bulk_ingest(halves.first, store, max_pairs=MAX_PAIRS, progress=False)
    version, model, facts = ModelStore(store).active() or ("", {}, {})
    # The stream: every record through the resolver's own retrieval and scoring, as Observe.
    clusterer = StreamClusterer(model, version, facts=facts)
    for record in sorted(read_file(halves.first, keep_records=True).records or [], key=_order):
        clusterer.add(record)
    stream = dict(clusterer.clusters())
    bulk = dict(store.record_assignments())
    assert bulk.keys() == stream.keys() and len(bulk) == loaded.loaded
    ids = sorted(bulk)
    agreement = evaluate_arrays(ids, [stream[i] for i in ids], ids, [bulk[i] for i in ids])
    print(f"{len(ids)} records: B-cubed F1 of the bulk load against the stream", end=" ")
    print(f"{agreement.bcubed_f1:.4f}")
    assert agreement.bcubed_f1 >= 0.98
    assert len(set(bulk.values())) < len(ids)  # records were linked
    with store.transaction() as tx:
        links, explained = tx.conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE jsonb_array_length(comparisons) > 0)"
            " FROM record_links"
        ).fetchone() or (0, 0)
    # Every link the load made keeps its comparisons, as Explain shows them after Observe.
    assert links > 0 and explained == links


def _order(record: Record) -> tuple[object, str]:
    return (record.ts, record.record_id)
