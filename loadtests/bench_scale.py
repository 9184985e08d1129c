"""`make bench-scale`: the online store at a million records, on one run.

    python -m loadtests.bench_scale [--persons 250000] [--duration 15] [--json-out FILE]

Steps, each timed (about four records a person; 250,000 persons ≈ 1M records):

1. `idres generate --persons N --seed 7`;
2. `idres ingest --bulk` of the whole file into a fresh embedded PostgreSQL (it trains and
   stores the model first): wall time and peak resident memory;
3. `idres serve --processes 1`: time to SERVING, resident memory once serving;
4. Resolve on the strong identifiers and on the weak attributes (names, birth date, postcode)
   of the file's rows: as fast as the client goes (the maximum), then paced at half of it
   for p50/p99; the echo floor under the same maximum load gives the ratio;
5. Observe of the file's records under fresh ids: the maximum, then p50/p99 at half of it;
6. `idres ingest --server` of `--server-rows` rows under fresh ids, end to end.

Every load is bounded in time and count, over loopback only. Figures are printed, never
asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtests.bench import (
    ECHO,
    HOST,
    IDRES,
    BenchError,
    LoadFigures,
    Options,
    SizeReport,
    free_port,
    generate,
    idres_env,
    run_measured,
    say,
    start_server,
    stop,
    stop_leftover_postgres,
)
from loadtests.loadgen import LoadConfig, run_load


@dataclass(frozen=True)
class Plan:
    persons: int
    duration: float
    warmup: float
    concurrency: int
    clients: int
    server_rows: int
    start_timeout: float
    load_timeout: float


@dataclass
class Load:
    """One RPC's maximum throughput, and its latency at half of it."""

    max_rps: float = 0.0
    half_rps: float = 0.0
    half_p50_ms: float = 0.0
    half_p99_ms: float = 0.0
    errors: int = 0
    echo_rps: float = 0.0


@dataclass
class Report:
    persons: int
    records: int = 0
    bulk_seconds: float = 0.0
    bulk_peak_mb: float = 0.0
    start_seconds: float = 0.0
    serving_mb: float = 0.0
    serving_peak_mb: float = 0.0
    loads: dict[str, Load] = field(default_factory=dict)
    server_ingest_records_per_s: float = 0.0


def _config(target: str, data: Path, plan: Plan, **kw: Any) -> LoadConfig:
    return LoadConfig(
        target=target,
        concurrency=plan.concurrency,
        duration=plan.duration,
        warmup=plan.warmup,
        lookups=data,
        processes=plan.clients,
        **kw,
    )


def _measure(target: str, data: Path, plan: Plan, rpc: str, mode: str) -> Load:
    """The maximum, then half of it paced."""
    kw: dict[str, Any] = {"mix": {rpc: 1}, "lookup_mode": mode}
    top = LoadFigures.of(run_load(_config(target, data, plan, **kw)))
    half = LoadFigures.of(run_load(_config(target, data, plan, rate=top.rps / 2, **kw)))
    return Load(top.rps, half.rps, half.p50_ms, half.p99_ms, top.errors + half.errors)


def _memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return round(found.get("VmRSS", 0.0), 1), round(found.get("VmHWM", 0.0), 1)


def _fresh_ids(data: Path, out: Path, rows: int) -> int:
    """The first `rows` rows of `data` under new record ids, as new observations."""
    with data.open(newline="") as src, out.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=list(reader.fieldnames or ()))
        writer.writeheader()
        written = 0
        for row in reader:
            if written >= rows:
                break
            row["record_id"] = f"scale-{row['record_id']}"
            writer.writerow(row)
            written += 1
    return written


def bench(plan: Plan, work: Path) -> Report:
    opts = Options({}, plan.duration, plan.warmup, plan.concurrency, 16, 120, 7200, 0, False, None)
    size = SizeReport("scale", plan.persons)
    report = Report(plan.persons)
    say(f"generating {plan.persons:,} persons")
    data = generate(size, work)
    report.records = size.records
    env = idres_env(work / "data", opts)
    say(f"idres ingest --bulk of {report.records:,} records")
    cmd = [str(IDRES), "ingest", "--bulk", "--quiet", str(data)]
    done = run_measured(cmd, env, work / "bulk.log", plan.load_timeout)
    if done.code != 0:
        raise BenchError(f"idres ingest --bulk failed ({done.code})", work / "bulk.log")
    report.bulk_seconds, report.bulk_peak_mb = round(done.seconds, 1), round(done.peak_mb, 1)
    say(f"  {report.bulk_seconds:,.1f} s, peak {report.bulk_peak_mb:,.0f} MB")
    _serve_and_load(report, plan, data, work, env)
    return report


