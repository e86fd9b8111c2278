"""An in-memory EventStore: the reference the contract suite holds the others to.

Also handy for tests and throw-away logs. A transaction works on a copy and
swaps it in on success, so it is all or nothing like the real stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from auditlog.errors import LockTimeout, StorageError
from auditlog.store.protocol import EMPTY_HASH, Head, Row


class MemoryStore:
    def __init__(self) -> None:
        self.location = ":memory:"
        self._rows: list[Row] = []
        self._meta: dict[str, str] = {}
        self._lock = threading.Lock()

    def head(self) -> Head:
        return _head(self._rows)

    def get(self, seq: int) -> Row | None:
        return self._rows[seq] if 0 <= seq < len(self._rows) else None

    def find(self, subject: str, types: Sequence[str] = ()) -> list[Row]:
        return _find(self._rows, subject, types)

    def meta(self) -> dict[str, str]:
        return dict(self._meta)

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[Row]:
        stop = len(self._rows) if until is None else min(until, len(self._rows))
        yield from self._rows[max(after + 1, 0):stop]

    @contextmanager
    def transaction(self, timeout: float = 30.0) -> Iterator[_MemoryTransaction]:
        if not self._lock.acquire(timeout=timeout):
            raise LockTimeout(f"another writer held the log for more than {timeout:g} s")
        try:
            txn = _MemoryTransaction(list(self._rows), dict(self._meta))
            yield txn
            self._rows, self._meta = txn.rows, txn.meta_values
        finally:
            self._lock.release()

    def close(self) -> None:
        pass


class _MemoryTransaction:
    def __init__(self, rows: list[Row], meta: dict[str, str]) -> None:
        self.rows = rows
        self.meta_values = meta

    def head(self) -> Head:
        return _head(self.rows)

    def get(self, seq: int) -> Row | None:
        return self.rows[seq] if 0 <= seq < len(self.rows) else None

    def find(self, subject: str, types: Sequence[str] = ()) -> list[Row]:
        return _find(self.rows, subject, types)

    def meta(self) -> dict[str, str]:
        return dict(self.meta_values)

    def append(self, rows: Sequence[Row]) -> Head:
        for offset, row in enumerate(rows):
            if row[0] != len(self.rows):
                raise StorageError(f"append must continue the log at seq {len(self.rows)}, not {row[0]}")
            self.rows.append(tuple(row))  # type: ignore[arg-type]
        return _head(self.rows)

    def set_meta(self, values: dict[str, str]) -> None:
        clash = set(values) & set(self.meta_values)
        if clash:
            raise StorageError(f"meta is append-only: {sorted(clash)[0]} is already set")
        self.meta_values.update(values)


def _head(rows: list[Row]) -> Head:
    return Head(len(rows), rows[-1][1]) if rows else Head(0, EMPTY_HASH)


def _find(rows: list[Row], subject: str, types: Sequence[str]) -> list[Row]:
    return [r for r in rows if r[5] == subject and (not types or r[3] in types)]
