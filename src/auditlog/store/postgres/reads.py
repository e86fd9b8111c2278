"""The read half of the PostgreSQL store's protocol, shared by the store and its write transactions.

Every statement is one of `Statements`; events come back as `StoredEvent`s and Merkle rows as
`StoredNode`s through psycopg row factories. Long reads (`rows`, `nodes`) page through a
server-side cursor (`fetch`), so memory stays flat however long the log; where that cursor
runs (a snapshot of its own, or the write transaction) is the subclass's `_stream`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus

from auditlog.store.postgres.catalog import CATALOG, compare_catalog
from auditlog.store.postgres.errors import translated
from auditlog.store.postgres.schema import Statements
from auditlog.store.protocol import EMPTY_HASH, Head, StoredCheckpoint, StoredEvent, StoredNode, Tally

PAGE = 2048
_cursor_names = itertools.count()
_new_tuple: Any = tuple.__new__


def stored_events(_cursor: Any) -> Callable[[Sequence[Any]], StoredEvent]:
    """psycopg row factory: each row of an events query as a StoredEvent."""
    return lambda values: _new_tuple(StoredEvent, values)


def stored_nodes(_cursor: Any) -> Callable[[Sequence[Any]], StoredNode]:
    """psycopg row factory: each row of a Merkle query as a StoredNode."""
    return lambda values: _new_tuple(StoredNode, values)


class Reads:
    """Reads on `_connection()`, streams through `_stream`: what the store and a transaction share."""

    _sql: Statements

    def _connection(self) -> psycopg.Connection[Any]:
        raise NotImplementedError

    def _stream(self, query: str, args: Sequence[Any], rows: Any) -> Iterator[Any]:
        raise NotImplementedError

    def _events(self, query: str, args: Sequence[Any], binary: bool = False) -> list[StoredEvent]:
        with translated("cannot read the log"):
            return self._connection().cursor(row_factory=stored_events, binary=binary).execute(query, args).fetchall()

    def head(self) -> Head:
        with translated("cannot read the log"):
            return head_of(self._connection().execute(self._sql.head).fetchall())

    def get(self, seq: int) -> StoredEvent | None:
        found = self._events(self._sql.get, (seq,))
        return found[0] if found else None

    def find(self, subject: str, types: Sequence[str] = ()) -> list[StoredEvent]:
        args: list[Any]
        query, args = self._sql.find, [subject]
        if types:
            query, args = query + " AND type = ANY(%s)", [subject, list(types)]
        return self._events(query + " ORDER BY seq", args)

    def find_many(self, subjects: Sequence[str], types: Sequence[str] = ()) -> list[StoredEvent]:
        query, args = self._sql.find_many, [list(subjects)]
        if types:
            query, args = query + " AND type = ANY(%s)", [list(subjects), list(types)]
        return self._events(query + " ORDER BY seq", args)

    def latest(self, project: str, type_: str, before: int | None = None) -> StoredEvent | None:
        """Through events_by_project (project, type): the few events of one project and type, the last taken."""
        found = self._events(self._sql.latest, (project, type_, before))
        return found[0] if found else None

    def rows_at(self, seqs: Sequence[int]) -> list[StoredEvent]:
        wanted = sorted({seq for seq in seqs if seq >= 0})
        if not wanted:
            return []
        return self._events(self._sql.rows_at, (wanted,), binary=True)

    def meta(self) -> dict[str, str]:
        with translated("cannot read the log"):
            return dict(self._connection().execute(self._sql.meta).fetchall())

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[StoredEvent]:
        if until is None:
            return self._stream(self._sql.rows + " ORDER BY seq", (after,), stored_events)
        query, args = self._sql.rows + " AND seq < %s ORDER BY seq", (after, until)
        if until - after <= PAGE:  # one page (a Merkle peak, a proof's leaves): one round trip, no cursor
            return self._page(query, args)
        return self._stream(query, args, stored_events)

    def _page(self, query: str, args: Sequence[Any]) -> Iterator[StoredEvent]:
        yield from self._events(query, args, binary=True)

    def subtrees(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not keys:
            return {}
        levels, indexes = [k[0] for k in keys], [k[1] for k in keys]
        with translated("cannot read the log"):
            found = self._connection().execute(self._sql.subtrees, (levels, indexes)).fetchall()
        return {(level, idx): hash_ for level, idx, hash_ in found}

    def nodes(self) -> Iterator[StoredNode]:
        return self._stream(self._sql.nodes, (), stored_nodes)

    def checkpoints(self) -> list[StoredCheckpoint]:
        with translated("cannot read the log"):
            rows = self._connection().execute(self._sql.checkpoints).fetchall()
        return [StoredCheckpoint(*row) for row in rows]

    def tally(self, since: int | None = None, until: int | None = None) -> Tally:
        with translated("cannot read the log"):
            events, low, high, nodes = one(self._connection().execute(
                self._sql.tally, self._sql.bounds(since, until)))
        return Tally(events, low, high, nodes)

    def file_problems(self) -> list[str]:
        return []  # the server's storage is its own: no role of ours can rewrite an index's pages

    def schema_problems(self) -> list[str]:
        """The schema's catalog against what create_script makes (catalog.expected_catalog), in one
        query: tables and columns, constraints, indexes, triggers (and whether enabled), functions
        (their exact source), sequences, views, rules, policies, row-level security, types, operators."""
        schema = self._sql.schema
        with translated("cannot read the log's schema"):
            rows = self._connection().execute(CATALOG, {"schema": schema}).fetchall()
        quoted = rows[0][1]
        return compare_catalog(schema, quoted, [tuple(row) for row in rows[1:]])


def one(cursor: psycopg.Cursor[Any]) -> Any:
    """The row of a query that always returns one (an aggregate, a function's value, INSERT ... RETURNING)."""
    row = cursor.fetchone()
    assert row is not None, "the query returned no row"
    return row


def head_of(rows: list[Any]) -> Head:
    """The Head of `Statements.head`'s result: the last event's seq and hash, or none."""
    if not rows:
        return Head(0, EMPTY_HASH)
    ((seq, hash_),) = rows
    return Head(seq + 1, hash_)


def fetch(conn: psycopg.Connection[Any], query: str, args: Sequence[Any], rows: Any) -> Iterator[Any]:
    """Page through a server-side cursor, each row made by the row factory `rows`: bounded memory
    however long the log."""
    cursor = conn.cursor(name=f"auditlog_{next(_cursor_names)}", binary=True, row_factory=rows)
    try:
        with translated("cannot read the log"):
            cursor.execute(query, args)
            while page := cursor.fetchmany(PAGE):
                yield from page
    finally:
        if not conn.broken:
            try:
                cursor.close()
            except psycopg.Error:
                pass


def rollback(conn: psycopg.Connection[Any]) -> None:
    """End the open transaction, if any; a connection the server dropped has none left."""
    if conn.closed or conn.broken or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        pass  # the server has gone: it rolled back for us


def results(cursor: psycopg.Cursor[Any]) -> list[list[Any]]:
    """The rows of each statement of a multi-statement execute that returns rows, in order."""
    found = []
    while True:  # by the result's status: `description` would build column objects nobody reads
        result = cursor.pgresult
        if result is not None and result.status == ExecStatus.TUPLES_OK:
            found.append(cursor.fetchall())
        if not cursor.nextset():
            break
    return found