def _serve_and_load(
    report: Report, plan: Plan, data: Path, work: Path, env: dict[str, str]
) -> None:
    port = free_port()
    target = f"{HOST}:{port}"
    serve = [str(IDRES), "serve", "--processes", "1", "--port", str(port)]
    started = time.perf_counter()
    proc = start_server(serve, env, target, work / "serve.log", plan.start_timeout)
    report.start_seconds = round(time.perf_counter() - started, 1)
    report.serving_mb, report.serving_peak_mb = _memory_mb(proc.pid)
    say(f"  serving in {report.start_seconds} s, {report.serving_mb:,.0f} MB resident")
    try:
        for name, rpc, mode in (("strong", "resolve", "strong"), ("weak", "resolve", "weak")):
            report.loads[name] = _measure(target, data, plan, rpc, mode)
            say(f"  Resolve {name}: {_describe(report.loads[name])}")
        report.loads["observe"] = _measure(target, data, plan, "observe", "strong")
        say(f"  Observe: {_describe(report.loads['observe'])}")
        fresh = work / "fresh.csv"
        rows = _fresh_ids(data, fresh, plan.server_rows)
        cmd = [str(IDRES), "ingest", "--server", target, "--quiet", str(fresh)]
        done = run_measured(cmd, env, work / "remote.log", plan.load_timeout)
        if done.code != 0:
            raise BenchError(f"idres ingest --server failed ({done.code})", work / "remote.log")
        report.server_ingest_records_per_s = round(rows / done.seconds, 1)
        say(f"  idres ingest --server: {report.server_ingest_records_per_s:,.0f} records/s")
    finally:
        stop(proc)
    _echo(report, plan, data, work)


def _echo(report: Report, plan: Plan, data: Path, work: Path) -> None:
    port = free_port()
    target = f"{HOST}:{port}"
    cmd = [sys.executable, str(ECHO), "--port", str(port)]
    proc = start_server(cmd, dict(os.environ), target, work / "echo.log", plan.start_timeout)
    try:
        for name, load in report.loads.items():
            rpc, mode = ("observe", "strong") if name == "observe" else ("resolve", name)
            config = _config(target, data, plan, mix={rpc: 1}, lookup_mode=mode)
            load.echo_rps = LoadFigures.of(run_load(config)).rps
    finally:
        stop(proc)


def _describe(load: Load) -> str:
    return (
        f"max {load.max_rps:,.0f}/s; at {load.half_rps:,.0f}/s p50 {load.half_p50_ms} ms,"
        f" p99 {load.half_p99_ms} ms; {load.errors} errors"
    )


def table(report: Report) -> str:
    lines = [
        f"{report.records:,} records ({report.persons:,} persons): `idres ingest --bulk`"
        f" {report.bulk_seconds:,.1f} s, peak {report.bulk_peak_mb:,.0f} MB; `idres serve`"
        f" SERVING in {report.start_seconds} s, {report.serving_mb:,.0f} MB resident (peak"
        f" {report.serving_peak_mb:,.0f} MB); `idres ingest --server`"
        f" {report.server_ingest_records_per_s:,.0f} records/s",
        "",
        "| calls | max calls/s | at half: calls/s | p50 ms | p99 ms | echo calls/s | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, load in report.loads.items():
        ratio = f"{load.max_rps / load.echo_rps:.2f}" if load.echo_rps else "-"
        lines.append(
            f"| {name} | {load.max_rps:,.0f} | {load.half_rps:,.0f} | {load.half_p50_ms} |"
            f" {load.half_p99_ms} | {load.echo_rps:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> tuple[Plan, Path | None]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--persons", type=int, default=250_000, help="about four records each")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per load, ≤ 600")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    p.add_argument("--clients", type=int, default=2, help="load generator processes")
    p.add_argument("--server-rows", type=int, default=20_000, help="rows for ingest --server")
    p.add_argument("--start-timeout", type=float, default=1800, help="seconds to SERVING")
    p.add_argument("--load-timeout", type=float, default=7200, help="seconds per ingest")
    p.add_argument("--json-out", type=Path)
    a = p.parse_args(argv)
    plan = Plan(
        a.persons,
        a.duration,
        a.warmup,
        a.concurrency,
        a.clients,
        a.server_rows,
        a.start_timeout,
        a.load_timeout,
    )
    return plan, a.json_out


def main(argv: Sequence[str] | None = None) -> int:
    plan, json_out = parse(argv)
    root = Path(tempfile.mkdtemp(prefix="idres-bench-scale-"))
    try:
        report = bench(plan, root)
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        stop_leftover_postgres(root)
        shutil.rmtree(root, ignore_errors=True)
    say("")
    say(table(report))
    if json_out:
        json_out.write_text(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
