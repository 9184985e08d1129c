"""The cycle collector around a million live records.

A parsed record holds no reference cycle, so the collector can never free one; yet every full
collection walks all of them, and a batch job holds millions. Freezing moves what is alive out
of the collector's sight (`gc.freeze`), so training and scoring collect only their own
garbage; pausing it stops collections in a loop that makes no cycles, and in forked workers,
where walking shared records would copy every page they sit on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0


@contextmanager
def records_frozen(*, paused: bool = False) -> Iterator[None]:
    """Everything alive now is frozen until the outermost of these blocks ends; `paused` also
    stops the collector for this block."""
    global _depth
    enabled = gc.isenabled()
    gc.freeze()
    _depth += 1
    if paused:
        gc.disable()
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.unfreeze()
        if enabled:
            gc.enable()
