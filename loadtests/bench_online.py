"""Online speed with the trained model: Resolve over gRPC, one call in flight, against Splink's
own single-record call on the same stored records.

    python -m loadtests.bench_online [--persons 25000] [--json-out FILE]

Steps: generate `--persons` (seed 7) and hold out about 1% of the records (at most one per
person, only persons with other records): they are the new observations the lookups are built
from. Train the model on the rest (Splink, `--max-pairs`), store it active in a fresh embedded
PostgreSQL, ingest every remaining record (in process through `Resolver.observe`, in time
order, or with the `idres ingest` CLI: row by row, or with `--ingest bulk` clustered in memory by
the same decisions), then start `idres serve` as a subprocess on 127.0.0.1, so the client does
not share the server's GIL.

Two lookup sets come from the held-out records: *strong* (the record's identifiers and its
names) and *weak* (given name, surname, date of birth and postcode only, from records that have
both names and a date of birth or a postcode). Each set is sent sequentially (`--calls`, bounded
by `--max-seconds`); the table gives p50, p99 and mean latency, the share of MATCH answers and,
from the generator's truth, how many of those name a customer holding the lookup's person.

Then Splink's `predict_between` scores a sample of the same lookups (`--splink-sample`) against
every stored record (the model's own blocking rules choose the pairs, as in Splink's batch
prediction) over a Linker built on the stored records' model frame with the same model JSON and
its term-frequency tables; each call is timed (registering the one-row table, predicting and
reading the best pair). The stored record Splink scores highest is turned into the customer the
store assigned it to and compared with idres's answer (its customer, or its best candidate).

Figures are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
from splink import DuckDBAPI, Linker

from idres.ingest.frame import FRAME_COLUMNS, model_frame
from idres.ingest.generator import GeneratedData, generate, write_dataset
from idres.ingest.training import model_version, train, training_facts
from idres.resolver.adapters.database import open_database
from idres.resolver.adapters.embedded import stop_embedded
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import ConflictError, ValidationError
from idres.resolver.domain.normalize import DEFAULT_RULES
from idres.resolver.domain.records import parse_query, parse_record
from idres.resolver.domain.scoring import IDENTIFIER_COLUMNS, MatchModel, features
from idres.resolver.resolution import Resolver
from idres.v1 import identity_pb2, identity_pb2_grpc
from loadtests.bench import HOST, IDRES, BenchError, free_port, peak_rss_mb, start_server, stop

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench-out" / "bench_online.json"
STRONG_FIELDS = ("email", "phone", "handle", "handle_platform", "device_id", "loyalty_card")
NAME_FIELDS = ("given_name", "surname")
WEAK_FIELDS = ("given_name", "surname", "dob", "postcode")
STRONG, WEAK = "strong", "weak"
PROGRESS_EVERY = 10_000
MATCH = identity_pb2.DECISION_MATCH


def say(text: str) -> None:
    print(f"[online] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Lookup:
    """One Resolve request built from a held-out record, and whose it is."""

    record_id: str
    person_id: str
    values: dict[str, str]


@dataclass
class Prepared:
    """The records to store (in time order) and the lookups built from the held-out ones."""

    stored: list[dict[str, str]]
    truth: dict[str, str]
    """record_id -> person_id for every generated record."""
    held_out: int
    lookups: dict[str, list[Lookup]]


def _pick(record: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    picked = {n: record[n].strip() for n in names if (record.get(n) or "").strip()}
    if "handle" not in picked:
        picked.pop("handle_platform", None)  # a platform alone identifies no one
    return picked


def strong_lookup(record: Mapping[str, str]) -> dict[str, str] | None:
    """The record's identifiers plus its names, if one identifier is real (not a placeholder)."""
    values = _pick(record, (*STRONG_FIELDS, *NAME_FIELDS))
    try:
        row = features(parse_query(values, DEFAULT_RULES))
    except ValidationError:
        return None
    return values if any(row[c] for c in IDENTIFIER_COLUMNS) else None


