"""The change stream for channel systems: `WatchChanges` and `idres watch`."""

from __future__ import annotations

from idres.resolver.adapters.change_feed import BATCH, ChangeFeed, parse_cursor
from idres.resolver.adapters.store import Store
from idres.resolver.domain.events import Change, change_of


class Watch:
    """One consumer's stream: the changes after its cursor, in commit order."""

    def __init__(self, store: Store, after: str) -> None:
        """Raises ValidationError for a malformed cursor, OutOfRangeError for one older than
        the changes kept."""
        self.feed = ChangeFeed(store, parse_cursor(after))

    def next(self, limit: int = BATCH) -> list[Change]:
        """The changes committed since the last call (empty when there are none yet)."""
        changes = (change_of(event) for event in self.feed.read(limit))
        return [change for change in changes if change is not None]
