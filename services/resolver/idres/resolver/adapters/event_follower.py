"""Follows the outbox: other replicas' writes reach this replica's in-memory index."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

from idres.resolver.adapters.change_feed import prune_events
from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError

log = logging.getLogger(__name__)


class EventFollower:
    """Applies other replicas' change events to the index, tolerating outbox gaps.

    Event ids are handed out before commit, so a later id can be visible before an earlier
    one. The cursor stops at the first gap and re-reads past it (applying is idempotent) until
    the gap fills or is old enough to be a rolled-back transaction.
    """

    GAP_TIMEOUT_S = 10.0

    PRUNE_EVERY_S = 600.0

    def __init__(
        self,
        store: Store,
        index: IdentityIndex,
        after: int,
        interval_s: float,
        seen_in: str = "",
        retention: timedelta | None = None,
    ) -> None:
        """`after` and `seen_in` from the snapshot the index was built from; events older
        than `retention` are deleted now and then (None keeps them)."""
        self.store = store
        self.retention = retention
        self._pruned_at = 0.0
        self.index = index
        # Transactions in flight when the snapshot was read may commit lower ids: re-read a
        # window, and skip what the snapshot already held (a split is not safe to apply twice).
        self.cursor = max(0, after - 1000)
        self.seen_in = seen_in
        self.interval_s = interval_s
        self._applied: set[int] = set()
        self._gap_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="idres-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def mark(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._applied.update(ids)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
                self._prune()
            except UnavailableError as exc:
                log.warning("event sync paused: %s", exc)

    def _prune(self) -> None:
        if self.retention is None or time.monotonic() - self._pruned_at < self.PRUNE_EVERY_S:
            return
        self._pruned_at = time.monotonic()
        gone = prune_events(self.store, self.retention)
        if gone:
            log.info("pruned %d change events older than %s", gone, self.retention)

    def poll(self) -> int:
        read = self.store.events_after(self.cursor, seen_in=self.seen_in)
        with self._lock:
            fresh = [e for e, seen in read if not seen and e.id not in self._applied]
            self.index.apply(fresh)
            self._applied.update(e.id for e, _ in read)
            self._advance([e.id for e, _ in read])
        return len(fresh)

    def _advance(self, ids: list[int]) -> None:
        for eid in ids:
            if eid == self.cursor + 1 or self._gap_expired():
                self.cursor = eid
                self._gap_since = None
            else:
                self._gap_since = self._gap_since or time.monotonic()
                break
        self._applied = {i for i in self._applied if i > self.cursor}

    def _gap_expired(self) -> bool:
        return (
            self._gap_since is not None and time.monotonic() - self._gap_since > self.GAP_TIMEOUT_S
        )