def weak_lookup(record: Mapping[str, str]) -> dict[str, str] | None:
    """Names, birth date and postcode only, from records with both names and dob or postcode."""
    values = _pick(record, WEAK_FIELDS)
    if not ("given_name" in values and "surname" in values):
        return None
    if "dob" not in values and "postcode" not in values:
        return None
    try:
        parse_query(values, DEFAULT_RULES)
    except ValidationError:
        return None
    return values


def hold_out(data: GeneratedData, share: float, seed: int) -> set[str]:
    """About `share` of all records, valid ones only, at most one per person and only from
    persons with other records, so each held-out record's person stays in the store."""
    truth = dict(data.truth)
    per_person = Counter(truth.values())
    eligible = []
    for record in data.records:
        if per_person[truth[record["record_id"]]] < 2:
            continue
        try:
            parse_record(record, prefix="")
        except ValidationError:
            continue
        eligible.append(record["record_id"])
    rng = random.Random(seed)
    rng.shuffle(eligible)
    wanted = max(1, round(share * len(data.records)))
    chosen: set[str] = set()
    persons: set[str] = set()
    for record_id in eligible:
        if len(chosen) >= wanted:
            break
        if truth[record_id] not in persons:
            persons.add(truth[record_id])
            chosen.add(record_id)
    return chosen


def prepare(data: GeneratedData, share: float, seed: int) -> Prepared:
    truth = dict(data.truth)
    held = hold_out(data, share, seed)
    stored = [r for r in data.records if r["record_id"] not in held]
    lookups: dict[str, list[Lookup]] = {STRONG: [], WEAK: []}
    for record in data.records:
        rid = record["record_id"]
        if rid not in held:
            continue
        for name, build in ((STRONG, strong_lookup), (WEAK, weak_lookup)):
            values = build(record)
            if values is not None:
                lookups[name].append(Lookup(rid, truth[rid], values))
    return Prepared(stored, truth, len(held), lookups)


# ---------------------------------------------------------------------------- store and ingest


@dataclass
class IngestFigures:
    mode: str
    records: int = 0
    rejected: int = 0
    seconds: float = 0.0
    records_per_s: float = 0.0


def train_model(
    stored: Sequence[Mapping[str, str]], max_pairs: int
) -> tuple[dict[str, Any], float]:
    frame = model_frame(stored)
    started = time.perf_counter()
    with quiet_splink():
        model = train(frame, max_pairs=max_pairs)
    return model, time.perf_counter() - started


def store_model(database_url: str, folder: Path, model: Mapping[str, Any], frame: pa.Table) -> str:
    version = model_version(model)
    db = open_database(database_url, folder, pool_size=1)
    try:
        ModelStore(Store(db)).save(version, model, training_facts(frame, model), activate=True)
    finally:
        db.close()
    return version


def ingest_in_process(
    database_url: str, folder: Path, records: Sequence[Mapping[str, str]]
) -> IngestFigures:
    """Every record through `Resolver.observe` in time order, one at a time."""
    figures = IngestFigures("in process")
    db = open_database(database_url, folder, pool_size=2, durable=False)
    resolver = Resolver(db, rules=DEFAULT_RULES)
    started = time.perf_counter()
    try:
        for done, values in enumerate(records, 1):
            try:
                resolver.observe_values(values)
                figures.records += 1
            except (ValidationError, ConflictError):
                figures.rejected += 1
            if done % PROGRESS_EVERY == 0:
                rate = done / (time.perf_counter() - started)
                say(f"  observed {done:,}/{len(records):,} ({rate:,.0f}/s)")
    finally:
        resolver.close()
    _finish(figures, time.perf_counter() - started)
    return figures


_REJECTED = re.compile(r"^\s*rejected(?: rows:)?\s+([\d,]+)", re.MULTILINE)


