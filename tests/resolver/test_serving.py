"""A newly activated model reaches running servers without a restart, all at their time."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from idres.ingest.training import model_version
from idres.resolver.adapters.database import Database
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.changes import Watch
from idres.resolver.domain.linking import RULES_VERSION
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.domain.scoring import MatchModel
from idres.resolver.resolution import Resolver
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe
from tests.servers import Serve

GRACE = {"given_name": "Grace", "surname": "Okafor", "dob": "1991-11-23", "postcode": "BS1 4DJ"}
LEAD = timedelta(seconds=2)
"""Long enough that servers are ready before it ends: a switch before it would show."""


def activate(url: str, model: dict[str, Any], facts: dict[str, Any], lead: timedelta) -> float:
    """Stores and activates a model as `idres train` does; returns when servers switch."""
    db = Database(url, pool_size=1)
    try:
        effective = ModelStore(Store(db)).save(
            model_version(model), model, facts, activate=True, switch_after=lead
        )
    finally:
        db.close()
    assert effective is not None
    return effective.timestamp()


@pytest.fixture
def server_process(database_url: str, tmp_path: Path) -> Iterator[rpc.IdentityServiceStub]:
    """`idres serve` in a process of its own on the test's store."""
    env = {
        **os.environ,
        "IDRES_DATABASE_URL": database_url,
        "IDRES_DATA_DIR": str(tmp_path / "process"),
        "IDRES_PORT": "0",
        "IDRES_SYNC_INTERVAL_S": "0.05",
        # One process each: these servers are about one store; tests/cli/test_serve_processes.py
        # covers several processes on a port.
        "IDRES_PROCESSES": "1",
    }
    command = [sys.executable, "-m", "idres.cli", "serve"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"serving on (127\.0\.0\.1:\d+)", line)
        assert found, f"server did not start: {line!r}"
        with grpc.insecure_channel(found.group(1)) as channel:
            yield rpc.IdentityServiceStub(channel)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def _until_switched(
    stubs: list[rpc.IdentityServiceStub], new: str
) -> list[list[tuple[str, float]]]:
    """Asks every server until each answers with model `new`; returns each server's
    (version, time received) in order."""
    seen: list[list[tuple[str, float]]] = [[] for _ in stubs]
    deadline = time.monotonic() + 120
    while not all(s and s[-1][0] == new for s in seen) and time.monotonic() < deadline:
        for stub, answers in zip(stubs, seen, strict=True):
            reply = stub.Resolve(pb.ResolveRequest(**GRACE), timeout=10)
            answers.append((reply.model_version, time.time()))
        time.sleep(0.02)
    return seen


def test_running_servers_switch_from_the_rules_to_a_first_model_at_its_time(
    database_url: str,
    serve: Serve,
    server_process: rpc.IdentityServiceStub,
    trained: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    model, facts = trained
    with serve(database_url) as here:
        grace = observe(here, "web-1", email="grace@shop.co.uk", **GRACE)
        # The rules need an identifier: names and a birth date find nobody.
        for stub in (here, server_process):
            before = stub.Resolve(pb.ResolveRequest(**GRACE), timeout=10)
            assert (before.model_version, before.decision) == (RULES_VERSION, pb.DECISION_NO_MATCH)
        effective = activate(database_url, model, facts, LEAD)
        seen = _until_switched([here, server_process], model_version(model))
        for answers in seen:
            versions = [v for v, _ in answers]
            assert versions[-1] == model_version(model), "a server never switched"
            # Rules until the switch, the model from then on, and not a moment early.
            switched = versions.index(model_version(model))
            assert set(versions[:switched]) <= {RULES_VERSION}
            assert set(versions[switched:]) == {model_version(model)}
            assert all(at >= effective for v, at in answers if v == model_version(model))
        # Both indexes were rebuilt with the stored records, the other process's from the
        # outbox: the model finds Grace by her weak attributes.
        for stub in (here, server_process):
            after = stub.Resolve(pb.ResolveRequest(**GRACE), timeout=10)
            assert after.decision == pb.DECISION_MATCH and after.customer_id == grace.customer_id


def _prior(model: dict[str, Any]) -> float:
    return MatchModel.from_splink(model).prior_weight


def test_observe_writes_the_version_of_the_model_that_decided_across_a_switch(
    with_model: str, trained: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    first, facts = trained
    p = first["probability_two_random_records_match"]
    second = {**first, "probability_two_random_records_match": p / 4}
    priors = {model_version(m): _prior(m) for m in (first, second)}
    resolver = Resolver(
        Database(with_model, pool_size=4), rules=DEFAULT_RULES, sync_interval_s=0.05
    )
    resolver.start_sync()
    try:
        made: list[tuple[str, str]] = []
        looked: list[tuple[str, float]] = []
        deadline = time.monotonic() + 120
        while len(made) < 200 and time.monotonic() < deadline:
            n = len(made)
            obs = resolver.observe_values({"record_id": f"r{n}", "email": "g@shop.co.uk", **GRACE})
            made.append((obs.record_id, obs.model_version))
            plan, version = resolver.lookup(resolver.query(GRACE))
            assert plan.best is not None
            contributions = sum(
                c.log2_bayes_factor + c.tf_adjustment for c in plan.best.contributions
            )
            looked.append((version, plan.best.match_weight - contributions))
            if n == 3:
                activate(with_model, second, facts, timedelta(0))
            if n > 3 and obs.model_version == model_version(second):
                break
        versions = [v for _, v in made]
        assert versions[0] == model_version(first) and versions[-1] == model_version(second)
        # Each lookup's weights are those of the model it names.
        assert all(math.isclose(prior, priors[v], abs_tol=1e-9) for v, prior in looked)
        with psycopg.connect(with_model) as conn:
            links = conn.execute(
                "SELECT record_id, model_version, match_weight, comparisons FROM record_links"
            ).fetchall()
    finally:
        resolver.close()
    named = dict(made)
    assert {r for r, *_ in links} == {r for r, _ in made[1:]}, "every record after the first links"
    for record_id, version, weight, comparisons in links:
        # A link names the model that decided it, and carries that model's prior.
        assert version == named[record_id]
        assert math.isclose(weight - sum(c[3] for c in comparisons), priors[version], abs_tol=1e-6)


def test_an_activation_is_one_internal_event_that_watchers_never_see(
    resolver: Resolver, trained: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    model, facts = trained
    models = ModelStore(resolver.store)
    assert models.save(model_version(model), model, facts, activate=True) is not None
    # Saving the active model again activates nothing.
    assert models.save(model_version(model), model, facts, activate=True) is None
    with psycopg.connect(resolver.db.url) as conn:
        rows = conn.execute("SELECT type, customer_id, payload FROM change_events").fetchall()
    assert [(t, c, p["version"]) for t, c, p in rows] == [
        ("model_activated", "", model_version(model))
    ]
    watch = Watch(resolver.store, "")
    assert watch.next() == []
    resolver.observe_values({"record_id": "w1", "email": "ann@post.co.uk"})
    assert [c.type.value for c in watch.next()] == ["created", "linked"]
