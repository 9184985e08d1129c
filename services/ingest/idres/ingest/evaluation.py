"""How close a clustering is to the ground truth: pairwise and B-cubed scores, and cluster shape.

Both inputs are two-column tables: `record_id` plus one label column (`person_id` in a truth file,
`cluster_id` or `customer_id` in a prediction). Every score comes from the contingency table of
(predicted cluster, true entity) counts, never from enumerating pairs, so a million records cost
a sort, not a trillion comparisons.

With n_ij records in cluster i and entity j, a_i = Σ_j n_ij and b_j = Σ_i n_ij, N records:

- pairwise precision = Σ C(n_ij, 2) / Σ C(a_i, 2), recall = Σ C(n_ij, 2) / Σ C(b_j, 2);
- B-cubed precision = Σ (n_ij² / a_i) / N, recall = Σ (n_ij² / b_j) / N.

0/0 conventions: a clustering with no predicted pairs claims no wrong pair, so its pairwise
precision is 1.0; a truth with no true pairs leaves no pair to miss, so pairwise recall is 1.0;
F1 is 0.0 when precision and recall are both 0. B-cubed never divides by zero once N > 0, and an
evaluation with no record in common is refused rather than scored.

Records present on one side only are left out of every score and counted, so that a prediction
over a sample of the truth can still be judged.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from idres.ingest.files import REQUIRED_COLUMN, table_format

ArrayLike: TypeAlias = Sequence[Any] | npt.NDArray[Any] | pa.Array | pa.ChunkedArray
Codes: TypeAlias = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores of a predicted clustering against the truth, over the records both sides hold."""

    records: int
    """Records evaluated: those whose record_id is in both truth and prediction."""
    only_in_truth: int
    """Truth records the prediction does not mention (left out of every score)."""
    only_in_pred: int
    """Predicted records the truth does not mention (left out of every score)."""
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    true_positive_pairs: int
    """Pairs of records that share both a predicted cluster and a true entity."""
    predicted_pairs: int
    true_pairs: int
    predicted_clusters: int
    true_entities: int
    largest_predicted_cluster: int
    largest_true_entity: int
    mixed_clusters: int
    """Predicted clusters holding records of two or more true entities (over-merging)."""
    split_entities: int
    """True entities whose records sit in two or more predicted clusters (under-merging)."""

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A report with labels on the left and right-aligned figures."""
        rows = [
            ("records evaluated", _count(self.records)),
            ("only in truth (ignored)", _count(self.only_in_truth)),
            ("only in prediction (ignored)", _count(self.only_in_pred)),
            ("", ""),
            ("pairwise precision", _score(self.pairwise_precision)),
            ("pairwise recall", _score(self.pairwise_recall)),
            ("pairwise F1", _score(self.pairwise_f1)),
            ("B-cubed precision", _score(self.bcubed_precision)),
            ("B-cubed recall", _score(self.bcubed_recall)),
            ("B-cubed F1", _score(self.bcubed_f1)),
            ("", ""),
            ("true positive pairs", _count(self.true_positive_pairs)),
            ("predicted pairs", _count(self.predicted_pairs)),
            ("true pairs", _count(self.true_pairs)),
            ("", ""),
            ("predicted clusters", _count(self.predicted_clusters)),
            ("true entities", _count(self.true_entities)),
            ("largest predicted cluster", _count(self.largest_predicted_cluster)),
            ("largest true entity", _count(self.largest_true_entity)),
            ("clusters mixing entities", _count(self.mixed_clusters)),
            ("entities split over clusters", _count(self.split_entities)),
        ]
        label_width = max(len(label) for label, _ in rows)
        value_width = max(len(value) for _, value in rows)
        return [
            f"{label:<{label_width}}  {value:>{value_width}}" if label else ""
            for label, value in rows
        ]


def _count(value: int) -> str:
    return f"{value:,}"


def _score(value: float) -> str:
    return f"{value:.4f}"


@dataclass(frozen=True, slots=True)
class _Labelled:
    """One side of the comparison: record ids and the cluster or entity label of each."""

    source: str
    """How messages name this side: a file name, or "truth" / "prediction"."""
    column: str
    ids: pa.Array
    labels: pa.Array


def evaluate_files(truth_path: Path | str, pred_path: Path | str) -> Evaluation:
    """Score a prediction file against a truth file (CSV, CSV.gz, Parquet or JSON Lines)."""
    truth = _read_side(Path(truth_path))
    pred = _read_side(Path(pred_path))
    return _evaluate(truth, pred)


def evaluate_arrays(
    truth_ids: ArrayLike, entities: ArrayLike, pred_ids: ArrayLike, clusters: ArrayLike
) -> Evaluation:
    """Score in-memory labels; ids and labels may be strings or integers, one per record."""
    truth = _checked(_Labelled("truth", "entity", _as_arrow(truth_ids), _as_arrow(entities)))
    pred = _checked(_Labelled("prediction", "cluster", _as_arrow(pred_ids), _as_arrow(clusters)))
    return _evaluate(truth, pred)


def _as_arrow(values: ArrayLike) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError) as exc:
        raise ValueError(f"values of mixed or unsupported types: {exc}") from exc


# Reading ------------------------------------------------------------------------------------


def _read_side(path: Path) -> _Labelled:
    fmt = table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path.name}: empty file")
    try:
        table = _READERS[fmt](path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    return _checked(_side_from_table(table, path.name))


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _has_text(path: Path) -> bool:
    with _open_text(path) as f:
        return any(line.strip() for line in f)


def _read_csv(path: Path) -> pa.Table:
    with _open_text(path) as f:
        header = next(csv.reader(f), None)
    if not header:
        raise ValueError(f"{path.name}: empty file")
    names = [h.strip() for h in header]
    # Every column as text, named by us: "007" must stay "007" to match the other file.
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )


def _read_jsonl(path: Path) -> pa.Table:
    if not _has_text(path):
        raise ValueError(f"{path.name}: empty file")
    return pa_json.read_json(path)


def _read_parquet(path: Path) -> pa.Table:
    return pq.read_table(path)


_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


def _side_from_table(table: pa.Table, source: str) -> _Labelled:
    names: list[str] = table.column_names
    found = ", ".join(names) or "none"
    if len(names) != 2:
        raise ValueError(
            f"{source}: expected 2 columns, {REQUIRED_COLUMN} and one cluster or entity column;"
            f" found {len(names)} ({found})"
        )
    keys = [name.strip().lower() for name in names]
    if REQUIRED_COLUMN not in keys:
        raise ValueError(
            f"{source}: missing required column {REQUIRED_COLUMN!r} (columns found: {found})"
        )
    if keys.count(REQUIRED_COLUMN) > 1:
        raise ValueError(f"{source}: column {REQUIRED_COLUMN!r} appears twice")
    position = keys.index(REQUIRED_COLUMN)
    other = 1 - position
    ids = _as_text(table.column(position), names[position], source)
    labels = _as_text(table.column(other), names[other], source)
    return _Labelled(source, names[other], ids, labels)


def _as_text(column: pa.ChunkedArray, name: str, source: str) -> pa.Array:
    """Ids compare as text across files, whatever type each file stored them as."""
    try:
        return pc.cast(column, pa.string()).combine_chunks()
    except pa.ArrowException as exc:
        raise ValueError(f"{source}: column {name!r} of type {column.type} is not text") from exc


# Validation ---------------------------------------------------------------------------------


def _checked(side: _Labelled) -> _Labelled:
    """Refuse gaps and blanks; repeated record ids are caught while aligning the two sides."""
    if len(side.ids) != len(side.labels):
        raise ValueError(
            f"{side.source}: {len(side.ids)} record ids but {len(side.labels)} {side.column} values"
        )
    if len(side.ids) == 0:
        raise ValueError(f"{side.source}: no rows")
    blank = _first_blank(side.ids)
    if blank is not None:
        raise ValueError(f"{side.source}: empty {REQUIRED_COLUMN} in row {blank + 1}")
    blank = _first_blank(side.labels)
    if blank is not None:
        record_id = side.ids[blank].as_py()
        raise ValueError(f"{side.source}: empty {side.column} for record_id {record_id!r}")
    return side


def _first_blank(values: pa.Array) -> int | None:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        missing = pc.equal(pc.fill_null(values, ""), "")
    else:
        missing = pc.is_null(values)
    index: int = pc.index(missing, True).as_py()
    return None if index < 0 else index


# Scoring ------------------------------------------------------------------------------------


def _evaluate(truth: _Labelled, pred: _Labelled) -> Evaluation:
    clusters, entities = _aligned(truth, pred)
    table = _Contingency.of(clusters, entities)
    tp, predicted, true = _pairs(table.n_ij), _pairs(table.a), _pairs(table.b)
    precision, recall = _ratio(tp, predicted), _ratio(tp, true)
    bcubed_precision, bcubed_recall = table.bcubed()
    records = len(clusters)
    return Evaluation(
        records=records,
        only_in_truth=len(truth.ids) - records,
        only_in_pred=len(pred.ids) - records,
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=_f1(precision, recall),
        bcubed_precision=bcubed_precision,
        bcubed_recall=bcubed_recall,
        bcubed_f1=_f1(bcubed_precision, bcubed_recall),
        true_positive_pairs=tp,
        predicted_pairs=predicted,
        true_pairs=true,
        predicted_clusters=int(np.count_nonzero(table.a)),
        true_entities=int(np.count_nonzero(table.b)),
        largest_predicted_cluster=int(table.a.max()),
        largest_true_entity=int(table.b.max()),
        mixed_clusters=int((np.bincount(table.cell_cluster) > 1).sum()),
        split_entities=int((np.bincount(table.cell_entity) > 1).sum()),
    )


def _aligned(truth: _Labelled, pred: _Labelled) -> tuple[Codes, Codes]:
    """Cluster and entity codes of the records both sides hold, in the prediction's order."""
    truth_rows, pred_rows, distinct = _record_codes(truth.ids, pred.ids)
    _refuse_duplicates(truth, truth_rows, distinct)
    _refuse_duplicates(pred, pred_rows, distinct)
    # Row of each predicted record in the truth, -1 where the truth lacks it.
    row_in_truth = np.full(distinct, -1, dtype=np.int64)
    row_in_truth[truth_rows] = np.arange(len(truth_rows))
    where = row_in_truth[pred_rows]
    common = where >= 0
    if not common.any():
        raise ValueError(f"{truth.source} and {pred.source} share no {REQUIRED_COLUMN}")
    return _codes(pred.labels)[common], _codes(truth.labels)[where[common]]