def ingest_cli(
    env: Mapping[str, str],
    data: Path,
    records: int,
    log: Path,
    timeout: float,
    workers: int,
    *,
    bulk: bool = False,
) -> IngestFigures:
    """`idres ingest` as a subprocess (its rows-in-flight threads, or `--bulk`: clustered in
    memory by the same decisions and written with COPY), timed as a whole."""
    how = ["--bulk"] if bulk else ["--workers", str(workers)]
    figures = IngestFigures(f"idres ingest {' '.join(how)}")
    cmd = [str(IDRES), "ingest", "--quiet", *how, str(data)]
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    if done.returncode != 0:
        raise BenchError(f"idres ingest failed ({done.returncode})", log)
    text = log.read_text(errors="replace")
    # "rejected rows: 3 (rows 4, 9, 17)" row by row, "rejected      3" from --bulk.
    found = _REJECTED.search(text)
    rejected = int(found.group(1).replace(",", "")) if found else 0
    figures.records, figures.rejected = records - rejected, rejected
    _finish(figures, time.perf_counter() - started)
    return figures


def _finish(figures: IngestFigures, seconds: float) -> None:
    figures.seconds = round(seconds, 2)
    total = figures.records + figures.rejected
    figures.records_per_s = round(total / seconds, 1) if seconds > 0 else 0.0


def assignments(database_url: str, folder: Path) -> dict[str, str]:
    """record_id -> the customer the store holds it in (merges followed)."""
    db = open_database(database_url, folder, pool_size=1)
    try:
        return dict(Store(db).record_assignments())
    finally:
        db.close()


# ---------------------------------------------------------------------------- Resolve


@dataclass
class Answer:
    decision: int
    customer_id: str
    top: str | None
    """The customer idres puts first: the one it decided, else its best candidate."""


@dataclass
class ResolveFigures:
    lookups: int = 0
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    match_share: float = 0.0
    """MATCH answers over distinct lookups."""
    match_true_share: float | None = None
    """Of the MATCH answers, those whose customer holds the lookup's true person."""
    error_samples: dict[str, int] = field(default_factory=dict)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of unsorted values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def request(lookup: Lookup) -> identity_pb2.ResolveRequest:
    return identity_pb2.ResolveRequest(channel="bench", **lookup.values)


def answer_of(response: identity_pb2.ResolveResponse) -> Answer:
    top: str | None = response.customer_id or None
    if top is None and response.candidates and not response.candidates[0].veto:
        top = response.candidates[0].customer_id
    return Answer(response.decision, response.customer_id, top)


def measure_resolve(
    target: str,
    lookups: Sequence[Lookup],
    *,
    calls: int,
    max_seconds: float,
    warmup: int = 50,
    timeout: float = 5.0,
) -> tuple[ResolveFigures, dict[str, Answer]]:
    """Sequential Resolve calls (one in flight) cycling over the lookups; the first answer to
    each lookup is kept for the quality figures."""
    figures = ResolveFigures(lookups=len(lookups))
    answers: dict[str, Answer] = {}
    if not lookups:
        return figures, answers
    requests = [request(lookup) for lookup in lookups]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    with grpc.insecure_channel(target) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        for i in range(min(warmup, calls)):
            with suppress(grpc.RpcError):  # counted if it happens again when measured
                stub.Resolve(requests[i % len(requests)], timeout=timeout)
        started = time.perf_counter()
        deadline = started + max_seconds
        for i in range(calls):
            lookup = lookups[i % len(lookups)]
            sent = time.perf_counter()
            if sent > deadline:
                break
            try:
                response = stub.Resolve(requests[i % len(requests)], timeout=timeout)
            except grpc.RpcError as exc:
                errors[f"{exc.code().name}: {exc.details()}"] += 1
                continue
            finally:
                latencies.append(time.perf_counter() - sent)
            answers.setdefault(lookup.record_id, answer_of(response))
        figures.seconds = round(time.perf_counter() - started, 2)
    figures.calls = len(latencies)
    figures.errors = sum(errors.values())
    figures.error_samples = dict(errors.most_common(3))
    figures.p50_ms = round(percentile(latencies, 50) * 1000, 3)
    figures.p99_ms = round(percentile(latencies, 99) * 1000, 3)
    figures.mean_ms = round(statistics.fmean(latencies) * 1000, 3) if latencies else 0.0
    return figures, answers


def persons_by_customer(
    assigned: Mapping[str, str], truth: Mapping[str, str]
) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}
    for record_id, customer in assigned.items():
        held.setdefault(customer, set()).add(truth[record_id])
    return held


