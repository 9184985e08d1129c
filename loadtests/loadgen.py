"""A bounded gRPC load generator for IdentityService, in the spirit of ghz.

The client is one asyncio event loop per process (`grpc.aio`): on two cores it drove about 12 %
more requests/s than threads with sync stubs against the echo server, and spent less client CPU
per request, which leaves more of the machine to the server being measured. `--processes K`
splits the load over K such processes and merges their histograms.

Every run stops by itself: at `--duration` seconds (capped at 600) or `--max-requests`,
whichever comes first; requests still in flight then finish within their deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import json
import math
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from idres.ingest.files import open_table
from idres.v1 import identity_pb2, identity_pb2_grpc

MAX_DURATION = 600.0
MAX_WARMUP = 60.0
MAX_LOOKUP_ROWS = 500_000
MAX_ERROR_SAMPLES = 10
MAX_KNOWN_CUSTOMERS = 10_000
RPCS = ("resolve", "observe", "get")
RPC_NAMES = {"resolve": "Resolve", "observe": "Observe", "get": "GetCustomer"}
RPC_ALIASES = {"getcustomer": "get", "get_customer": "get"}
STRONG_FIELDS = ("email", "phone", "handle", "handle_platform", "device_id", "loyalty_card")
WEAK_FIELDS = ("given_name", "surname", "dob", "postcode")
RECORD_FIELDS = (*WEAK_FIELDS, *STRONG_FIELDS, "channel")
PERCENTILES = (10, 25, 50, 75, 90, 95, 99)


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class LoadConfig:
    """What to send, where, and for how long."""

    target: str = "127.0.0.1:50051"
    """host:port of the server; only loopback hosts are accepted."""
    concurrency: int = 16
    """Requests in flight at any moment (over all processes)."""
    duration: float = 10.0
    """Seconds of measured load, after warmup; at most 600."""
    max_requests: int = 1_000_000
    """Upper bound on measured requests (over all processes); warmup has the same bound."""
    warmup: float = 1.0
    """Seconds of load sent before measuring, so connections and caches are warm."""
    mix: Mapping[str, int] = field(default_factory=lambda: {"resolve": 1})
    """Relative weight of each RPC: keys among resolve, observe, get."""
    lookups: Path | None = None
    """Canonical-schema CSV, Parquet or JSONL file the requests are built from."""
    lookup_mode: str = "strong"
    """strong: Resolve sends identifiers only; weak: attributes only."""
    deadline_ms: int = 1000
    """Deadline of each call."""
    processes: int = 1
    """Client processes sharing the load."""
    seed: int = 1
    """Seed of the request choice, so runs are repeatable."""
    rate: float = 0.0
    """Requests per second over all processes, paced evenly; 0 sends as fast as the
    concurrency allows. A latency "at half the maximum load" is measured at half the rate
    a run with 0 reached."""

    def validate(self) -> None:
        parse_target(self.target)
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:.0f}] seconds")
        if not 0 <= self.warmup <= MAX_WARMUP:
            raise ValueError(f"warmup must be in [0, {MAX_WARMUP:.0f}] seconds")
        if self.max_requests < 1 or self.concurrency < 1 or self.deadline_ms < 1:
            raise ValueError("max-requests, concurrency and deadline-ms must be positive")
        if not 1 <= self.processes <= self.concurrency:
            raise ValueError("processes must be between 1 and the concurrency")
        if self.rate < 0:
            raise ValueError("rate must be 0 (as fast as possible) or more requests a second")
        if self.lookup_mode not in ("strong", "weak"):
            raise ValueError("lookup mode must be strong or weak")
        if set(self.mix) - set(RPCS) or sum(self.mix.values()) <= 0:
            raise ValueError(f"mix needs positive weights for some of {', '.join(RPCS)}")


def parse_target(target: str) -> tuple[str, int]:
    """Split host:port, refusing anything but a loopback host: load stays on this machine."""
    host, sep, port = target.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit():
        raise ValueError(f"target must be host:port, got {target!r}")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"refusing non-loopback target {target!r}: load is only sent to 127.0.0.1"
            )
    return host, int(port)


def parse_mix(text: str) -> dict[str, int]:
    """Parse `resolve=8,observe=1,get=1`."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        key = RPC_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key not in RPCS:
            raise ValueError(f"unknown RPC {name!r} in mix; use {', '.join(RPCS)}")
        mix[key] = int(weight) if weight else 1
    return mix


# ---------------------------------------------------------------------------- statistics


