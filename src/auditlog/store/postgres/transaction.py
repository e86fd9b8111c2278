"""One PostgreSQL write transaction: it holds the writers' lock, sees its own appends, and appends
only at the head (the schema's row triggers refuse anything else from anyone).

It starts knowing what every append reads next (the events after the last stored subtree,
and the stored peaks of the tree), fetched with the head under the lock in the store's first
round trip: the Merkle tree resumes without more round trips while the other writers wait.
Committing and rolling back are the store's (`PostgresStore.transaction`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from auditlog.store.postgres.errors import translated
from auditlog.store.postgres.reads import Reads, fetch, one, stored_events
from auditlog.store.postgres.schema import Statements, peak_keys
from auditlog.store.protocol import Head, Settled, StoredCheckpoint, StoredEvent, StoredNode, Tally, continuing

COPY_FROM = 4  # rows: from here on COPY beats a pipelined executemany (a group sealing's dozen rows too)


class PgTransaction(Reads):
    """The write half of the protocol, on the connection whose transaction holds the lock."""

    def __init__(self, conn: psycopg.Connection[Any], sql: Statements, head: Head, tail: Sequence[StoredEvent],
                 peaks: Sequence[StoredNode]) -> None:
        self._conn = conn
        self._sql = sql
        self._head = head  # read under the lock: no other writer can move it now
        self._tail = {row.seq: row for row in tail}
        self._peaks = {(node.level, node.idx): node.hash for node in peaks}
        self._looked = peak_keys(head.size)  # absent from _peaks means not stored
        self._pipelined = False
        self._ahead: dict[int, Any] = {}  # rows asked for ahead (pipelined): seq -> its cursor, then its row

    def _connection(self) -> psycopg.Connection[Any]:
        return self._conn

    def _stream(self, query: str, args: Sequence[Any], rows: Any) -> Iterator[Any]:
        return fetch(self._conn, query, args, rows)

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[StoredEvent]:
        if until is not None and after + 1 < until and all(seq in self._tail for seq in range(after + 1, until)):
            return iter([self._tail[seq] for seq in range(after + 1, until)])
        return super().rows(after, until)

    def subtrees(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if keys and self._looked.issuperset(keys):
            return {key: self._peaks[key] for key in keys if key in self._peaks}
        return super().subtrees(keys)

    def head(self) -> Head:
        return self._head

    def append(self, rows: Sequence[StoredEvent], nodes: Sequence[StoredNode] = ()) -> Head:
        if not rows:
            return self._head
        rows = continuing(self._head, rows)
        with translated("cannot write the log"):
            if self._pipelined:  # sent with the rest of the block: no round trip of its own
                self._conn.execute(self._sql.insert_many, [list(column) for column in zip(*rows)])
                if nodes:
                    self._conn.execute(self._sql.insert_nodes, [list(column) for column in zip(*nodes)])
            else:
                _insert(self._conn, self._sql.insert, self._sql.copy, rows)
                if nodes:
                    _insert(self._conn, self._sql.insert_node, self._sql.copy_nodes, nodes)
        self._head = Head(rows[-1].seq + 1, rows[-1].hash)
        return self._head

    def settle(self, outcomes: dict[int, Settled], mine: int) -> None:
        """Each queued run's outcome into its row (its writer reads and deletes it); `mine` deleted now."""
        others = {id_: o for id_, o in outcomes.items() if id_ != mine}
        with translated("cannot write the log"):
            if others:  # one statement for the group
                self._conn.execute(self._sql.settle, [list(others), *([getattr(o, name) for o in others.values()]
                                                                     for name in ("seq", "hash", "new", "refused"))])
            self._conn.execute(self._sql.forget, (mine,))
            self._conn.execute(self._sql.sweep)

    def tally(self, since: int | None = None, until: int | None = None) -> Tally:
        """Pipelined, the head's row is asked for in the same round trip (what a writer's confirmation
        reads next: `get(head.size - 1)`)."""
        if not self._pipelined or until is not None or self._head.size == 0:
            return super().tally(since, until)
        with translated("cannot read the log"):
            counted = self._conn.execute(self._sql.tally, self._sql.bounds(since, until))
            self.read_ahead(self._head.size - 1)
            events, low, high, nodes = one(counted)
        return Tally(events, low, high, nodes)

    def read_ahead(self, seq: int) -> None:
        """Pipelined, the event at `seq` is asked for now, and `get(seq)` reads the answer (once sent,
        again from memory) until the block ends; otherwise this does nothing."""
        if self._pipelined and seq not in self._ahead:
            with translated("cannot read the log"):
                self._ahead[seq] = self._conn.cursor(row_factory=stored_events).execute(self._sql.get, (seq,))

    def get(self, seq: int) -> StoredEvent | None:
        if seq in self._ahead:
            ahead = self._ahead[seq]
            if isinstance(ahead, psycopg.Cursor):
                with translated("cannot read the log"):
                    ahead = self._ahead[seq] = (ahead.fetchone(),)
            return ahead[0]
        return super().get(seq)

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """Statements sent without waiting for each one's answer (psycopg's pipeline mode): what the
        block asks is sent in one go, and the first result it reads waits for all of them. Appends in
        the block are INSERTs of arrays (COPY cannot be pipelined)."""
        with translated("cannot write the log"), self._conn.pipeline():
            self._pipelined = True
            try:
                yield
            finally:
                self._pipelined, self._ahead = False, {}

    def add_checkpoint(self, size: int, root: str, note: str, created: str) -> StoredCheckpoint:
        with translated("cannot write the log"):
            (id_,) = one(self._conn.execute(self._sql.checkpoint, (size, root, note, created)))
        return StoredCheckpoint(id_, size, root, note, created)

    def set_meta(self, values: dict[str, str]) -> None:
        with translated("cannot write the log"), self._conn.cursor() as cur:
            cur.executemany(self._sql.set_meta, list(values.items()))


def _insert(conn: psycopg.Connection[Any], insert: str, copy: str, rows: Sequence[Sequence[Any]]) -> None:
    with conn.cursor() as cur:
        if len(rows) < COPY_FROM:
            cur.executemany(insert, rows)
            return
        with cur.copy(copy) as stream:
            for row in rows:
                stream.write_row(row)