def judge(
    figures: ResolveFigures,
    lookups: Sequence[Lookup],
    answers: Mapping[str, Answer],
    persons: Mapping[str, set[str]],
) -> None:
    """MATCH share over the lookups answered, and how many of those hold the true person."""
    answered = [lk for lk in lookups if lk.record_id in answers]
    matched = [lk for lk in answered if answers[lk.record_id].decision == MATCH]
    figures.match_share = round(len(matched) / len(answered), 4) if answered else 0.0
    if matched:
        right = sum(
            lk.person_id in persons.get(answers[lk.record_id].customer_id, ()) for lk in matched
        )
        figures.match_true_share = round(right / len(matched), 4)


# ---------------------------------------------------------------------------- Splink


@dataclass
class SplinkFigures:
    calls: int = 0
    median_ms: float = 0.0
    mean_ms: float = 0.0
    ratio: float | None = None
    """Splink median / idres Resolve p50."""
    same_top_share: float = 0.0
    """Splink's best stored record belongs to idres's first customer (or neither has one)."""
    splink_top_true_share: float | None = None
    idres_top_true_share: float | None = None
    """Of the sampled lookups with a top customer, those whose top customer holds the person."""
    differ: int = 0
    """Lookups whose two top customers differ..."""
    differ_both_hold_person: int = 0
    """...though both hold the lookup's person (the store split that person over customers)."""
    splink_no_pair: int = 0
    """Lookups for which Splink's blocking paired no stored record."""
    idres_no_candidate: int = 0
    """Lookups for which idres proposed no customer."""
    setup_seconds: float = 0.0


@contextmanager
def quiet_splink() -> Iterator[None]:
    """Splink logs every level training could not estimate at WARNING, through its own handler
    (and every Linker resets the logger's level): its handlers pass errors only for a while."""
    logger = logging.getLogger("splink")
    propagate = logger.propagate
    added = None
    if not logger.handlers:
        added = logging.StreamHandler(sys.stderr)
        logger.addHandler(added)  # so that Splink adds none of its own meanwhile
        logger.propagate = False
    levels = [(handler, handler.level) for handler in logger.handlers]
    for handler, _ in levels:
        handler.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for handler, level in levels:
            handler.setLevel(level)
        if added is not None:
            logger.removeHandler(added)
            logger.propagate = propagate


class SplinkSingle:
    """Splink's single-record call: `predict_between(stored, one record)` with the model JSON,
    term-frequency tables computed from the stored records first."""

    def __init__(self, frame: pa.Table, model: Mapping[str, Any]) -> None:
        started = time.perf_counter()
        self._db = DuckDBAPI()
        self._schema = frame.schema
        with quiet_splink():
            self._stored = self._db.register(frame)
            self._linker = Linker(self._stored, dict(model), log_level=logging.WARNING)
            for column in MatchModel.from_splink(model).tf_columns:
                self._linker.table_management.compute_tf_table(column)
        self.setup_seconds = time.perf_counter() - started

    def top(self, values: Mapping[str, str], uid: str) -> tuple[str | None, float]:
        """(best stored record_id or None, seconds the call took)."""
        row = features(parse_query(values, DEFAULT_RULES))
        columns = {"unique_id": [uid], **{c: [row[c]] for c in FRAME_COLUMNS[1:]}}
        started = time.perf_counter()
        with quiet_splink():
            one = self._db.register(pa.table(columns, schema=self._schema))
            scored = self._linker.inference.predict_between(self._stored, one, warning_mode="never")
            best = (
                scored.as_duckdbpyrelation()
                .order("match_weight DESC, unique_id_l")
                .limit(1)
                .select("unique_id_l")
                .fetchall()
            )
        seconds = time.perf_counter() - started
        scored.drop_table_from_database_and_remove_from_cache()
        one.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
        return (str(best[0][0]) if best else None), seconds