@dataclass
class Histogram:
    """Log-bucketed latencies (1 % resolution): small, mergeable across processes."""

    SCALE = 100.0

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    total: float = 0.0
    fastest: float = math.inf
    slowest: float = 0.0

    def record(self, seconds: float) -> None:
        self.buckets[int(math.log(max(seconds, 1e-7)) * self.SCALE)] += 1
        self.count += 1
        self.total += seconds
        self.fastest = min(self.fastest, seconds)
        self.slowest = max(self.slowest, seconds)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.fastest = min(self.fastest, other.fastest)
        self.slowest = max(self.slowest, other.slowest)

    @property
    def average(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, pct: float) -> float:
        """Latency under which `pct` % of calls completed, to bucket precision."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(pct / 100 * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                value = math.exp((bucket + 0.5) / self.SCALE)
                return min(max(value, self.fastest), self.slowest)
        return self.slowest

    def to_dict(self) -> dict[str, Any]:
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "count": self.count,
            "total": self.total,
            "fastest": self.fastest if self.count else 0.0,
            "slowest": self.slowest,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        hist = cls(Counter({int(k): int(v) for k, v in data["buckets"].items()}))
        hist.count, hist.total = int(data["count"]), float(data["total"])
        hist.fastest = float(data["fastest"]) if hist.count else math.inf
        hist.slowest = float(data["slowest"])
        return hist


@dataclass
class RpcStats:
    """Latencies, status codes and a few error messages of one RPC (or of all)."""

    latency: Histogram = field(default_factory=Histogram)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, seconds: float, status: str, detail: str = "") -> None:
        self.latency.record(seconds)
        self.statuses[status] += 1
        if status != "OK":
            self._sample(f"[{status}] {detail}", 1)

    def _sample(self, message: str, count: int) -> None:
        # Keep a handful of distinct messages: details often embed per-request values.
        if message in self.errors or len(self.errors) < MAX_ERROR_SAMPLES:
            self.errors[message] += count
        else:
            self.errors["(other error messages)"] += count

    def merge(self, other: RpcStats) -> None:
        self.latency.merge(other.latency)
        self.statuses.update(other.statuses)
        for message, count in other.errors.items():
            self._sample(message, count)

    @property
    def ok(self) -> int:
        return self.statuses["OK"]

    @property
    def failed(self) -> int:
        return self.latency.count - self.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency": self.latency.to_dict(),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RpcStats:
        return cls(
            Histogram.from_dict(data["latency"]),
            Counter(data["statuses"]),
            Counter(data["errors"]),
        )


@dataclass
class LoadResult:
    """Outcome of one run: overall and per-RPC statistics over the measured window."""

    total_seconds: float
    per_rpc: dict[str, RpcStats]

    @property
    def overall(self) -> RpcStats:
        merged = RpcStats()
        for stats in self.per_rpc.values():
            merged.merge(stats)
        return merged

    @property
    def count(self) -> int:
        return sum(s.latency.count for s in self.per_rpc.values())

    @property
    def rps(self) -> float:
        return self.count / self.total_seconds if self.total_seconds > 0 else 0.0

    def merge(self, other: LoadResult) -> None:
        """Fold in a concurrent run (another process): times overlap, counts add."""
        self.total_seconds = max(self.total_seconds, other.total_seconds)
        for rpc, stats in other.per_rpc.items():
            self.per_rpc.setdefault(rpc, RpcStats()).merge(stats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_seconds": self.total_seconds,
            "per_rpc": {k: v.to_dict() for k, v in self.per_rpc.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        per_rpc = {k: RpcStats.from_dict(v) for k, v in data["per_rpc"].items()}
        return cls(float(data["total_seconds"]), per_rpc)

    def summary(self) -> dict[str, Any]:
        """Machine-readable summary, latencies in milliseconds."""
        out = _stats_summary(self.overall, self.total_seconds)
        out["total_seconds"] = round(self.total_seconds, 3)
        out["per_rpc"] = {
            RPC_NAMES[k]: _stats_summary(v, self.total_seconds) for k, v in self.per_rpc.items()
        }
        return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _stats_summary(stats: RpcStats, seconds: float) -> dict[str, Any]:
    hist = stats.latency
    return {
        "count": hist.count,
        "rps": round(hist.count / seconds, 1) if seconds > 0 else 0.0,
        "fastest_ms": _ms(hist.fastest if hist.count else 0.0),
        "slowest_ms": _ms(hist.slowest),
        "average_ms": _ms(hist.average),
        "percentiles_ms": {f"p{p}": _ms(hist.percentile(p)) for p in PERCENTILES},
        "statuses": dict(stats.statuses),
        "errors": dict(stats.errors),
    }


# ---------------------------------------------------------------------------- requests


def read_rows(path: Path, limit: int = MAX_LOOKUP_ROWS) -> list[dict[str, str]]:
    """Up to `limit` readable rows of a canonical-schema CSV, Parquet or JSONL file, as text."""
    with open_table(path) as table:
        good = (row.values for row in table if row.error is None)
        return list(itertools.islice(good, limit))


def synthetic_rows(count: int = 1000) -> list[dict[str, str]]:
    """Stand-in rows when no lookup file is given, so the generator runs against any server."""
    given = ("Alex", "Sam", "Priya", "Tomasz", "Grace", "Omar", "Mei", "Lucas")
    surnames = ("Smith", "Khan", "Nowak", "Okafor", "Jones", "Chen", "Silva", "Murphy")
    return [
        {
            "email": f"load.user{i}@example.com",
            "phone": f"+447700900{i % 1000:03d}",
            "given_name": given[i % len(given)],
            "surname": surnames[i // len(given) % len(surnames)],
            "dob": f"19{60 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "postcode": "SW1A 1AA",
        }
        for i in range(count)
    ]


def _pick(row: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    picked = {name: row[name].strip() for name in names if row.get(name, "").strip()}
    if "handle" not in picked:
        picked.pop("handle_platform", None)  # a platform alone identifies no one
    return picked


def _record(row: Mapping[str, str]) -> identity_pb2.Record:
    record = identity_pb2.Record()
    for name, value in _pick(row, RECORD_FIELDS).items():
        setattr(record, name, value)
    return record


class RequestSource:
    """Builds the requests of one client process from lookup rows.

    Resolve requests are built once and reused (sending costs the same); Observe gets a fresh
    record_id each time so the server stores a new record; GetCustomer asks for customers that
    earlier answers named.
    """

    def __init__(self, rows: Sequence[Mapping[str, str]], mode: str, seed: int) -> None:
        fields = STRONG_FIELDS if mode == "strong" else WEAK_FIELDS
        self._resolves = [
            identity_pb2.ResolveRequest(channel="loadgen", **kw)
            for kw in (_pick(row, fields) for row in rows)
            if kw
        ]
        self._records = [_record(row) for row in rows]
        if not self._resolves:
            raise ValueError(f"no lookup row has any of {', '.join(fields)}")
        self._rng = random.Random(seed)
        self._run_id = f"load-{seed}-{time.time_ns():x}"
        self._sent = 0
        self.customers: list[str] = []

    def resolve(self) -> identity_pb2.ResolveRequest:
        return self._rng.choice(self._resolves)

    def observe(self) -> identity_pb2.ObserveRequest:
        self._sent += 1
        request = identity_pb2.ObserveRequest()
        request.record.CopyFrom(self._rng.choice(self._records))
        request.record.record_id = f"{self._run_id}-{self._sent}"
        request.record.channel = request.record.channel or "loadgen"
        return request

    def get_customer(self) -> identity_pb2.GetCustomerRequest:
        known = self._rng.choice(self.customers) if self.customers else "cus_unknown"
        return identity_pb2.GetCustomerRequest(customer_id=known)

    def learn(self, response: Any) -> None:
        customer_id = getattr(response, "customer_id", "")
        if isinstance(customer_id, str) and customer_id:
            if len(self.customers) < MAX_KNOWN_CUSTOMERS:
                self.customers.append(customer_id)
            else:
                self.customers[self._rng.randrange(MAX_KNOWN_CUSTOMERS)] = customer_id


class Mix:
    """Weighted choice of the next RPC; GetCustomer waits until some customer id is known."""

    def __init__(self, weights: Mapping[str, int], source: RequestSource, seed: int) -> None:
        self._names = [k for k in RPCS if weights.get(k, 0) > 0]
        self._weights = [weights[k] for k in self._names]
        self._fallback = [k for k in self._names if k != "get"]
        self._source = source
        self._rng = random.Random(seed + 1)

    def next(self) -> str:
        rpc = self._rng.choices(self._names, self._weights)[0]
        if rpc == "get" and not self._source.customers and self._fallback:
            return self._fallback[0]
        return rpc


# ---------------------------------------------------------------------------- driving


class Schedule:
    """Hands out request slots: warmup first, then the measured window, both bounded."""

    def __init__(self, config: LoadConfig, max_requests: int) -> None:
        self._duration = config.duration
        self._limit = max_requests
        self._interval = 1 / config.rate if config.rate else 0.0
        self._next_slot = time.perf_counter()
        self._warm = 0
        self._measured = 0
        self._start_measuring(time.perf_counter() + config.warmup)

    def _start_measuring(self, at: float) -> None:
        self.measure_start = at
        self.end = at + self._duration
        self.last_done = at

    def pace(self) -> float:
        """Seconds to wait before the next request, so requests keep to the rate."""
        if not self._interval:
            return 0.0
        now = time.perf_counter()
        # A late slot is not made up with a burst: the schedule restarts from now.
        self._next_slot = max(self._next_slot + self._interval, now)
        return self._next_slot - now

    def claim(self) -> bool | None:
        """True: a measured request; False: a warmup request; None: stop."""
        now = time.perf_counter()
        if now < self.measure_start:
            if self._warm < self._limit:
                self._warm += 1
                return False
            self._start_measuring(now)  # warmup used its request budget: measure from here
        if now >= self.end:
            return None
        if self._measured >= self._limit:
            return None
        self._measured += 1
        return True


async def _call(method: Any, request: Any, timeout: float) -> tuple[str, str, Any]:
    try:
        return "OK", "", await method(request, timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        return exc.code().name, exc.details() or "", None


async def _worker(
    stub: Any,
    source: RequestSource,
    mix: Mix,
    schedule: Schedule,
    stats: dict[str, RpcStats],
    timeout: float,
) -> None:
    builders: dict[str, tuple[Any, Callable[[], Any]]] = {
        "resolve": (stub.Resolve, source.resolve),
        "observe": (stub.Observe, source.observe),
        "get": (stub.GetCustomer, source.get_customer),
    }
    while (measured := schedule.claim()) is not None:
        if (delay := schedule.pace()) > 0:
            await asyncio.sleep(delay)
        rpc = mix.next()
        method, build = builders[rpc]
        request = build()
        started = time.perf_counter()
        status, detail, response = await _call(method, request, timeout)
        done = time.perf_counter()
        if response is not None:
            source.learn(response)
        if measured:
            stats[rpc].record(done - started, status, detail)
            schedule.last_done = max(schedule.last_done, done)


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


async def _run_async(config: LoadConfig, rows: Sequence[Mapping[str, str]]) -> LoadResult:
    source = RequestSource(rows, config.lookup_mode, config.seed)
    mix = Mix(config.mix, source, config.seed)
    stats = {rpc: RpcStats() for rpc in RPCS if config.mix.get(rpc, 0) > 0}
    timeout = config.deadline_ms / 1000
    async with grpc.aio.insecure_channel(config.target) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        schedule = Schedule(config, config.max_requests)
        workers = [
            _worker(stub, source, mix, schedule, stats, timeout) for _ in range(config.concurrency)
        ]
        # Belt and braces: claims stop at `end`, calls at their deadline.
        limit = config.warmup + config.duration + timeout + 30
        await asyncio.wait_for(asyncio.gather(*workers), timeout=limit)
    elapsed = max(schedule.last_done, time.perf_counter()) - schedule.measure_start
    return LoadResult(max(elapsed, 1e-9), stats)


def _load_rows(config: LoadConfig) -> list[dict[str, str]]:
    return read_rows(config.lookups) if config.lookups else synthetic_rows()


def _run_single(config: LoadConfig) -> LoadResult:
    return asyncio.run(_run_async(config, _load_rows(config)))


def _child(config: LoadConfig, barrier: Any, results: Any) -> None:
    """One client process: load its rows, wait for its siblings, then run."""
    rows = _load_rows(config)
    barrier.wait(timeout=120)
    result = asyncio.run(_run_async(config, rows))
    results.put(result.to_dict())


def _run_processes(config: LoadConfig) -> LoadResult:
    # spawn, not fork: gRPC's core does not survive a fork of a process that used it.
    ctx = multiprocessing.get_context("spawn")
    parts = config.processes
    barrier, results = ctx.Barrier(parts), ctx.Queue()
    procs = []
    for i in range(parts):
        part = _part_config(config, parts, i)
        procs.append(ctx.Process(target=_child, args=(part, barrier, results), daemon=True))
    for proc in procs:
        proc.start()
    wait = 150 + config.warmup + config.duration + config.deadline_ms / 1000
    merged = LoadResult(0.0, {})
    try:
        for _ in procs:
            merged.merge(LoadResult.from_dict(results.get(timeout=wait)))
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    return merged


def _part_config(config: LoadConfig, parts: int, index: int) -> LoadConfig:
    values = asdict(config)
    values.update(
        concurrency=_share(config.concurrency, parts, index),
        max_requests=max(1, _share(config.max_requests, parts, index)),
        processes=1,
        seed=config.seed * 1000 + index,
        rate=config.rate / parts,
    )
    return LoadConfig(**values)


def run_load(config: LoadConfig) -> LoadResult:
    """Run one bounded load test and return what it measured."""
    config.validate()
    if config.processes > 1:
        return _run_processes(config)
    return _run_single(config)


# ---------------------------------------------------------------------------- reporting


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def format_summary(result: LoadResult) -> str:
    """A ghz-style text report."""
    overall = result.overall
    hist = overall.latency
    lines = [
        "Summary:",
        f"  Count:\t{hist.count}",
        f"  Total:\t{result.total_seconds:.2f} s",
        f"  Slowest:\t{_fmt_ms(hist.slowest)}",
        f"  Fastest:\t{_fmt_ms(hist.fastest if hist.count else 0.0)}",
        f"  Average:\t{_fmt_ms(hist.average)}",
        f"  Requests/sec:\t{result.rps:.2f}",
        "",
        "Latency distribution:",
        *(f"  {p} % in {_fmt_ms(hist.percentile(p))}" for p in PERCENTILES),
        "",
        "Status code distribution:",
        *(f"  [{code}]\t{n} responses" for code, n in overall.statuses.most_common()),
    ]
    if overall.errors:
        lines += ["", "Error distribution:"]
        lines += [f"  [{n}]\t{msg}" for msg, n in overall.errors.most_common()]
    if len(result.per_rpc) > 1:
        lines += ["", "Per RPC:", *_per_rpc_lines(result)]
    return "\n".join(lines)


def _per_rpc_lines(result: LoadResult) -> list[str]:
    lines = []
    for rpc, stats in result.per_rpc.items():
        h = stats.latency
        codes = " ".join(f"[{c}] {n}" for c, n in stats.statuses.most_common())
        lines.append(
            f"  {RPC_NAMES[rpc]:<12} count {h.count:<8} rps {h.count / result.total_seconds:<9.1f}"
            f" avg {_fmt_ms(h.average):<10} p50 {_fmt_ms(h.percentile(50)):<10}"
            f" p95 {_fmt_ms(h.percentile(95)):<10} p99 {_fmt_ms(h.percentile(99)):<10} {codes}"
        )
    return lines


# ---------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Bounded gRPC load against IdentityService.")
    p.add_argument("--target", default=LoadConfig.target, help="127.0.0.1:PORT")
    p.add_argument("--concurrency", type=int, default=LoadConfig.concurrency)
    p.add_argument("--duration", type=float, default=LoadConfig.duration, help="seconds, ≤ 600")
    p.add_argument("--max-requests", type=int, default=LoadConfig.max_requests)
    p.add_argument("--warmup", type=float, default=LoadConfig.warmup, help="seconds, not counted")
    p.add_argument("--mix", default="resolve=1", help="weights, e.g. resolve=8,observe=1,get=1")
    p.add_argument("--lookups", type=Path, help="canonical-schema CSV, Parquet or JSONL")
    p.add_argument("--lookup-mode", choices=("strong", "weak"), default="strong")
    p.add_argument("--deadline-ms", type=int, default=LoadConfig.deadline_ms)
    p.add_argument("--processes", type=int, default=1, help="client processes")
    p.add_argument("--seed", type=int, default=LoadConfig.seed)
    p.add_argument(
        "--rate", type=float, default=0.0, help="requests/s in all; 0: as fast as possible"
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout, text on stderr")
    return p


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    return LoadConfig(
        target=args.target,
        concurrency=args.concurrency,
        duration=args.duration,
        max_requests=args.max_requests,
        warmup=args.warmup,
        mix=parse_mix(args.mix),
        lookups=args.lookups,
        lookup_mode=args.lookup_mode,
        deadline_ms=args.deadline_ms,
        processes=args.processes,
        seed=args.seed,
        rate=args.rate,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    result = run_load(config)
    text_out = sys.stderr if args.json else sys.stdout
    print(format_summary(result), file=text_out, flush=True)
    if args.json:
        print(json.dumps(result.summary(), indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