def _record_codes(truth_ids: pa.Array, pred_ids: pa.Array) -> tuple[Codes, Codes, int]:
    """One code per distinct record id across both sides: a single hashing pass over the ids."""
    if truth_ids.type != pred_ids.type:
        truth_ids, pred_ids = pc.cast(truth_ids, pa.string()), pc.cast(pred_ids, pa.string())
    encoded = pc.dictionary_encode(pa.concat_arrays([truth_ids, pred_ids]))
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes[: len(truth_ids)], codes[len(truth_ids) :], len(encoded.dictionary)


def _refuse_duplicates(side: _Labelled, codes: Codes, distinct: int) -> None:
    counts = np.bincount(codes, minlength=distinct)
    if counts.max() <= 1:
        return
    first = int(np.argmax(counts[codes] > 1))
    others = int((counts > 1).sum()) - 1
    more = f"; {others:,} more record ids repeat" if others else ""
    raise ValueError(
        f"{side.source}: duplicate {REQUIRED_COLUMN} {side.ids[first].as_py()!r}"
        f" ({counts[codes[first]]} rows){more}"
    )


def _codes(labels: pa.Array) -> Codes:
    """Dense integer codes for labels, so that counting is integer arithmetic."""
    encoded = pc.dictionary_encode(labels)
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Contingency:
    """Non-empty (cluster, entity) cells with their counts n_ij, and the margins a and b."""

    cell_cluster: Codes
    cell_entity: Codes
    n_ij: Codes
    a: Codes
    """Records per cluster code; 0 for labels seen only outside the intersection."""
    b: Codes
    """Records per entity code, likewise."""

    @classmethod
    def of(cls, clusters: Codes, entities: Codes) -> _Contingency:
        width = int(entities.max()) + 1
        cells, n_ij = np.unique(clusters * width + entities, return_counts=True)
        return cls(
            cells // width, cells % width, n_ij, np.bincount(clusters), np.bincount(entities)
        )

    def bcubed(self) -> tuple[float, float]:
        records = int(self.n_ij.sum())
        squares = self.n_ij.astype(np.float64) ** 2
        precision = float((squares / self.a[self.cell_cluster]).sum()) / records
        recall = float((squares / self.b[self.cell_entity]).sum()) / records
        return precision, recall


def _pairs(sizes: Codes) -> int:
    # int64 holds C(n, 2) for any n up to four billion records.
    return int((sizes * (sizes - 1) // 2).sum())


def _ratio(numerator: int, denominator: int) -> float:
    """A pairwise ratio with nothing to judge counts as perfect (see the module docstring)."""
    return 1.0 if denominator == 0 else numerator / denominator


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total
