"""Candidate recall: does idres's online retrieval propose what Splink's blocking pairs?

    python -m loadtests.bench_candidates [--persons 20000] [--json-out FILE]

In memory, no database. Generate `--persons` (seed 11), train the model (Splink, `--max-pairs`)
and compute Splink's blocked pairs with the model's own prediction blocking rules
(`linker.inference.compute_blocked_pairs_for_predict`, the pairs `predict` would score); keep
the true-match pairs (same person by the generator's truth).

Then stream the records in time order through `StreamClusterer`, which decides as `Observe`
does. Before adding record r, `clusterer.index.candidates(identifiers, features(r))` is called
(and timed): the customers it proposes. A true pair (earlier b, later r) is *proposed* when b's
customer at that moment (the customer `add()` returned for b, merges followed) is among them.

Reported: Splink's true-match pairs and the share also proposed (the recall of the online
retrieval against Splink's blocking), the true pairs the retrieval proposed that Splink's
blocking did not (faiss near misses, and records joined to a proposed customer through others),
the mean number of candidate customers per record and the time per retrieval.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

from idres.ingest.clustering import StreamClusterer
from idres.ingest.training import model_version, train, training_facts
from idres.resolver.domain.scoring import features
from loadtests.accuracy import Dataset, generate_dataset
from loadtests.bench_online import percentile, quiet_splink

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench-out" / "bench_candidates.json"
PROGRESS_EVERY = 10_000
CANDIDATE_LIMIT = 24
"""`IdentityIndex.candidates`' default `limit` of customers proposed."""


def say(text: str) -> None:
    print(f"[candidates] {text}", file=sys.stderr, flush=True)


@dataclass
class BlockedPairs:
    """Splink's blocking over the data set, as positions in time order (earlier, later)."""

    total: int
    true: set[tuple[int, int]]
    seconds: float


@dataclass
class CandidateReport:
    persons: int
    seed: int
    records: int = 0
    train_seconds: float = 0.0
    splink_blocked_pairs: int = 0
    splink_blocking_seconds: float = 0.0
    true_pairs: int = 0
    """All same-person pairs among the records."""
    splink_true_pairs: int = 0
    also_proposed: int = 0
    recall: float = 0.0
    """also_proposed / splink_true_pairs."""
    proposed_not_splink: int = 0
    """True pairs the online retrieval proposed that Splink's blocking did not."""
    proposed_true_pairs: int = 0
    """All true pairs the online retrieval proposed."""
    near_miss_records: int = 0
    """Records for which a proposed customer holds their person through no Splink pair at all."""
    missed_at_limit: int = 0
    """Splink true pairs not proposed while the retrieval was at its customer limit."""
    mean_candidates: float = 0.0
    max_candidates: int = 0
    retrieval_mean_us: float = 0.0
    retrieval_p50_us: float = 0.0
    retrieval_p99_us: float = 0.0
    stream_seconds: float = 0.0


def splink_blocked_pairs(data: Dataset, model: Mapping[str, Any]) -> BlockedPairs:
    """Splink's candidate pairs under the model's prediction rules, the true ones kept."""
    started = time.perf_counter()
    position = {rid: i for i, rid in enumerate(data.record_ids)}
    truth = data.truth
    con = duckdb.connect()
    try:
        db_api = DuckDBAPI(connection=con)
        with quiet_splink():
            linker = Linker(db_api.register(data.frame), dict(model), log_level=logging.WARNING)
            blocked = linker.inference.compute_blocked_pairs_for_predict()
        people = pa.table(
            {"uid": list(truth), "person": list(truth.values())},
            schema=pa.schema([("uid", pa.string()), ("person", pa.string())]),
        )
        con.register("people", people)
        name = blocked.physical_name
        total_row = con.execute(f"SELECT count(*) FROM {name}").fetchall()
        found = con.execute(
            f"""
            SELECT DISTINCT p.join_key_l, p.join_key_r
            FROM {name} AS p
            JOIN people AS a ON a.uid = p.join_key_l
            JOIN people AS b ON b.uid = p.join_key_r
            WHERE a.person = b.person
            """
        ).fetchall()
    finally:
        con.close()
    pairs = set()
    for left, right in found:
        i, j = position[str(left)], position[str(right)]
        pairs.add((min(i, j), max(i, j)))
    total = int(total_row[0][0]) if total_row else 0
    return BlockedPairs(total, pairs, time.perf_counter() - started)


