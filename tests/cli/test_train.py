"""`idres train` from a file and from the store: a stored, versioned, active model."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg

from idres.ingest.generator import write_generated
from idres.resolver.adapters.database import Database
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.scoring import MatchModel

Idres = Callable[..., subprocess.CompletedProcess[str]]


def active_versions(url: str) -> list[tuple[str, bool]]:
    with psycopg.connect(url) as conn:
        return [
            (v, a)
            for v, a in conn.execute("SELECT version, active FROM models ORDER BY created_at")
        ]


def test_train_from_a_file_then_from_the_store(
    idres: Idres, tmp_path: Path, database_url: str
) -> None:
    data, _, _ = write_generated(tmp_path / "people.csv", 300, 5)
    out = tmp_path / "model.json"
    done = idres(
        "train",
        str(data),
        "--max-pairs",
        "100000",
        "--out",
        str(out),
        database_url=database_url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"model (fs-[0-9a-f]{12}) \(active\)", done.stdout)
    assert found, done.stdout
    assert "Exact match on email" in done.stdout
    model = MatchModel.from_splink(json.loads(out.read_text()))
    assert set(model.levels()) >= {"email", "phone", "given_name", "dob", "postcode"}
    assert active_versions(database_url) == [(found.group(1), True)]

    assert (
        idres("ingest", str(data), "--quiet", database_url=database_url, cwd=tmp_path).returncode
        == 0
    )
    again = idres(
        "train",
        "--from-store",
        "--max-pairs",
        "100000",
        "--seed",
        "7",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    second = re.search(r"model (fs-[0-9a-f]{12}) \(active\)", again.stdout)
    assert second and second.group(1) != found.group(1)
    assert active_versions(database_url) == [(found.group(1), False), (second.group(1), True)]
    db = Database(database_url, pool_size=1)
    try:
        active = ModelStore(Store(db)).active()
    finally:
        db.close()
    assert active is not None and active[0] == second.group(1)
    assert MatchModel.from_splink(active[1]).levels().keys() == model.levels().keys()


def test_train_needs_records(idres: Idres, tmp_path: Path, database_url: str) -> None:
    done = idres("train", "--from-store", database_url=database_url, cwd=tmp_path)
    assert done.returncode == 1 and "nothing to train on" in done.stderr
