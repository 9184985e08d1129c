"""The change stream: outbox events in commit order, none missed and none twice.

Event ids are taken from a sequence before commit, so a reader can see id 12 while 11 is still
in flight. The feed hands out events in id order and stops at a gap until it is sure the gap
will never fill: when it first sees one it notes the newest transaction that may hold it (the
snapshot's xmax), and once every transaction up to that one has ended (the oldest still
running, xmin, is past it) a gap still open belonged to a transaction that rolled back. A
cursor is the last id handed out, so a consumer that resumes from it misses nothing, and sees
nothing twice.

Events for one customer are written under its row lock and take their ids at commit time, so
their order is the order they were committed in.
"""

from __future__ import annotations

from datetime import timedelta

from idres.resolver.adapters.store import Store
from idres.resolver.domain.errors import FieldViolation, OutOfRangeError, ValidationError
from idres.resolver.domain.events import ChangeEvent, EventType

BATCH = 500


def parse_cursor(text: str) -> int | None:
    """A cursor as the event id it stands for; None for "from the oldest kept"."""
    if not text.strip():
        return None
    if not text.strip().isdigit() or len(text.strip()) > 19:
        raise ValidationError([FieldViolation("after", "not a cursor from this stream")])
    return int(text.strip())


class ChangeFeed:
    """One consumer's position in the stream."""

    def __init__(self, store: Store, after: int | None) -> None:
        self.store = store
        pruned, newest = self._bounds()
        if after is not None and after < pruned:
            raise OutOfRangeError(
                f"cursor {after} is older than the changes kept (they start after {pruned});"
                " read the customers afresh and watch from the oldest change"
            )
        if after is not None and after > max(pruned, newest):
            raise OutOfRangeError(
                f"cursor {after} is ahead of the newest change ({newest}): it is not from this"
                " store's stream"
            )
        self.cursor = pruned if after is None else after
        self._horizon: int | None = None

    def _bounds(self) -> tuple[int, int]:
        """(pruned through, newest id): a cursor handed out lies between them."""
        with self.store.transaction() as tx:
            row = tx.conn.execute(
                "SELECT (SELECT pruned_through FROM event_retention),"
                " (SELECT coalesce(max(id), 0) FROM change_events)"
            ).fetchone()
        return (int(row[0] or 0), int(row[1])) if row else (0, 0)

    def read(self, limit: int = BATCH) -> list[ChangeEvent]:
        """The next events after the cursor, in order, stopping at a gap that may still fill."""
        events, xmin, xmax = self._fetch(limit)
        out: list[ChangeEvent] = []
        for event in events:
            if event.id != self.cursor + 1:
                if self._horizon is None:
                    self._horizon = xmax
                    break
                if xmin < self._horizon:
                    break  # a transaction that may own the gap is still running
            self._horizon = None
            out.append(event)
            self.cursor = event.id
        return out

    def _fetch(self, limit: int) -> tuple[list[ChangeEvent], int, int]:
        with self.store.transaction() as tx:
            conn = tx.conn
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute(
                "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint"
                " FROM pg_current_snapshot() AS s"
            ).fetchone()
            assert row is not None
            events = [
                ChangeEvent(eid, EventType(t), cid, payload, at)
                for eid, t, cid, payload, at in conn.execute(
                    "SELECT id, type, customer_id, payload, at FROM change_events"
                    " WHERE id > %s ORDER BY id LIMIT %s",
                    (self.cursor, limit),
                )
            ]
        return events, int(row[0]), int(row[1])


def prune_events(store: Store, keep: timedelta) -> int:
    """Deletes the events up to the newest one older than `keep` (by id, so that no cursor
    skips a later-committed lower id); returns how many. Replicas may all run it."""
    with store.transaction() as tx:
        row = tx.conn.execute(
            "WITH gone AS (DELETE FROM change_events WHERE id <= (SELECT max(id)"
            " FROM change_events WHERE at < now() - %s) RETURNING id)"
            " SELECT count(*), coalesce(max(id), 0) FROM gone",
            (keep,),
        ).fetchone()
        assert row is not None
        tx.conn.execute(
            "UPDATE event_retention SET pruned_through = greatest(pruned_through, %s)",
            (int(row[1]),),
        )
    return int(row[0])
