"""Serving on every core: Resolve and Observe throughput of `idres serve --processes P` at one
process and at N, against the echo floor at the same process counts, with the same client.

    python -m loadtests.bench_processes [--persons 1000] [--processes N] [--duration 15]

Steps: generate `--persons` (seed 7), `idres train` and `idres ingest` it into an embedded
PostgreSQL, then for each process count start `idres serve --processes P` and drive it with
the load generator (`--clients` processes, `--concurrency` calls in flight): Resolve on the
dataset's strong identifiers, then Observe of its records under fresh ids. The echo server
(`loadtests/echo.py --processes P`, canned answers, hosted like the real server) gets the same
two loads. Every load is bounded in time and count, over loopback only. The server's CPU time
per call (all its processes; PostgreSQL's own is not counted) says what each core can carry
when the client and the database do not share it.

Figures are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from idres.cli.supervisor import available_cores
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
    ingest,
    say,
    start_server,
    stop,
    stop_leftover_postgres,
    train,
)
from loadtests.loadgen import LoadConfig, run_load

RPCS = ("resolve", "observe")


@dataclass(frozen=True)
class Run:
    """One load on one server at one process count."""

    server: str
    processes: int
    rpc: str
    figures: LoadFigures
    server_cpu_ms: float
    """The server's CPU time per call, all its processes together."""


@dataclass(frozen=True)
class Plan:
    persons: int
    processes: tuple[int, ...]
    clients: int
    concurrency: int
    duration: float
    warmup: float
    max_pairs: int


def _load(target: str, data: Path, rpc: str, s: Plan) -> LoadFigures:
    config = LoadConfig(
        target=target,
        concurrency=s.concurrency,
        duration=s.duration,
        warmup=s.warmup,
        mix={rpc: 1},
        lookups=data,
        processes=s.clients,
    )
    return LoadFigures.of(run_load(config))


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a server: its process and its children's."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        with suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _measure(
    cmd: list[str], env: dict[str, str], data: Path, work: Path, s: Plan
) -> dict[str, tuple[LoadFigures, float]]:
    """Starts `cmd` on a free port (it takes `--port`), runs each RPC's load, stops it."""
    port = free_port()
    target = f"{HOST}:{port}"
    proc = start_server([*cmd, "--port", str(port)], env, target, work / "server.log", 120)
    try:
        loads = {}
        for rpc in RPCS:
            before = _cpu_seconds(proc.pid)
            figures = _load(target, data, rpc, s)
            # Warm-up calls burn CPU too: spread it over every call sent.
            sent = figures.count * (1 + s.warmup / s.duration)
            cpu_ms = (_cpu_seconds(proc.pid) - before) * 1000 / max(sent, 1)
            loads[rpc] = (figures, round(cpu_ms, 3))
        return loads
    finally:
        stop(proc)


def bench(s: Plan, work: Path) -> list[Run]:
    opts = Options({}, s.duration, s.warmup, s.concurrency, 16, 120, 3600, s.max_pairs, False, None)
    report = SizeReport("processes", s.persons)
    say(f"generating {s.persons:,} persons")
    data = generate(report, work)
    say(f"training, then ingesting {report.records:,} records")
    train(report, data, work, opts)
    ingest(report, data, work, opts)
    runs: list[Run] = []
    for count in s.processes:
        env = idres_env(work / "data", opts)
        serve = [str(IDRES), "serve", "--processes", str(count)]
        echo = [sys.executable, str(ECHO), "--processes", str(count)]
        for server, cmd in (("idres", serve), ("echo", echo)):
            for rpc, (figures, cpu_ms) in _measure(cmd, env, data, work, s).items():
                runs.append(Run(server, count, rpc, figures, cpu_ms))
                say(
                    f"  {server} x{count} {rpc}: {figures.rps:,.0f}/s, p50 {figures.p50_ms} ms,"
                    f" p99 {figures.p99_ms} ms, server CPU {cpu_ms} ms a call,"
                    f" errors {figures.errors}"
                )
    return runs


def table(runs: Sequence[Run]) -> str:
    lines = [
        "| processes | RPC | idres calls/s | p50 / p99 ms | server CPU ms/call | echo calls/s"
        " | echo CPU ms/call | ratio | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    echo = {(r.processes, r.rpc): r for r in runs if r.server == "echo"}
    for r in (r for r in runs if r.server == "idres"):
        floor = echo.get((r.processes, r.rpc))
        floor_rps = floor.figures.rps if floor else 0.0
        floor_cpu = floor.server_cpu_ms if floor else 0.0
        ratio = f"{r.figures.rps / floor_rps:.2f}" if floor_rps else "-"
        f = r.figures
        lines.append(
            f"| {r.processes} | {r.rpc} | {f.rps:,.0f} | {f.p50_ms} / {f.p99_ms} |"
            f" {r.server_cpu_ms} | {floor_rps:,.0f} | {floor_cpu} | {ratio} | {f.errors} |"
        )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> tuple[Plan, Path | None]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--persons", type=int, default=1_000)
    p.add_argument("--processes", type=int, default=available_cores(), help="the N besides 1")
    p.add_argument("--clients", type=int, default=2, help="load generator processes")
    p.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per load, ≤ 600")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--max-pairs", type=int, default=2_000_000)
    p.add_argument("--json-out", type=Path)
    a = p.parse_args(argv)
    counts = tuple(sorted({1, max(1, a.processes)}))
    s = Plan(a.persons, counts, a.clients, a.concurrency, a.duration, a.warmup, a.max_pairs)
    return s, a.json_out


def main(argv: Sequence[str] | None = None) -> int:
    s, json_out = parse(argv)
    root = Path(tempfile.mkdtemp(prefix="idres-bench-processes-"))
    try:
        runs = bench(s, root)
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        stop_leftover_postgres(root)
        shutil.rmtree(root, ignore_errors=True)
    say("")
    say(table(runs))
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
