"""Progress of long work, drawn on stderr when it is a terminal, and nothing at all when it is not.

The layers below report progress through plain callbacks (`progress(done, total)`) and know
nothing of terminals; this is the one place that draws them, with rich's progress bar. rich is
imported only when stderr is a terminal, so a piped or scripted `append`, `verify` or `show`
never pays for it, and their stdout is the same either way (the bar is on stderr, and
transient: it is erased when the work ends).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Report = Callable[[int, int | None], None]
"""`report(done, total)`: how much is done, of how much (None: not known)."""

REFRESH_EVERY = 0.1  # seconds between two redraws; the first report always draws


def on_terminal() -> bool:
    """Progress is for a person watching: stderr is a terminal, and not a dumb one."""
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


@contextmanager
def progress(description: str, unit: str = "events") -> Iterator[Report | None]:
    """A `report(done, total)` that draws a bar on a terminal, or None when stderr is not one
    (callers pass None down, and the work below skips its counting too).

    The bar starts with the first report, so a command whose work turns out to be short
    (a catch-up with nothing to fold) draws nothing."""
    if not on_terminal():
        yield None
        return
    bar = _Bar(description, unit)
    try:
        yield bar.report
    finally:
        bar.close()


class _Bar:
    """A rich Progress, started lazily and redrawn from the caller's thread (no refresh thread)."""

    def __init__(self, description: str, unit: str) -> None:
        self.description = description
        self.unit = unit
        self._progress: Any = None
        self._task: Any = None
        self._drawn = 0.0

    def report(self, done: int, total: int | None) -> None:
        if self._progress is None:
            self._start()
        now = time.monotonic()
        refresh = now - self._drawn >= REFRESH_EVERY
        self._progress.update(self._task, completed=done, total=total, refresh=refresh)
        if refresh:
            self._drawn = now

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(file=sys.stderr, highlight=False)
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                       TimeRemainingColumn(), console=console, auto_refresh=False, transient=True)
        self._task = bar.add_task(self.description, total=None)
        try:
            bar.start()
        except BaseException:  # an interrupt half-way through: give the terminal its cursor back
            with contextlib.suppress(Exception):
                console.show_cursor(True)
            raise
        self._progress = bar

    def close(self) -> None:
        """Erase the bar; never raises, so an interrupt on its way out is not replaced by this."""
        if self._progress is not None:
            with contextlib.suppress(Exception):
                self._progress.stop()