def measure_splink(
    single: SplinkSingle,
    lookups: Sequence[Lookup],
    answers: Mapping[str, Answer],
    assigned: Mapping[str, str],
    persons: Mapping[str, set[str]],
    *,
    sample: int,
    max_seconds: float,
    idres_p50_ms: float,
    seed: int = 1,
    warmup: int = 2,
) -> SplinkFigures:
    figures = SplinkFigures(setup_seconds=round(single.setup_seconds, 2))
    answered = [lk for lk in lookups if lk.record_id in answers]
    chosen = random.Random(seed).sample(answered, min(sample, len(answered)))
    for lookup in chosen[:warmup]:
        single.top(lookup.values, f"warm-{lookup.record_id}")
    times: list[float] = []
    same = 0
    tops: dict[str, list[bool]] = {"splink": [], "idres": []}
    deadline = time.perf_counter() + max_seconds
    for lookup in chosen:
        if time.perf_counter() > deadline:
            break
        best, seconds = single.top(lookup.values, f"lookup-{lookup.record_id}")
        times.append(seconds)
        splink_top = assigned.get(best) if best is not None else None
        idres_top = answers[lookup.record_id].top
        same += splink_top == idres_top
        figures.splink_no_pair += splink_top is None
        figures.idres_no_candidate += idres_top is None
        if splink_top != idres_top:
            figures.differ += 1
            figures.differ_both_hold_person += all(
                top is not None and lookup.person_id in persons.get(top, ())
                for top in (splink_top, idres_top)
            )
        for side, top in (("splink", splink_top), ("idres", idres_top)):
            if top is not None:
                tops[side].append(lookup.person_id in persons.get(top, ()))
    figures.calls = len(times)
    if times:
        figures.median_ms = round(statistics.median(times) * 1000, 2)
        figures.mean_ms = round(statistics.fmean(times) * 1000, 2)
        figures.same_top_share = round(same / len(times), 4)
        if idres_p50_ms > 0:
            figures.ratio = round(figures.median_ms / idres_p50_ms, 1)
    for side, found in tops.items():
        if found:
            share = round(sum(found) / len(found), 4)
            setattr(figures, f"{side}_top_true_share", share)
    return figures


# ---------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    persons: int = 25_000
    seed: int = 7
    holdout: float = 0.01
    max_pairs: int = 2_000_000
    ingest: str = "cli"
    ingest_workers: int = 4
    calls: int = 2_000
    max_seconds: float = 120.0
    warmup: int = 50
    splink_sample: int = 50
    splink_seconds: float = 300.0
    start_timeout: float = 900.0
    ingest_timeout: float = 3600.0
    database_url: str = ""
    """Empty: a fresh embedded PostgreSQL under the work dir (stopped at the end)."""


@dataclass
class SetReport:
    name: str
    resolve: ResolveFigures
    splink: SplinkFigures | None = None


@dataclass
class OnlineReport:
    persons: int
    seed: int
    generated: int = 0
    held_out: int = 0
    stored: int = 0
    customers: int = 0
    model_version: str = ""
    train_seconds: float = 0.0
    ingest: IngestFigures | None = None
    server_start_seconds: float = 0.0
    server_peak_mb: float = 0.0
    sets: list[SetReport] = field(default_factory=list)


