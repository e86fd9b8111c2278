"""Whether this process may have written to a log: what an interrupted command needs to know to
say honestly that nothing was written.

Each store calls `may_write()` just before anything that can leave a change behind: a COMMIT,
or creating a database file. Python raises an interrupt only between bytecodes, so a COMMIT
that has started also finishes; counting before it errs towards "may have written", never
towards claiming nothing was written when something was.
"""

from __future__ import annotations

_count = 0


def may_write() -> None:
    global _count
    _count += 1


def count() -> int:
    """How many writes this process has started (compare two readings: equal means none between)."""
    return _count
