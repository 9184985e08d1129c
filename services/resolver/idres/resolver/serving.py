"""What a resolver decides with, and the switch to a newly activated model.

A `Serving` is one model's whole read side: its version, its matcher (None: the
deterministic rules), the in-memory index shaped by it (record keys by the model's blocking
rules, term frequencies from its training data) and the outbox follower that keeps that index
current. A resolver holds one and replaces it in one assignment, so a call that takes it once
decides, and records its links, with one model throughout.

Activating a model (`ModelStore.save`) writes a `model_activated` event together with the
time, by the store's clock, at which every replica switches. Each replica's follower hears of
it; `ModelSwitch` builds the new serving in the background from a fresh snapshot while the
old one answers, keeps it current from the outbox, and hands over at that time: no replica
before it, each one ready by then within a round trip to the store after it. A replica that
is not ready in time switches as soon as it is, and logs how late.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from idres.resolver.adapters.event_follower import EventFollower
from idres.resolver.adapters.identity_index import IdentityIndex
from idres.resolver.adapters.model_store import ModelStore
from idres.resolver.adapters.record_index import RecordIndex
from idres.resolver.adapters.store import Snapshot, Store
from idres.resolver.domain.errors import UnavailableError
from idres.resolver.domain.events import ChangeEvent
from idres.resolver.domain.linking import DEFAULT_POLICY, RULES_VERSION, LinkPolicy
from idres.resolver.domain.matching import (
    DEFAULT_THRESHOLDS,
    Matcher,
    Scorer,
    Thresholds,
    guarded,
)
from idres.resolver.domain.scoring import MatchModel

log = logging.getLogger(__name__)

ActiveModel = tuple[str, dict[str, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Serving:
    version: str
    """The active model's version, or the rules' (`deterministic-1`)."""
    matcher: Matcher | None
    index: IdentityIndex
    follower: EventFollower


@dataclass(frozen=True, slots=True)
class ServingOptions:
    """How a resolver decides and follows the store, whatever the model."""

    thresholds: Thresholds = DEFAULT_THRESHOLDS
    policy: LinkPolicy = DEFAULT_POLICY
    use_model: bool = True
    """False keeps the deterministic rules whatever model is active, and ignores activations."""
    vectors: bool = True
    """Keep the faiss index of weak attributes (with a model only)."""
    sync_interval_s: float = 0.5
    retention: timedelta | None = None
    """Change events older than this are pruned while following; None keeps them."""


class ModelSwitch:
    """The serving a resolver decides with, switched to each newly activated model."""

    def __init__(self, store: Store, options: ServingOptions) -> None:
        self.store = store
        self.models = ModelStore(store)
        self.options = options
        self._handover = threading.Lock()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.serving = self._load()
        log.info("deciding with model %s", self.serving.version)

    def start(self) -> None:
        """Follows the outbox, and switches models as they are activated."""
        self.serving.follower.start()
        self._thread = threading.Thread(target=self._run, name="idres-models", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._handover:
            self.serving.follower.stop()

    def publish(self, events: list[ChangeEvent]) -> None:
        """This process's own committed events reach the serving index now; never the one
        being replaced after the handover, which would lose them."""
        with self._handover:
            self.serving.follower.publish(events)

    def _notice(self, event: ChangeEvent) -> None:
        if event.payload.get("version") != self.serving.version:
            self._wanted.set()

    # --- building a serving ------------------------------------------------------------

    def _load(self) -> Serving:
        """The active model's serving, from a snapshot read after it was activated."""
        use = self.options.use_model
        while True:
            active = self.models.active() if use else None
            snap = self.store.snapshot(with_records=active is not None)
            # An activation committed between the two reads would be in the snapshot, its
            # event never heard: read again until both agree.
            now = self.models.activation() if use else None
            if (now[0] if now else None) == (active[0] if active else None):
                return self._serving(active, snap)

    def _serving(self, active: ActiveModel | None, snap: Snapshot) -> Serving:
        o = self.options
        records, matcher = RecordIndex(vectors=False), None
        if active is not None:
            version, spec, training = active
            model = MatchModel.from_splink(spec)
            records = RecordIndex.for_model(model, training, vectors=o.vectors)
            scorer = Scorer(model, version, records.tf)
            matcher = Matcher(scorer, o.thresholds, guarded(o.policy, model))
        index = IdentityIndex.from_snapshot(snap, records)
        follower = EventFollower(
            self.store,
            index,
            snap.last_event_id,
            o.sync_interval_s,
            snap.visible,
            o.retention,
            self._notice if o.use_model else None,
        )
        version = matcher.scorer.version if matcher else RULES_VERSION
        return Serving(version, matcher, index, follower)

    # --- switching ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            if self._stop.is_set():
                return
            try:
                self._switch()
            except Exception as exc:
                if self._stop.is_set():
                    return  # closing: the store went away under the build
                if not isinstance(exc, UnavailableError):
                    log.exception("cannot switch models; deciding with %s", self.serving.version)
                    continue
                log.warning("model switch paused: %s", exc)
                self._wanted.set()
                self._stop.wait(self.options.sync_interval_s)

    def _switch(self) -> None:
        new = self._load()
        if new.version == self.serving.version:
            return
        late = self._await_turn(new)
        if late is None:
            self._wanted.set()  # another model was activated meanwhile: build that one
            return
        with self._handover:
            if self._stop.is_set():
                return
            new.follower.poll()  # every event committed up to the handover
            old, self.serving = self.serving, new
        new.follower.start()
        old.follower.stop()
        if late > self.options.sync_interval_s:
            log.warning("switched to model %s %.1f s after its time", new.version, late)
        else:
            log.info("switched from model %s to %s", old.version, new.version)

    def _await_turn(self, new: Serving) -> float | None:
        """Keeps `new` current until its model decides by the store's clock; returns how
        late that was, in seconds, or None when another model became active meanwhile."""
        while not self._stop.is_set():
            new.follower.poll()
            activation = self.models.activation()
            if activation is None or activation[0] != new.version:
                return None
            if activation[1] <= 0:
                return -activation[1]
            self._stop.wait(min(activation[1], self.options.sync_interval_s))
        return None
