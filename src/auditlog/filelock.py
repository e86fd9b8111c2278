"""A writer queue: an exclusive OS lock on a file, with a timeout; the one file lock of the
project (the SQLite log's writers, the projections' writers).

A blocking `flock` puts waiters to sleep in the kernel until the holder lets go,
instead of SQLite's sleep-and-retry busy handler that lets late arrivals overtake
early ones. Blocking calls cannot time out, so the `flock` runs in a thread while
the caller waits on an event, which a signal interrupts (Ctrl-C, the CLI's SIGTERM
handler): a waiter that gives up, on a timeout or an interrupt, leaves that thread
behind to take the lock and hand it straight back.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from auditlog.errors import LockTimeout, StorageError


class FileLock:
    """Exclusive across processes (and across FileLock objects within one process)."""

    def __init__(self, path: Path, holder: str = "another writer held the log") -> None:
        self.path = path
        self.holder = holder  # who waits for whom, in the timeout's message

    @contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        fd = self._acquire(timeout)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _acquire(self, timeout: float) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        acquired = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def wait() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                else:
                    acquired.set()

        threading.Thread(target=wait, name="auditlog-lock-wait", daemon=True).start()
        try:
            if acquired.wait(timeout):
                return fd
        except BaseException:  # an interrupt while waiting: give up the place in the queue
            with guard:
                abandoned = True
                if acquired.is_set():  # taken just now: hand it back, nobody will release it
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
            raise
        with guard:
            if acquired.is_set():
                return fd
            abandoned = True
        raise LockTimeout(f"{self.holder} for more than {timeout:g} s (lock file {self.path})")