def server_env(folder: Path, database_url: str, port: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(IDRES_DATA_DIR=str(folder), IDRES_DATABASE_URL=database_url, IDRES_HOST=HOST)
    env["IDRES_PROCESSES"] = "1"  # the server's peak memory is read from its pid
    if port is not None:
        env["IDRES_PORT"] = str(port)
    return env


def run(
    opts: Options,
    work: Path,
    *,
    model: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = say,
) -> OnlineReport:
    """The whole benchmark in `work` (data, database, logs); `model` skips training."""
    report = OnlineReport(opts.persons, opts.seed)
    log(f"generating {opts.persons:,} persons (seed {opts.seed})")
    data = generate(opts.persons, opts.seed)
    report.generated = len(data.records)
    prepared = prepare(data, opts.holdout, opts.seed)
    report.held_out = prepared.held_out
    counts = ", ".join(f"{k} {len(v):,}" for k, v in prepared.lookups.items())
    log(f"{report.generated:,} records, {prepared.held_out:,} held out; lookups: {counts}")
    data_path = work / "stored.csv"
    stored_truth = [(r["record_id"], prepared.truth[r["record_id"]]) for r in prepared.stored]
    write_dataset(GeneratedData(prepared.stored, stored_truth), data_path, work / "truth.csv")
    frame = model_frame(prepared.stored)
    report.stored = frame.num_rows
    if model is None:
        log(f"training on {frame.num_rows:,} records (max pairs {opts.max_pairs:,})")
        model, seconds = train_model(prepared.stored, opts.max_pairs)
        report.train_seconds = round(seconds, 2)
        log(f"  trained in {seconds:.1f} s")
    folder = work / "data"
    folder.mkdir(exist_ok=True)
    try:
        report.model_version = store_model(opts.database_url, folder, model, frame)
        log(f"ingesting {len(prepared.stored):,} records ({opts.ingest})")
        if opts.ingest in ("cli", "bulk"):
            report.ingest = ingest_cli(
                server_env(folder, opts.database_url),
                data_path,
                len(prepared.stored),
                work / "ingest.log",
                opts.ingest_timeout,
                opts.ingest_workers,
                bulk=opts.ingest == "bulk",
            )
        else:
            report.ingest = ingest_in_process(opts.database_url, folder, prepared.stored)
        log(f"  {report.ingest.records_per_s:,.0f} records/s ({report.ingest.seconds:.1f} s)")
        assigned = assignments(opts.database_url, folder)
        persons = persons_by_customer(assigned, prepared.truth)
        report.customers = len(persons)
        answers = _serve_and_measure(report, opts, folder, work, prepared, persons, log)
        log("Splink single-record calls")
        single = SplinkSingle(frame, model)
        log(f"  Linker and TF tables ready in {single.setup_seconds:.1f} s")
        for entry in report.sets:
            entry.splink = measure_splink(
                single,
                prepared.lookups[entry.name],
                answers[entry.name],
                assigned,
                persons,
                sample=opts.splink_sample,
                max_seconds=opts.splink_seconds,
                idres_p50_ms=entry.resolve.p50_ms,
            )
            log(f"  {entry.name}: median {entry.splink.median_ms} ms over {entry.splink.calls}")
    finally:
        if not opts.database_url:
            stop_embedded(folder)
    return report


def _serve_and_measure(
    report: OnlineReport,
    opts: Options,
    folder: Path,
    work: Path,
    prepared: Prepared,
    persons: Mapping[str, set[str]],
    log: Callable[[str], None],
) -> dict[str, dict[str, Answer]]:
    port = free_port()
    target = f"{HOST}:{port}"
    env = server_env(folder, opts.database_url, port)
    log(f"starting idres serve on {target}")
    started = time.perf_counter()
    proc = start_server([str(IDRES), "serve"], env, target, work / "serve.log", opts.start_timeout)
    report.server_start_seconds = round(time.perf_counter() - started, 2)
    answers: dict[str, dict[str, Answer]] = {}
    try:
        for name, lookups in prepared.lookups.items():
            figures, answers[name] = measure_resolve(
                target,
                lookups,
                calls=opts.calls,
                max_seconds=opts.max_seconds,
                warmup=opts.warmup,
            )
            judge(figures, lookups, answers[name], persons)
            report.sets.append(SetReport(name, figures))
            log(
                f"  {name}: {figures.calls:,} calls, p50 {figures.p50_ms} ms,"
                f" p99 {figures.p99_ms} ms, MATCH {figures.match_share:.1%}"
            )
        report.server_peak_mb = round(peak_rss_mb(proc.pid), 1)
    finally:
        stop(proc)
    return answers


# ---------------------------------------------------------------------------- reporting


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def markdown(report: OnlineReport) -> str:
    ingest = report.ingest
    lines = [
        f"{report.persons:,} persons (seed {report.seed}): {report.generated:,} records,"
        f" {report.held_out:,} held out, {report.stored:,} stored in {report.customers:,}"
        f" customers; model {report.model_version}"
        + (f", trained in {report.train_seconds:.1f} s" if report.train_seconds else ""),
    ]
    if ingest is not None:
        lines.append(
            f"ingest ({ingest.mode}): {ingest.records:,} records in {ingest.seconds:,.1f} s,"
            f" {ingest.records_per_s:,.0f} records/s ({ingest.rejected:,} rejected);"
            f" server ready in {report.server_start_seconds:.1f} s,"
            f" peak {report.server_peak_mb:,.0f} MB"
        )
    header = (
        "lookups",
        "n",
        "calls",
        "p50 ms",
        "p99 ms",
        "mean ms",
        "MATCH",
        "MATCH holds person",
        "Splink calls",
        "Splink median ms",
        "Splink / idres p50",
        "same top match",
        "top holds person (Splink / idres)",
    )
    rows = []
    for entry in report.sets:
        r, s = entry.resolve, entry.splink
        rows.append(
            (
                entry.name,
                f"{r.lookups:,}",
                f"{r.calls:,}" + (f" ({r.errors} errors)" if r.errors else ""),
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.mean_ms:.2f}",
                _share(r.match_share),
                _share(r.match_true_share),
                f"{s.calls}" if s else "-",
                f"{s.median_ms:.1f}" if s else "-",
                f"{s.ratio:,.0f}x" if s and s.ratio is not None else "-",
                _share(s.same_top_share) if s else "-",
                f"{_share(s.splink_top_true_share)} / {_share(s.idres_top_true_share)}"
                if s
                else "-",
            )
        )
    table = [header, ["---"] * len(header), *rows]
    lines += ["", *("| " + " | ".join(cells) + " |" for cells in table), ""]
    for entry in report.sets:
        if (s := entry.splink) is not None and s.calls:
            lines.append(
                f"{entry.name}: of {s.calls} sampled lookups, the top matches differ for"
                f" {s.differ} (both holding the person, split over customers: "
                f"{s.differ_both_hold_person}); Splink's blocking paired no stored record for"
                f" {s.splink_no_pair}, idres proposed no customer for {s.idres_no_candidate}"
            )
    return "\n".join(lines).rstrip()


