"""Follows the outbox: other replicas' writes reach this replica's in-memory index.

A poll reads up to 10,000 events. They are applied in chunks of about `CHUNK`, each under one
hold of the index lock, so that a lookup (and, behind a lookup on the event loop, a health
check) waits for one chunk at most, never for a whole batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

from idres.resolver.adapters.change_feed import prune_events
from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.events import ChangeEvent, EventType

log = logging.getLogger(__name__)
CHUNK = 250
"""Events applied under one hold of the index lock."""
REMEMBERED = 20_000
"""Ids applied recently are kept this far behind the cursor, so that an own event a poll
read first is not applied again when it is published (a split is not safe to apply twice)."""
Read = tuple[ChangeEvent, bool]


def chunks(read: Sequence[Read]) -> Iterator[Sequence[Read]]:
    """`read` in runs of about `CHUNK` events, cut where the customer changes so that what one
    write did to its customer (created, flagged, linked) is seen whole; a longer run of one
    customer's events is cut at four times that all the same."""
    start = 0
    for end in range(1, len(read) + 1):
        size = end - start
        last = end == len(read)
        turn = not last and read[end][0].customer_id != read[end - 1][0].customer_id
        if last or (size >= CHUNK and turn) or size >= 4 * CHUNK:
            yield read[start:end]
            start = end


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
        on_model: Callable[[ChangeEvent], None] | None = None,
    ) -> None:
        """`after` and `seen_in` from the snapshot the index was built from; events older
        than `retention` are deleted now and then (None keeps them); `on_model` hears of
        every model activation the snapshot did not hold."""
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
        self.on_model = on_model
        self.applied = 0
        """Events applied to the index so far: progress that can be watched without a lock."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="idres-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        """This process's own committed events, applied now rather than at the next poll; one
        a poll applied first is not applied again."""
        with self._lock:
            fresh = [e for e in events if e.id not in self._applied]
            self.index.apply(fresh)
            self._applied.update(e.id for e in fresh)
            self.applied += len(fresh)

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
        """Applies the events committed since the last poll; returns how many."""
        read = self.store.events_after(self.cursor, seen_in=self.seen_in)
        count, models = 0, []
        for chunk in chunks(read):
            with self._lock:
                fresh = [e for e, seen in chunk if not seen and e.id not in self._applied]
                self.index.apply(fresh)
                self._applied.update(e.id for e, _ in chunk)
                self.applied += len(fresh)
            count += len(fresh)
            models += [e for e in fresh if e.type is EventType.MODEL_ACTIVATED]
        with self._lock:
            self._advance([e.id for e, _ in read])
        for event in models:
            if self.on_model is not None:
                self.on_model(event)
        return count

    def _advance(self, ids: list[int]) -> None:
        for eid in ids:
            if eid == self.cursor + 1 or self._gap_expired():
                self.cursor = eid
                self._gap_since = None
            else:
                self._gap_since = self._gap_since or time.monotonic()
                break
        if len(self._applied) > 2 * REMEMBERED:
            self._applied = {i for i in self._applied if i > self.cursor - REMEMBERED}

    def _gap_expired(self) -> bool:
        return (
            self._gap_since is not None and time.monotonic() - self._gap_since > self.GAP_TIMEOUT_S
        )
