"""`idres serve --processes N`: N server processes on one port.

Python answers on one core per process, so the parent starts N children that each bind the
port with SO_REUSEPORT (the kernel spreads connections among them), and each follows the
outbox, so what one of them observed is in the others' indexes within the sync interval.

The parent claims the port (an abstract unix socket named after it, released by the kernel
however the parent ends), so a second `idres serve` on the port is refused instead of silently
taking half its connections; it starts the embedded PostgreSQL, if any, which the children
join; forwards SIGTERM and waits for every child to drain; and stops them all if one dies.
"""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from idres.cli.signals import StopSignal

log = logging.getLogger(__name__)
# The children's grace plus this is how long the parent waits before killing a child.
_DRAIN_SLACK_S = 15.0
_PR_SET_PDEATHSIG = 1


class PortTakenError(Exception):
    """Another `idres serve` (or another program) holds the port."""


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup CPU limit (a
    container's `resources.limits.cpu`) rounded up."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


@contextmanager
def claimed_port(host: str, port: int) -> Iterator[int]:
    """Holds `host:port` for this `idres serve` and its children; port 0 picks a free one.
    Yields the port."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # Bound (never listening) with SO_REUSEPORT: the children can join it, programs that do
    # not share a port cannot take it, and port 0 becomes a real one.
    reserve = socket.socket(family, kind, proto)
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            reserve.bind(address)
        except OSError as exc:
            raise PortTakenError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
        chosen = int(reserve.getsockname()[1])
        try:
            claim.bind(f"\0idres-serve-port-{chosen}")
        except OSError as exc:
            raise PortTakenError(f"port {chosen} is already served by another idres serve") from exc
        yield chosen
    finally:
        claim.close()
        reserve.close()


@dataclass(frozen=True, slots=True)
class Ready:
    """What a child reports once it serves: its index's customers and identifier values."""

    customers: int
    values: int


def report_ready(ready_fd: int, customers: int, values: int) -> None:
    """A child's one line to its parent, on a pipe of its own (stdout stays the user's)."""
    with os.fdopen(ready_fd, "w") as pipe:
        pipe.write(f"ready {customers} {values}\n")


def follow_parent(parent: int) -> None:
    """A child ends (SIGTERM, so it drains) when its parent does, even by `kill -9`."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        raise SystemExit(1)


class Supervisor:
    """Starts the children, forwards the stop signals, and stops all when one dies."""

    def __init__(self, count: int, env: Mapping[str, str], metrics_port: int) -> None:
        self.count = count
        self.env = dict(env)
        self.metrics_port = metrics_port
        self.children: list[subprocess.Popen[bytes]] = []
        # A stop signal reaches the children at once, even while they load their indexes.
        self.stopping = StopSignal(then=lambda signum: self._signal_children(signal.SIGTERM))

    def start(self) -> Ready | None:
        """Starts every child at once (each loads its index) and waits until all serve; None
        if one failed or a stop signal came first."""
        pipes = [os.fdopen(self._spawn(n), "r") for n in range(self.count)]
        lines = []
        for pipe in pipes:
            with pipe:
                lines.append(pipe.readline().split())
        if self.stopping.is_set() or any(len(w) != 3 or w[0] != "ready" for w in lines):
            return None
        return Ready(int(lines[-1][1]), int(lines[-1][2]))

    def _spawn(self, n: int) -> int:
        """Starts child `n`; returns the pipe it reports ready on."""
        env = dict(self.env)
        if self.metrics_port:
            env["IDRES_METRICS_PORT"] = str(self.metrics_port + n)
        read, write = os.pipe()
        command = [sys.executable, "-m", "idres.cli", "serve"]
        command += ["--child-of", str(os.getpid()), "--ready-fd", str(write)]
        try:
            self.children.append(subprocess.Popen(command, env=env, pass_fds=(write,)))
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        return read

    def watch(self) -> int:
        """Until a stop signal (0) or a child's death (1)."""
        while not self.stopping.wait(0.2):
            for n, child in enumerate(self.children):
                if child.poll() is not None:
                    log.error("process %d exited with %s; stopping the others", n, child.returncode)
                    self.stop(grace_s=0)
                    return 1
        return 0

    def stop(self, grace_s: float) -> bool:
        """SIGTERM to every child, then waits for each to drain; True if all exited cleanly."""
        self.stopping.set()
        self._signal_children(signal.SIGTERM)
        clean = True
        for child in self.children:
            try:
                code = child.wait(grace_s + _DRAIN_SLACK_S)
                if code != 0:
                    log.error("process %d exited with %s", child.pid, code)
                clean = code == 0 and clean
            except subprocess.TimeoutExpired:
                log.error("process %d did not drain in time; its threads, then a kill", child.pid)
                child.send_signal(signal.SIGUSR1)  # `follow_parent` set it to print the stacks
                time.sleep(0.5)
                child.kill()
                child.wait()
                clean = False
        return clean

    def _signal_children(self, signum: int) -> None:
        # No lock and no `Popen` method (they take one): this runs in a signal handler, which
        # may interrupt `_spawn` or a wait. A reaped child has its returncode set.
        for child in list(self.children):
            if child.returncode is None:
                with suppress(ProcessLookupError):
                    os.kill(child.pid, signum)
