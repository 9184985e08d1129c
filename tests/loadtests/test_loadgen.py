"""The load generator against the echo server: counts add up, bounds hold, errors are counted."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import echo, loadgen


@pytest.fixture(scope="module")
def echo_target() -> Iterator[str]:
    server, port = echo.create_server(port=0, max_workers=4)
    yield f"127.0.0.1:{port}"
    server.stop(grace=0)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_consistent(result: loadgen.LoadResult) -> None:
    overall = result.overall
    assert overall.latency.count == result.count == sum(overall.statuses.values())
    hist = overall.latency
    assert hist.fastest <= hist.percentile(50) <= hist.percentile(95)
    assert hist.percentile(95) <= hist.percentile(99) <= hist.slowest


def test_request_bound_counts_add_up(echo_target: str) -> None:
    config = loadgen.LoadConfig(
        target=echo_target, concurrency=8, duration=5, warmup=0.2, max_requests=300
    )
    result = loadgen.run_load(config)
    assert_consistent(result)
    assert result.count == 300
    assert result.overall.ok == result.count
    assert result.overall.failed == 0
    assert not result.overall.errors
    summary = loadgen.format_summary(result)
    assert "Requests/sec" in summary
    assert "[OK]\t300 responses" in summary


def test_time_bound_mix_with_lookups(echo_target: str, tmp_path: Path) -> None:
    lookups = tmp_path / "records.csv"
    lookups.write_text(
        "record_id,channel,given_name,surname,email,phone\n"
        "r1,web,Ann,Lee,ann@example.com,+447700900001\n"
        "r2,store,Bob,Ray,,+447700900002\n"
    )
    config = loadgen.LoadConfig(
        target=echo_target,
        concurrency=4,
        duration=0.5,
        warmup=0,
        max_requests=100_000,
        mix={"resolve": 2, "observe": 1, "get": 1},
        lookups=lookups,
    )
    result = loadgen.run_load(config)
    assert_consistent(result)
    assert 0 < result.count < 100_000
    assert set(result.per_rpc) == {"resolve", "observe", "get"}
    assert all(stats.latency.count > 0 for stats in result.per_rpc.values())
    assert result.overall.ok == result.count
    assert "Per RPC:" in loadgen.format_summary(result)


def test_processes_merge_histograms(echo_target: str) -> None:
    config = loadgen.LoadConfig(
        target=echo_target, concurrency=4, duration=2, warmup=0, max_requests=200, processes=2
    )
    result = loadgen.run_load(config)
    assert_consistent(result)
    assert result.count == result.overall.ok == 200


@pytest.mark.parametrize(
    "target", ["10.0.0.1:50051", "192.168.1.2:80", "example.com:443", "0.0.0.0:50051"]
)
def test_non_loopback_target_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        loadgen.run_load(loadgen.LoadConfig(target=target, duration=1, max_requests=1))


def test_unreachable_server_errors_by_status() -> None:
    config = loadgen.LoadConfig(
        target=f"127.0.0.1:{closed_port()}",
        concurrency=2,
        duration=2,
        warmup=0,
        max_requests=40,
        mix={"resolve": 1, "observe": 1},
        deadline_ms=200,
    )
    result = loadgen.run_load(config)
    assert_consistent(result)
    assert result.count == 40
    assert result.overall.ok == 0
    assert result.overall.statuses["UNAVAILABLE"] == 40
    assert any(msg.startswith("[UNAVAILABLE]") for msg in result.overall.errors)
    summary = loadgen.format_summary(result)
    assert "[UNAVAILABLE]\t40 responses" in summary
    assert "Error distribution:" in summary


def test_histogram_round_trip_and_merge() -> None:
    first, second = loadgen.Histogram(), loadgen.Histogram()
    for ms in range(1, 101):
        first.record(ms / 1000)
    second.record(0.5)
    merged = loadgen.Histogram.from_dict(first.to_dict())
    merged.merge(second)
    assert merged.count == 101
    assert merged.slowest == 0.5
    assert merged.percentile(50) == pytest.approx(0.051, rel=0.02)


def test_a_rate_paces_the_requests(echo_target: str) -> None:
    # Unpaced, the echo answers thousands a second; paced at 100/s for 2 s, about 200 go out.
    config = loadgen.LoadConfig(
        target=echo_target, concurrency=8, duration=2, warmup=0, rate=100, processes=2
    )
    result = loadgen.run_load(config)
    assert 150 <= result.count <= 230
    assert result.overall.statuses == {"OK": result.count}
