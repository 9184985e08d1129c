"""`make bench`: ingest and Resolve throughput at two dataset sizes, against the echo floor.

For each size: generate a synthetic dataset, train the match model on it with `idres train`
(stored active, so ingest and Resolve run in model mode), time `idres ingest`, start
`idres serve`, drive it with the load generator (Resolve on the dataset's strong identifiers),
then drive the echo server (same worker count, same load). The echo server shows what gRPC in
Python costs on this machine, so the Resolve/echo ratio says how much of the budget resolving
itself takes.

Figures are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idres.ingest.files import open_table
from loadtests.loadgen import LoadConfig, LoadResult, run_load

ROOT = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"
IDRES = Path(sys.executable).with_name("idres")
ECHO = Path(__file__).with_name("echo.py")
# Persons per size: the generator writes about four records per person.
SIZES = {"demo": 1_000, "100k": 25_000}
TRAIN_MAX_PAIRS = 2_000_000
DEFAULT_JSON = ROOT / "bench-out" / "bench.json"
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass
class LoadFigures:
    """What one load run measured, latencies in milliseconds."""

    rps: float = 0.0
    count: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, result: LoadResult) -> LoadFigures:
        hist = result.overall.latency
        return cls(
            rps=round(result.rps, 1),
            count=result.count,
            p50_ms=round(hist.percentile(50) * 1000, 2),
            p95_ms=round(hist.percentile(95) * 1000, 2),
            p99_ms=round(hist.percentile(99) * 1000, 2),
            statuses=dict(result.overall.statuses),
            error_samples=dict(result.overall.errors.most_common(3)),
        )

    @property
    def errors(self) -> int:
        return self.count - self.statuses.get("OK", 0)


@dataclass
class SizeReport:
    """One row of the final table."""

    size: str
    persons: int
    records: int = 0
    train_seconds: float = 0.0
    ingest_seconds: float = 0.0
    ingest_records_per_s: float = 0.0
    ingest_peak_mb: float = 0.0
    resolve: LoadFigures | None = None
    server_peak_mb: float = 0.0
    echo: LoadFigures | None = None
    ratio: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Options:
    sizes: dict[str, int]
    duration: float
    warmup: float
    concurrency: int
    workers: int
    start_timeout: float
    ingest_timeout: float
    max_pairs: int
    keep: bool
    json_out: Path | None


class BenchError(RuntimeError):
    """A step failed; the message says which, followed by the end of its log."""

    def __init__(self, message: str, log: Path) -> None:
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        super().__init__("\n".join([message, *(f"    | {line}" for line in tail)]))


# ---------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Finished:
    code: int
    seconds: float
    peak_mb: float


def run_measured(cmd: Sequence[str], env: Mapping[str, str], log: Path, timeout: float) -> Finished:
    """Run a command to completion, timing it and reading its peak RSS from the kernel."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    deadline = started + timeout
    try:
        return _reap(proc, started, deadline, log)
    except BaseException:
        stop(proc, grace=10)
        raise


def _reap(proc: subprocess.Popen[Any], started: float, deadline: float, log: Path) -> Finished:
    while True:
        # wait4 reports this child's own peak RSS (ru_maxrss, KiB), with no sampling gaps.
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
            return Finished(proc.returncode, seconds, usage.ru_maxrss / 1024)
        if time.perf_counter() > deadline:
            raise BenchError(f"command ran past its {deadline - started:.0f} s limit", log)
        time.sleep(0.1)


