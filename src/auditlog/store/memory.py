"""An in-memory EventStore: the reference the contract suite holds the others to.

Also handy for tests and throw-away logs. A transaction works on a copy and
swaps it in on success, so it is all or nothing like the real stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from auditlog.errors import LockTimeout, StorageError
from auditlog.store.protocol import EMPTY_HASH, Head, StoredCheckpoint, StoredEvent, StoredNode, Tally, continuing


@dataclass
class _State:
    rows: list[StoredEvent] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    checkpoints: list[StoredCheckpoint] = field(default_factory=list)

    def copy(self) -> _State:
        return replace(self, rows=list(self.rows), meta=dict(self.meta), nodes=dict(self.nodes),
                       checkpoints=list(self.checkpoints))


class _Reads:
    _state: _State

    def head(self) -> Head:
        rows = self._state.rows
        return Head(len(rows), rows[-1].hash) if rows else Head(0, EMPTY_HASH)

    def get(self, seq: int) -> StoredEvent | None:
        return self._state.rows[seq] if 0 <= seq < len(self._state.rows) else None

    def find(self, subject: str, types: Sequence[str] = ()) -> list[StoredEvent]:
        return [r for r in self._state.rows if r.subject == subject and (not types or r.type in types)]

    def find_many(self, subjects: Sequence[str], types: Sequence[str] = ()) -> list[StoredEvent]:
        wanted = set(subjects)
        return [r for r in self._state.rows if r.subject in wanted and (not types or r.type in types)]

    def latest(self, project: str, type_: str, before: int | None = None) -> StoredEvent | None:
        rows = self._state.rows
        for row in reversed(rows[:len(rows) if before is None else max(before, 0)]):
            if row.project == project and row.type == type_:
                return row
        return None

    def meta(self) -> dict[str, str]:
        return dict(self._state.meta)

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[StoredEvent]:
        rows = self._state.rows
        stop = len(rows) if until is None else min(until, len(rows))
        yield from rows[max(after + 1, 0):stop]

    def tally(self, since: int | None = None, until: int | None = None) -> Tally:
        def inside(seq: int) -> bool:
            return (since is None or seq >= since) and (until is None or seq < until)
        seqs = [r.seq for r in self._state.rows if inside(r.seq)]
        nodes = sum(1 for level, idx in self._state.nodes if inside(((idx + 1) << level) - 1))
        return Tally(len(seqs), min(seqs, default=None), max(seqs, default=None), nodes)

    def schema_problems(self) -> list[str]:
        return []  # no schema: nothing but this process can reach its state

    def file_problems(self) -> list[str]:
        return []  # no file

    def rows_at(self, seqs: Sequence[int]) -> list[StoredEvent]:
        wanted = {seq for seq in seqs if seq >= 0}
        return [row for row in self._state.rows if row.seq in wanted]

    def subtrees(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self._state.nodes[k] for k in keys if k in self._state.nodes}

    def nodes(self) -> Iterator[StoredNode]:
        stored = [StoredNode(level, idx, hash_) for (level, idx), hash_ in self._state.nodes.items()]
        return iter(sorted(stored, key=lambda node: (node.end, node.level)))

    def checkpoints(self) -> list[StoredCheckpoint]:
        return list(self._state.checkpoints)


class MemoryStore(_Reads):
    def __init__(self) -> None:
        self.location = ":memory:"
        self.lock_timeout = 30.0
        self._state = _State()
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, timeout: float = 30.0) -> Iterator[_MemoryTransaction]:
        if not self._lock.acquire(timeout=timeout):
            raise LockTimeout(f"another writer held the log for more than {timeout:g} s")
        try:
            txn = _MemoryTransaction(self._state.copy())
            yield txn
            self._state = txn._state
        finally:
            self._lock.release()

    def close(self) -> None:
        pass


class _MemoryTransaction(_Reads):
    def __init__(self, state: _State) -> None:
        self._state = state

    def append(self, rows: Sequence[StoredEvent], nodes: Sequence[StoredNode] = ()) -> Head:
        if rows:
            self._state.rows.extend(continuing(self.head(), rows))
        for level, idx, hash_ in nodes:
            if (level, idx) in self._state.nodes:
                raise StorageError(f"subtree ({level}, {idx}) is already stored")
            self._state.nodes[(level, idx)] = hash_
        return self.head()

    def add_checkpoint(self, size: int, root: str, note: str, created: str) -> StoredCheckpoint:
        stored = StoredCheckpoint(len(self._state.checkpoints) + 1, size, root, note, created)
        self._state.checkpoints.append(stored)
        return stored

    def set_meta(self, values: dict[str, str]) -> None:
        clash = set(values) & set(self._state.meta)
        if clash:
            raise StorageError(f"meta is append-only: {sorted(clash)[0]} is already set")
        self._state.meta.update(values)
