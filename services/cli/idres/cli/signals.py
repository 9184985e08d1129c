"""`StopSignal`: SIGTERM and SIGINT as a flag the main thread waits on, safely.

A Python signal handler runs on the main thread between two of its bytecodes, possibly inside a
lock the main thread holds. `threading.Event.set` in a handler takes the event's own lock, so a
second SIGTERM landing inside the first one's `set` (a supervisor forwarding a stop twice does
it) deadlocks the process for good. The handler here only assigns an attribute, and waiting
polls it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

_POLL_S = 0.05


class StopSignal:
    """Set by SIGTERM or SIGINT once `install`ed; `then` runs in the handler, so it must take
    no lock either (`os.kill` is fine)."""

    def __init__(self, then: Callable[[int], None] | None = None) -> None:
        self.signalled = False
        self._then = then

    def install(self) -> StopSignal:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def ignore_more(self) -> None:
        """From now on stop signals are ignored: one that lands while the interpreter exits
        (Python's handlers are gone by then) would end a drained process with -SIGTERM."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def set(self) -> None:
        self.signalled = True

    def is_set(self) -> bool:
        return self.signalled

    def wait(self, timeout: float | None = None) -> bool:
        """Until set or `timeout` seconds (None: no limit); whether it is set."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.signalled and (end is None or time.monotonic() < end):
            time.sleep(_POLL_S)
        return self.signalled

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = True
        if self._then is not None:
            self._then(signum)
