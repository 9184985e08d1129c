"""Write-path health: whether PostgreSQL answers, reported under a health name of its own.

Resolve answers from memory, so the server ("") and `idres.v1.IdentityService` stay SERVING
while the database is down, and a Kubernetes readiness probe on them keeps the replica in the
Service. `WRITE_HEALTH` is NOT_SERVING while the store does not answer, so that callers and
monitors can tell that Observe, GetCustomer, Explain and the other calls that need it get
UNAVAILABLE for now, and SERVING again within a probe interval of its return.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from idres.v1 import identity_pb2

log = logging.getLogger(__name__)
WRITE_HEALTH = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name + ".write"
"""A health name, not a gRPC service: reflection does not list it."""
PROBE_INTERVAL_S = 1.0


class StoreProbe:
    """A thread asking `reachable` every `interval_s` and telling `report` when the answer
    changes (and once at first)."""

    def __init__(
        self,
        reachable: Callable[[], bool],
        report: Callable[[bool], None],
        interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self._reachable, self._report = reachable, report
        self.interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Returns once the thread is done, within a probe's connect timeout."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last: bool | None = None
        while not self._stopping.is_set():
            ok = self._ask()
            if ok != last and not self._stopping.is_set():
                self._report(ok)
                last = ok
            self._stopping.wait(self.interval_s)

    def _ask(self) -> bool:
        try:
            return self._reachable()
        except Exception:  # a probe that fails in a way it did not expect says "down"
            log.exception("the store probe failed")
            return False
