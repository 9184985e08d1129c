"""Hot values: a placeholder email typed on thousands of rows, one store phone on every till
record. Work per record must stay bounded and the hot values must link nobody."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from idres.ingest.dedup import dedup
from idres.ingest.files import write_table
from idres.ingest.generator import generate
from idres.resolver.adapters.record_index import NAME_BLOCK
from idres.resolver.domain.names import fold
from idres.resolver.domain.records import CANONICAL_COLUMNS

HOT_ROWS = 1_500
STORE_PHONE = "020 7946 0018"


def same_name_pairs(rows: list[dict[str, str]]) -> int:
    """Pairs of rows typing the same full name: a name rule may fairly propose these."""
    names = Counter(
        (fold(r["given_name"]), fold(r["surname"])) for r in rows if r.get("given_name")
    )
    return sum(n * (n - 1) // 2 for n in names.values() if n <= NAME_BLOCK)


def skewed_rows() -> list[dict[str, str]]:
    rng = random.Random(3)
    rows = generate(200, 17).records
    names = [(r["given_name"], r["surname"]) for r in rows if r["given_name"] and r["surname"]]
    for n in range(HOT_ROWS):
        given, surname = rng.choice(names)
        till = {"record_id": f"till-{n}", "channel": "store", "phone": STORE_PHONE}
        web = {"record_id": f"web-hot-{n}", "channel": "web", "email": "test@test.com"}
        for hot in (till, web):
            hot |= {
                "given_name": given,
                "surname": surname,
                "ts": f"2024-06-01T10:{n % 60:02d}:00Z",
            }
            rows.append(hot)
    return rows


def skewed_file(path: Path, rows: list[dict[str, str]]) -> Path:
    write_table(path, CANONICAL_COLUMNS, ([r.get(c, "") for c in CANONICAL_COLUMNS] for r in rows))
    return path


def test_hot_values_neither_explode_the_work_nor_glue_people(tmp_path: Path) -> None:
    rows = skewed_rows()
    result = dedup(skewed_file(tmp_path / "skewed.csv", rows), max_pairs=100_000, progress=False)
    assert result.records >= 2 * HOT_ROWS
    # Every record met at most the retrieval's limit of customers, whatever the hot value.
    assert 0 < result.counts.most_candidates <= 24
    # The store phone and the placeholder block no pair (1,500 rows each would propose over a
    # million): the scored pairs are few beside the same full names the hot rows were given.
    assert 0 < result.scored_pairs < result.records + same_name_pairs(rows)
    # The store phone and the placeholder link nobody: 3,000 strangers stay apart, apart from
    # the same name typed twice, which the model may link.
    labels = result.as_dict()
    hot = [labels[f"till-{n}"] for n in range(HOT_ROWS)]
    hot += [labels[f"web-hot-{n}"] for n in range(HOT_ROWS)]
    assert result.largest_cluster < 60
    assert len(set(hot)) > HOT_ROWS
