"""The writers' queue of a PostgreSQL log (schema version 3): what a writer of one run does around it.

A writer queues its run (`enqueue`), then looks for its outcome (`collect`), waiting while a lock
holder seals it; whoever holds the writers' lock seals every queued run (`store.sealing_turn`,
services/grouped.py). The SQL is `schema.Statements`; this is the part of the store that runs it
outside a write transaction. Transactions here keep nothing that must survive a crash (a queue row
of an UNLOGGED table, a lock), so their COMMIT waits for no WAL flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from auditlog.store.postgres.errors import translated
from auditlog.store.postgres.reads import one, results, rollback
from auditlog.store.postgres.schema import Statements
from auditlog.store.postgres.transaction import PgTransaction
from auditlog.store.protocol import QueuedRun, Settled, StoredEvent

# A transaction that only locked and deleted queue rows keeps nothing that must survive a crash (the
# lock row's lock, an UNLOGGED row): its COMMIT need not wait for the WAL to reach the disk, which
# would otherwise cost every writer of a group a flush of its own just to let the lock go.
NO_FLUSH = "SET LOCAL synchronous_commit = off; "


@dataclass
class Turn:
    """protocol.SealingTurn: the run's outcome, or the transaction and the queue to seal, or neither
    (the lock was not free and its holder did not seal the run: look again)."""

    settled: Settled | None
    txn: PgTransaction | None
    queued: list[QueuedRun]
    about: list[StoredEvent]


def wait_clause(timeout: float) -> tuple[str, str]:
    """(SET LOCAL lock_timeout ..., "") for a wait of at most `timeout` s; ("", " NOWAIT") for none
    (lock_timeout 0 would mean "wait for ever")."""
    if timeout >= 0.001:
        return f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}; ", ""
    return "", " NOWAIT"


def collect_script(sql: Statements, ticket: int, timeout: float, after_holder: bool) -> str:
    """One transaction, sent at once, whose last result is the run's outcome (its row deleted), or none.

    The row lock is what waits (a DELETE alone would skip a row its snapshot holds unsettled); the
    DELETE's own snapshot, taken after that wait, sees the holder's outcome."""
    wait, nowait = wait_clause(timeout)
    lock = f"{sql.holder_wait}{nowait}; " if after_holder else ""
    hold = sql.hold.format(ticket=int(ticket)) + nowait
    return f"BEGIN; {NO_FLUSH}{wait}{lock}{hold}; {sql.collect.format(ticket=int(ticket))}; COMMIT"


class Queue:
    """The queue's statements outside a write transaction, mixed into PostgresStore."""

    _sql: Statements
    _tried: tuple[int, bool] | None
    lock_timeout: float

    def _live(self) -> psycopg.Connection[Any]:
        raise NotImplementedError

    def _not_streaming(self) -> None:
        raise NotImplementedError

    def enqueue(self, run: QueuedRun, *, try_lock: bool = False) -> int:
        """The run queued (committed at once: an UNLOGGED row's commit waits for no WAL flush); its ticket.

        `try_lock`: in the same round trip, begin a transaction that tries the writers' lock without
        waiting (FOR UPDATE SKIP LOCKED), left open for the next `sealing_turn(ticket, wait=False)` to go
        on with (anything else on the connection first rolls it back)."""
        self._not_streaming()
        args = (run.project, run.subject, run.document_sha256, run.actor, run.data)
        conn = self._live()
        with translated("cannot queue the run"):
            if not try_lock:
                return one(conn.execute(self._sql.enqueue, args))[0]
            try:  # several statements with parameters: bound here, sent as one query
                ((ticket,),), ((flag,),) = results(psycopg.ClientCursor(conn).execute(
                    f"{self._sql.enqueue}; COMMIT; BEGIN; {self._sql.try_lock}", args))
            except BaseException:
                rollback(conn)
                raise
        self._tried = (ticket, flag == "1")
        return int(ticket)

    def collect(self, ticket: int, timeout: float | None = None, *, after_holder: bool = False) -> Settled | None:
        """The run's outcome if a lock holder sealed it, its row then deleted; None if it is still waiting.

        A holder that took the run locks its row until it commits: this waits for that (at most
        `timeout`), so every writer of a group wakes at its commit at once. `after_holder`: wait
        until no writer holds the writers' lock (a shared lock on its row, which waiters do not
        refuse each other: the writers whose runs the next holder seals wake at its commit together,
        not one by one), and let that go in the same round trip."""
        timeout = self.lock_timeout if timeout is None else timeout
        conn = self._live()
        with translated("cannot read the run's outcome from the queue"):
            try:
                found = results(conn.execute(collect_script(self._sql, ticket, timeout, after_holder)))
            except BaseException:
                rollback(conn)
                raise
        return Settled(*found[-1][0]) if found[-1] else None

    def withdraw(self, ticket: int) -> Settled | None:
        with translated("cannot take the run off the queue"):
            conn = self._live()
            if conn.execute(self._sql.withdraw, (ticket,)).fetchall():
                return None
            taken = conn.execute(self._sql.take, (ticket,)).fetchall()
        return Settled(*taken[0]) if taken else None