def stop(proc: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM, then SIGKILL if it does not exit within `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_serving(proc: subprocess.Popen[Any], target: str, timeout: float, log: Path) -> None:
    """Poll the standard health check until the server answers SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"server exited with {proc.returncode}", log)
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if answer.status == SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.25)
    raise BenchError(f"server at {target} not SERVING after {timeout:.0f} s", log)


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (VmHWM) so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(
    cmd: Sequence[str], env: Mapping[str, str], target: str, log: Path, timeout: float
) -> subprocess.Popen[Any]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_serving(proc, target, timeout, log)
    except BaseException:
        stop(proc)
        raise
    return proc


# ---------------------------------------------------------------------------- steps


def idres_env(data_dir: Path, opts: Options, port: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # An empty DSN means the embedded PostgreSQL under the data dir: never a shared database.
    env.update(
        IDRES_DATA_DIR=str(data_dir),
        IDRES_DATABASE_URL="",
        IDRES_HOST=HOST,
        IDRES_MAX_WORKERS=str(opts.workers),
        # One process, as the echo floor and the peak memory read from its pid (more:
        # loadtests.bench_processes).
        IDRES_PROCESSES="1",
    )
    if port is not None:
        env["IDRES_PORT"] = str(port)
    return env


def count_records(path: Path) -> int:
    with open_table(path) as table:
        return sum(1 for row in table if row.error is None)


def generate(report: SizeReport, work: Path) -> Path:
    data = work / "data.csv"
    cmd = [str(IDRES), "generate", "--persons", str(report.persons), "--seed", "7"]
    done = run_measured([*cmd, "--out", str(data)], os.environ, work / "generate.log", 1800)
    if done.code != 0:
        raise BenchError(f"idres generate failed ({done.code})", work / "generate.log")
    report.records = count_records(data)
    return data


def train(report: SizeReport, data: Path, work: Path, opts: Options) -> None:
    """`idres train` on the generated file: the model is stored active in the data dir's
    database, so the ingest and the server that follow decide with it."""
    log = work / "train.log"
    env = idres_env(work / "data", opts)
    cmd = [str(IDRES), "train", str(data), "--max-pairs", str(opts.max_pairs)]
    done = run_measured(cmd, env, log, opts.ingest_timeout)
    if done.code != 0:
        raise BenchError(f"idres train failed ({done.code})", log)
    report.train_seconds = round(done.seconds, 2)


def ingest(report: SizeReport, data: Path, work: Path, opts: Options) -> None:
    log = work / "ingest.log"
    env = idres_env(work / "data", opts)
    done = run_measured([str(IDRES), "ingest", "--quiet", str(data)], env, log, opts.ingest_timeout)
    if done.code != 0:
        raise BenchError(f"idres ingest failed ({done.code})", log)
    report.ingest_seconds = round(done.seconds, 2)
    report.ingest_records_per_s = round(report.records / done.seconds, 1)
    report.ingest_peak_mb = round(done.peak_mb, 1)


def load(target: str, data: Path, opts: Options) -> LoadResult:
    config = LoadConfig(
        target=target,
        concurrency=opts.concurrency,
        duration=opts.duration,
        warmup=opts.warmup,
        mix={"resolve": 1},
        lookups=data,
        lookup_mode="strong",
    )
    return run_load(config)


def bench_resolve(report: SizeReport, data: Path, work: Path, opts: Options) -> None:
    port = free_port()
    target = f"{HOST}:{port}"
    env = idres_env(work / "data", opts, port)
    log = work / "serve.log"
    proc = start_server([str(IDRES), "serve"], env, target, log, opts.start_timeout)
    try:
        result = load(target, data, opts)
        report.server_peak_mb = round(peak_rss_mb(proc.pid), 1)
    finally:
        stop(proc)
    report.resolve = LoadFigures.of(result)
    say(f"  resolve: {describe(report.resolve)}")
    for message, count in report.resolve.error_samples.items():
        say(f"    {count:>6} x {message}")


def bench_echo(report: SizeReport, data: Path, work: Path, opts: Options) -> None:
    port = free_port()
    target = f"{HOST}:{port}"
    cmd = [sys.executable, str(ECHO), "--port", str(port), "--workers", str(opts.workers)]
    proc = start_server(cmd, os.environ, target, work / "echo.log", opts.start_timeout)
    try:
        result = load(target, data, opts)
    finally:
        stop(proc)
    report.echo = LoadFigures.of(result)
    say(f"  echo:    {describe(report.echo)}")
    if report.resolve and report.echo.rps:
        report.ratio = round(report.resolve.rps / report.echo.rps, 3)


def stop_leftover_postgres(work: Path) -> None:
    """The embedded PostgreSQL stops with its last client; stop one left by a killed server."""
    for pidfile in work.rglob("postmaster.pid"):
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            continue
        say(f"  stopped leftover PostgreSQL (pid {pid})")
        for _ in range(100):
            if not pidfile.exists():
                break
            time.sleep(0.1)


def bench_size(name: str, persons: int, root: Path, opts: Options) -> SizeReport:
    report = SizeReport(name, persons)
    work = root / name
    work.mkdir()
    try:
        say(f"[{name}] generating {persons:,} persons")
        data = generate(report, work)
        say(f"[{name}] training the model (max pairs {opts.max_pairs:,})")
        train(report, data, work, opts)
        say(f"  train: {report.train_seconds:,.1f} s")
        say(f"[{name}] ingesting {report.records:,} records")
        ingest(report, data, work, opts)
        say(f"  ingest: {report.ingest_records_per_s:,.0f} records/s")
        say(f"[{name}] Resolve load: {opts.concurrency} in flight for {opts.duration:g} s")
        bench_resolve(report, data, work, opts)
    except BenchError as exc:
        report.error = str(exc)
        say(f"  FAILED: {exc}")
    finally:
        stop_leftover_postgres(work)
    if report.records:
        bench_echo(report, work / "data.csv", work, opts)
    return report


# ---------------------------------------------------------------------------- reporting


def say(text: str, out: TextIO = sys.stdout) -> None:
    print(text, file=out, flush=True)


def describe(figures: LoadFigures) -> str:
    codes = " ".join(f"[{code}] {n}" for code, n in sorted(figures.statuses.items()))
    return (
        f"{figures.rps:,.0f} rps, p50 {figures.p50_ms} ms, p95 {figures.p95_ms} ms,"
        f" p99 {figures.p99_ms} ms; {codes}"
    )


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
    }


INVALID_NOTE = (
    "errors: INVALID_ARGUMENT answers come from the generator's deliberately malformed rows,"
    " which the ingest rejects too."
)
COLUMNS = (
    ("size", 6),
    ("records", 9),
    ("train s", 8),
    ("ingest rec/s", 13),
    ("ingest MB", 10),
    ("Resolve rps", 12),
    ("p50/p99 ms", 14),
    ("errors", 7),
    ("server MB", 10),
    ("echo rps", 9),
    ("echo p50/p99", 14),
    ("ratio", 6),
)


def _cells(r: SizeReport) -> list[str]:
    res, echo = r.resolve, r.echo
    return [
        r.size,
        f"{r.records:,}",
        f"{r.train_seconds:,.1f}" if r.train_seconds else "-",
        f"{r.ingest_records_per_s:,.0f}" if r.ingest_seconds else "-",
        f"{r.ingest_peak_mb:,.0f}" if r.ingest_seconds else "-",
        f"{res.rps:,.0f}" if res else "-",
        f"{res.p50_ms:.2f}/{res.p99_ms:.2f}" if res else "-",
        f"{res.errors:,}" if res else "-",
        f"{r.server_peak_mb:,.0f}" if res else "-",
        f"{echo.rps:,.0f}" if echo else "-",
        f"{echo.p50_ms:.2f}/{echo.p99_ms:.2f}" if echo else "-",
        f"{r.ratio:.2f}" if r.ratio is not None else "-",
    ]


def table(reports: Sequence[SizeReport]) -> str:
    header = " ".join(f"{name:>{width}}" for name, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for r in reports:
        cells = _cells(r)
        lines.append(" ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)))
        if r.error:
            lines.append(f"  {r.size}: {r.error}")
    if any(r.resolve and r.resolve.statuses.get("INVALID_ARGUMENT") for r in reports):
        lines.append(INVALID_NOTE)
    return "\n".join(lines)


def write_json(path: Path, info: dict[str, Any], opts: Options, reports: list[SizeReport]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(opts).items() if k not in ("json_out", "keep")}
    doc = {"machine": info, "settings": settings, "sizes": [asdict(r) for r in reports]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    say(f"wrote {path}")


# ---------------------------------------------------------------------------- command line


def parse_sizes(text: str) -> dict[str, int]:
    """`demo,100k` or person counts such as `200`."""
    sizes = {}
    for name in filter(None, (s.strip() for s in text.split(","))):
        if name in SIZES:
            sizes[name] = SIZES[name]
        elif name.isdigit():
            sizes[f"{name}p"] = int(name)
        else:
            raise argparse.ArgumentTypeError(f"unknown size {name!r}: use demo, 100k or persons")
    return sizes


def parse_options(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--sizes", type=parse_sizes, help="demo,100k (default) or person counts")
    p.add_argument("--duration", type=float, help="seconds of load per run (default 20)")
    p.add_argument("--warmup", type=float, help="seconds before measuring (default 2)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--workers", type=int, default=16, help="server threads, real and echo")
    p.add_argument("--start-timeout", type=float, default=60, help="seconds to SERVING")
    p.add_argument("--ingest-timeout", type=float, default=3600, help="seconds per ingest")
    p.add_argument(
        "--max-pairs", type=int, default=TRAIN_MAX_PAIRS, help="`idres train` cap on pairs"
    )
    p.add_argument("--quick", action="store_true", help="demo size only, 5 s runs")
    p.add_argument("--keep", action="store_true", help="keep the work dir (data and logs)")
    p.add_argument(
        "--json-out", type=Path, nargs="?", const=DEFAULT_JSON, help=f"default {DEFAULT_JSON}"
    )
    args = p.parse_args(argv)
    default_sizes = {"demo": SIZES["demo"]} if args.quick else dict(SIZES)
    return Options(
        sizes=args.sizes or default_sizes,
        duration=args.duration or (5.0 if args.quick else 20.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
        concurrency=args.concurrency,
        workers=args.workers,
        start_timeout=args.start_timeout,
        ingest_timeout=args.ingest_timeout,
        max_pairs=args.max_pairs,
        keep=args.keep,
        json_out=args.json_out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    info = machine()
    say("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    root = Path(tempfile.mkdtemp(prefix="idres-bench-"))
    reports: list[SizeReport] = []
    try:
        for name, persons in opts.sizes.items():
            reports.append(bench_size(name, persons, root, opts))
    finally:
        if opts.keep:
            say(f"work dir kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    say("")
    say(table(reports))
    if opts.json_out:
        write_json(opts.json_out, info, opts, reports)
    return 1 if any(r.error for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
