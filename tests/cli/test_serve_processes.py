"""`idres serve --processes N`: N processes on one port, one store, stopped together."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from google.protobuf import json_format

from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

Started = tuple[subprocess.Popen[str], str]


def _start(database_url: str, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "IDRES_DATABASE_URL": database_url,
        "IDRES_DATA_DIR": str(data_dir),
        "IDRES_SYNC_INTERVAL_S": "0.05",
    }
    command = [sys.executable, "-m", "idres.cli", "serve", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path) -> Iterator[Started]:
    proc = _start(database_url, tmp_path, "--port", "0", "--processes", "2")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"serving on (127\.0\.0\.1:\d+), 2 processes", line)
        assert found, f"server did not start: {line!r} {proc.stderr and proc.stderr.read()}"
        yield proc, found.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def _children(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def _holders(children: list[psutil.Process], port: int) -> set[int]:
    """The children holding an established connection on `port`."""
    return {
        child.pid
        for child in children
        for conn in child.net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.laddr and conn.laddr.port == port
    }


def _channels_on_every_process(address: str, children: list[psutil.Process]) -> list[grpc.Channel]:
    """Fresh connections, opened until every child holds one (the kernel picks the child)."""
    port = int(address.rsplit(":", 1)[1])
    channels: list[grpc.Channel] = []
    while len(channels) < 64 and _holders(children, port) != {c.pid for c in children}:
        channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        grpc.channel_ready_future(channel).result(timeout=10)
        channels.append(channel)
    return channels


def _customer(stub: rpc.IdentityServiceStub, email: str) -> str:
    """The customer `email` resolves to, waiting out the followers' sync interval."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = stub.Resolve(pb.ResolveRequest(email=email), timeout=10)
        if reply.customer_id:
            return str(reply.customer_id)
        time.sleep(0.05)
    return ""


def test_processes_share_the_port_and_see_each_others_records(two_processes: Started) -> None:
    proc, address = two_processes
    children = _children(proc)
    assert len(children) == 2
    channels = _channels_on_every_process(address, children)
    try:
        port = int(address.rsplit(":", 1)[1])
        assert _holders(children, port) == {c.pid for c in children}
        first = rpc.IdentityServiceStub(channels[0])
        record = json_format.ParseDict(
            {"record_id": "web-1", "email": "ada@shop.co.uk"}, pb.Record()
        )
        customer = first.Observe(pb.ObserveRequest(record=record), timeout=30).customer_id
        assert customer
        answers = {_customer(rpc.IdentityServiceStub(c), "ada@shop.co.uk") for c in channels}
        assert answers == {customer}
    finally:
        for channel in channels:
            channel.close()


def test_sigterm_drains_every_process_and_exits_cleanly(two_processes: Started) -> None:
    proc, _ = two_processes
    children = _children(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not any(child.is_running() for child in children)


def test_a_burst_of_stop_signals_still_drains_every_process(two_processes: Started) -> None:
    # A handler that took a lock deadlocked when a second SIGTERM landed inside the first
    # (the supervisor forwards a stop, then sends its own): the child never exited.
    proc, _ = two_processes
    children = _children(proc)
    for pid in (*(child.pid for child in children), proc.pid):
        for _ in range(200):
            os.kill(pid, signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not any(child.is_running() for child in children)
    assert proc.stderr is not None and "did not drain" not in proc.stderr.read()


def test_a_second_server_on_the_port_is_refused(
    two_processes: Started, database_url: str, tmp_path: Path
) -> None:
    _, address = two_processes
    port = address.rsplit(":", 1)[1]
    second = _start(database_url, tmp_path / "second", "--port", port, "--processes", "1")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"port {port} is already served by another idres serve" in err


def test_a_process_that_dies_stops_the_others(two_processes: Started) -> None:
    proc, _ = two_processes
    first, second = _children(proc)
    first.kill()
    assert proc.wait(60) == 1
    second.wait(30)
    assert proc.stderr is not None and "ended unexpectedly" in proc.stderr.read()