def measure(
    data: Dataset,
    model: Mapping[str, Any],
    report: CandidateReport,
    log: Callable[[str], None] = say,
) -> CandidateReport:
    """Splink's blocking against the online retrieval over `data`, into `report`."""
    report.records = len(data.records)
    log("Splink blocking with the model's prediction rules")
    blocked = splink_blocked_pairs(data, model)
    report.splink_blocked_pairs = blocked.total
    report.splink_blocking_seconds = round(blocked.seconds, 2)
    report.splink_true_pairs = len(blocked.true)
    log(f"  {blocked.total:,} pairs, {len(blocked.true):,} true, in {blocked.seconds:.1f} s")

    truth = data.truth
    person_of = [truth[rid] for rid in data.record_ids]
    clusterer = StreamClusterer(
        model, model_version(model), facts=training_facts(data.frame, model)
    )
    index = clusterer.index
    owner: list[str] = []
    earlier: dict[str, list[int]] = {}
    sizes: list[int] = []
    timings: list[float] = []
    also = proposed_true = extra = near_miss = true_pairs = at_limit = 0
    started = time.perf_counter()
    for r, record in enumerate(data.records):
        idents = [o.identifier for o in record.identifiers]
        row = features(record)
        t0 = time.perf_counter()
        _, candidates = index.candidates(idents, row)
        timings.append(time.perf_counter() - t0)
        proposed = {c.customer_id for c in candidates}
        sizes.append(len(proposed))
        same_person = earlier.setdefault(person_of[r], [])
        reached_only_by_us = False
        for b in same_person:
            true_pairs += 1
            in_splink = (b, r) in blocked.true
            hit = index.canonical(owner[b]) in proposed
            also += in_splink and hit
            at_limit += in_splink and not hit and len(proposed) >= CANDIDATE_LIMIT
            proposed_true += hit
            if hit and not in_splink:
                extra += 1
                reached_only_by_us = True
        near_miss += reached_only_by_us and not any((b, r) in blocked.true for b in same_person)
        owner.append(clusterer.add(record))
        same_person.append(r)
        if (r + 1) % PROGRESS_EVERY == 0:
            rate = (r + 1) / (time.perf_counter() - started)
            log(f"  streamed {r + 1:,}/{len(data.records):,} ({rate:,.0f}/s)")
    report.stream_seconds = round(time.perf_counter() - started, 2)
    report.true_pairs = true_pairs
    report.also_proposed = also
    report.recall = round(also / len(blocked.true), 5) if blocked.true else 0.0
    report.proposed_true_pairs = proposed_true
    report.proposed_not_splink = extra
    report.near_miss_records = near_miss
    report.missed_at_limit = at_limit
    report.mean_candidates = round(statistics.fmean(sizes), 2) if sizes else 0.0
    report.max_candidates = max(sizes, default=0)
    report.retrieval_mean_us = round(statistics.fmean(timings) * 1e6, 1) if timings else 0.0
    report.retrieval_p50_us = round(percentile(timings, 50) * 1e6, 1)
    report.retrieval_p99_us = round(percentile(timings, 99) * 1e6, 1)
    return report


def run(
    persons: int,
    seed: int,
    max_pairs: int,
    workdir: Path,
    *,
    model: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = say,
) -> CandidateReport:
    report = CandidateReport(persons, seed)
    log(f"generating {persons:,} persons (seed {seed})")
    data = generate_dataset(persons, seed, workdir)
    log(f"{len(data.records):,} valid records")
    if model is None:
        log(f"training (max pairs {max_pairs:,})")
        started = time.perf_counter()
        with quiet_splink():
            model = train(data.frame, max_pairs=max_pairs)
        report.train_seconds = round(time.perf_counter() - started, 2)
        log(f"  trained in {report.train_seconds:.1f} s")
    return measure(data, model, report, log)


def markdown(report: CandidateReport) -> str:
    r = report
    rows = [
        ("records", f"{r.records:,} ({r.persons:,} persons, seed {r.seed})"),
        ("Splink blocked pairs (model's rules)", f"{r.splink_blocked_pairs:,}"),
        ("true-match pairs among them", f"{r.splink_true_pairs:,}"),
        ("also proposed online (recall)", f"{r.also_proposed:,} ({r.recall:.2%})"),
        (
            "missed / of which at the 24-customer limit",
            f"{r.splink_true_pairs - r.also_proposed:,} / {r.missed_at_limit:,}",
        ),
        ("true pairs proposed online, not by Splink", f"{r.proposed_not_splink:,}"),
        ("records whose person only the online retrieval reached", f"{r.near_miss_records:,}"),
        ("all true pairs / proposed online", f"{r.true_pairs:,} / {r.proposed_true_pairs:,}"),
        (
            "candidate customers per record (mean / max)",
            f"{r.mean_candidates} / {r.max_candidates}",
        ),
        (
            "retrieval time (mean / p50 / p99)",
            f"{r.retrieval_mean_us:.0f} / {r.retrieval_p50_us:.0f} / {r.retrieval_p99_us:.0f} µs",
        ),
        (
            "seconds (train / Splink blocking / stream)",
            f"{r.train_seconds:.1f} / {r.splink_blocking_seconds:.1f} / {r.stream_seconds:.1f}",
        ),
    ]
    lines = ["| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--persons", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--max-pairs", type=int, default=2_000_000, help="training cap")
    p.add_argument("--workdir", type=Path, help="keep the data here (default: a temp dir)")
    p.add_argument(
        "--json-out", type=Path, nargs="?", const=DEFAULT_JSON, help=f"default {DEFAULT_JSON}"
    )
    args = p.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = run(args.persons, args.seed, args.max_pairs, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="idres-candidates-") as tmp:
            report = run(args.persons, args.seed, args.max_pairs, Path(tmp))
    print(markdown(report), flush=True)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