# ---------------------------------------------------------------------------- command line


def parse_options(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    d = Options()
    p.add_argument("--persons", type=int, default=d.persons)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--holdout", type=float, default=d.holdout, help="share of records held out")
    p.add_argument("--max-pairs", type=int, default=d.max_pairs, help="training cap")
    p.add_argument(
        "--ingest",
        choices=("cli", "bulk", "inprocess"),
        default=d.ingest,
        help="how to load the store: `idres ingest`, `idres ingest --bulk` or Observe in process",
    )
    p.add_argument("--ingest-workers", type=int, default=d.ingest_workers)
    p.add_argument("--calls", type=int, default=d.calls, help="Resolve calls per lookup set")
    p.add_argument("--max-seconds", type=float, default=d.max_seconds, help="per lookup set")
    p.add_argument("--warmup", type=int, default=d.warmup, help="calls before measuring")
    p.add_argument("--splink-sample", type=int, default=d.splink_sample, help="per lookup set")
    p.add_argument("--splink-seconds", type=float, default=d.splink_seconds, help="per set")
    p.add_argument("--start-timeout", type=float, default=d.start_timeout)
    p.add_argument("--workdir", type=Path, help="keep data and logs here (default: temp dir)")
    p.add_argument(
        "--json-out", type=Path, nargs="?", const=DEFAULT_JSON, help=f"default {DEFAULT_JSON}"
    )
    args = p.parse_args(argv)
    if args.calls < 1 or args.persons < 2 or not 0 < args.holdout < 0.5:
        p.error("--calls and --persons must be positive and --holdout in (0, 0.5)")
    opts = Options(
        persons=args.persons,
        seed=args.seed,
        holdout=args.holdout,
        max_pairs=args.max_pairs,
        ingest=args.ingest,
        ingest_workers=args.ingest_workers,
        calls=args.calls,
        max_seconds=args.max_seconds,
        warmup=args.warmup,
        splink_sample=args.splink_sample,
        splink_seconds=args.splink_seconds,
        start_timeout=args.start_timeout,
    )
    return opts, args


def main(argv: Sequence[str] | None = None) -> int:
    opts, args = parse_options(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        work, cleanup = args.workdir, False
    else:
        work, cleanup = Path(tempfile.mkdtemp(prefix="idres-online-")), True
    try:
        report = run(opts, work)
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        if cleanup:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(report), flush=True)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"settings": asdict(opts), "report": asdict(report)}
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
