"""The cyclic garbage collector paused while a long pass allocates millions of acyclic objects.

Verify and the projections' fold decode every event into dicts and tuples that die with their
batch; reference counting frees them, and the collector, triggered every few hundred
allocations, would only rescan them: 10% of verify's time on a small-event log. It is
paused for the pass and restored after, as it was (a caller that had paused it keeps it so).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
