"""PostgreSQL: one log shared by many CI runners on many machines (psycopg 3, no ORM).

Imported only when a postgresql:// location is opened, so SQLite logs never load psycopg.

Writers line up on the head: a write transaction's first statement locks the one row of
the log's `auditlog_writer_lock` table (`SELECT ... FOR UPDATE`, which needs an UPDATE
privilege that only writers have, so a reader cannot stall them), waiting at most the
lock timeout (the server's own `lock_timeout`, so a waiter gives up by itself:
LockTimeout), and only then reads the head. Each writer so continues the chain from the
previous writer's committed head, and the chain cannot fork; the seq primary key and the
schema's row triggers refuse an event anywhere but at the head from anything that bypassed
the lock. The lock lives and dies with the transaction: a killed client's lock goes when
the server sees its connection close, and its uncommitted batch goes with it. Creating a
log (no lock table yet) and migrating one from version 1 take the transaction-scoped
advisory lock that version 1 writers queued on.

Plain reads run in autocommit, one statement, one snapshot, so a long-lived reader never
holds a transaction open. Streams (`rows`, `nodes`) read through server-side cursors in
one REPEATABLE READ transaction shared by every stream open at once: verify sees the
events and the Merkle subtrees of the same moment, as SQLite's read transaction gives.
psycopg's errors become ours at this edge, as one line: StorageError, LockTimeout.

This module is the connection, the locks, the transactions' life and the schema's (create,
migrate, roles); the reads are `reads.py`, the writers' queue outside a write transaction
`queue.py`, a write transaction's appends `transaction.py`, the SQL `schema.py` and `functions.py`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg
from psycopg.pq import TransactionStatus

from auditlog.errors import LockTimeout, NotFound, StorageError
from auditlog.store import writes
from auditlog.store.postgres.errors import one_line, translate, translated
from auditlog.store.postgres.location import parse_location, schema_name_problem
from auditlog.store.postgres.queue import NO_FLUSH, Queue, Turn, collect_script, wait_clause
from auditlog.store.postgres.reads import Reads, fetch, head_of, one, results, rollback
from auditlog.store.postgres.schema import (
    META_KEYS,
    SCHEMA_VERSION,
    TABLES_V1,
    Statements,
    create_script,
    migration_script,
    quote_ident,
    role_script,
)
from auditlog.store.postgres.transaction import PgTransaction
from auditlog.store.protocol import QueuedRun, Settled, StoredEvent, StoredNode

CONNECT_TIMEOUT = 10  # seconds, unless the location or $PGCONNECT_TIMEOUT says otherwise


class PostgresStore(Queue, Reads):
    """An EventStore in one PostgreSQL schema; see the module's docstring for the locking."""

    def __init__(self, url: str, *, create: bool = True, lock_timeout: float = 30.0,
                 check_version: bool = True) -> None:
        self._where = parse_location(url)
        self.location = self._where.display
        self.reopen_location = url  # another process's way in (verify's workers): it may hold a password, never shown
        self.lock_timeout = lock_timeout
        self._writers = threading.Lock()  # threads sharing this store take turns on its connection
        self._streams = 0  # streams open now; the first opens the read snapshot, the last ends it
        self._snapshot = False
        self._closed = False
        self._tried: tuple[int, bool] | None = None  # (ticket, holder) of the lock tried with the enqueue, still open
        self._conn = self._connect()
        try:
            with translated(f"cannot open {self.location}"):
                self.schema = self._where.schema or self._current_schema()
                self._sql = Statements(self.schema)
                version = self._version()
                if version is None:
                    if not create:
                        raise NotFound(f"no log at {self.location} (schema {self.schema!r} holds none)")
                    self._create()
                    version = self._version()
            if check_version:
                self._check_version(version)
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def for_migration(cls, url: str, lock_timeout: float = 30.0) -> PostgresStore:
        """Open an existing log whatever its schema version, to migrate it (as the tables' owner)."""
        return cls(url, create=False, lock_timeout=lock_timeout, check_version=False)

    # -- connecting and the schema ---------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        defaults: dict[str, Any] = {}
        if "connect_timeout" not in self._where.parameters and "PGCONNECT_TIMEOUT" not in os.environ:
            defaults["connect_timeout"] = CONNECT_TIMEOUT
        if "application_name" not in self._where.parameters and "PGAPPNAME" not in os.environ:
            defaults["application_name"] = "auditlog"
        try:
            return psycopg.connect(self._where.conninfo, autocommit=True, **defaults)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to {self.location}: {one_line(exc)}") from None

    def _current_schema(self) -> str:
        schema = one(self._conn.execute("SELECT current_schema()"))[0]
        if schema is None:
            raise StorageError(f"{self.location}: the connection has no current schema (its search_path names "
                               "no schema that exists): name one with ?schema=NAME")
        problem = schema_name_problem(schema)
        if problem:
            raise StorageError(f"{self.location}: the connection's current schema {schema!r}: {problem}: name "
                               "another with ?schema=NAME")
        return schema

    def _version(self) -> int | None:
        """The schema version, or None where the schema holds no auditlog tables (or does not exist)."""
        exists = one(self._conn.execute("SELECT to_regclass(%s)", (self._sql.version_table,)))[0]
        if exists is None:
            return None
        return one(self._conn.execute(self._sql.version))[0] or 0

    def _create(self) -> None:
        """Under the writers' lock, so that many first appends create it once."""
        conn = self._conn
        try:
            conn.execute("BEGIN")
            self._advisory_lock(conn, self.lock_timeout)
            if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone():
                conn.execute(f"CREATE SCHEMA {quote_ident(self.schema)}")
            if self._version() is None:
                try:
                    conn.execute(create_script(self.schema))
                except (pg.DuplicateTable, pg.DuplicateObject, pg.DuplicateFunction) as exc:
                    raise StorageError(f"cannot create a log in schema {self.schema!r} of {self.location}: it "
                                       f"already holds objects auditlog did not make ({one_line(exc)})") from None
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise

    def _check_version(self, version: int | None) -> None:
        if version == SCHEMA_VERSION:
            return
        if version is None or version < SCHEMA_VERSION:
            raise StorageError(f"{self.location} has schema version {version}, this auditlog needs {SCHEMA_VERSION}: "
                               "PostgreSQL logs are migrated explicitly, never on open: run `auditlog migrate "
                               "--log URL` as the owner of the log's tables (see docs/postgres.md)")
        raise StorageError(f"{self.location} has schema version {version}, newer than this auditlog "
                           f"understands ({SCHEMA_VERSION}): upgrade auditlog")

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, reconnected if the server dropped it between transactions (and out of a
        transaction `enqueue(try_lock=True)` left open for a turn that did not come)."""
        if self._tried is not None:
            self._tried = None
            rollback(self._conn)
        if self._closed:
            raise StorageError(f"{self.location}: the log is closed")
        if self._conn.broken or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _connection(self) -> psycopg.Connection[Any]:
        return self._conn if self._streams else self._live()

    def _lock(self, conn: psycopg.Connection[Any], timeout: float, then: str = "SELECT 1",
              begin: bool = False) -> list[list[Any]]:
        """The writers' queue: (BEGIN and) lock the lock table's row, waiting at most `timeout` seconds,
        then run the statements `then` and return their rows. One round trip: every value in it is
        an int of ours."""
        if timeout < 0.001:  # lock_timeout 0 would mean "wait for ever"
            lock = self._sql.lock_nowait
        else:
            lock = f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}; {self._sql.lock_wait}"
        try:
            cursor = conn.execute(f"{'BEGIN; ' if begin else ''}{lock}; {then}")
        except pg.LockNotAvailable:
            if timeout < 0.001:
                raise LockTimeout(f"another writer is appending to {self.location}") from None
            raise
        found = results(cursor)
        if not found[0]:
            raise StorageError(f"{self.location}: the writers' lock row is missing from the log's "
                               "auditlog_writer_lock table, so writers cannot queue (run auditlog verify)")
        return found[1:]

    def _advisory_lock(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        """Creation's (and version 1's) queue: the transaction-scoped advisory lock keyed on the schema."""
        k1, k2 = self._sql.lock_key
        if timeout < 0.001:
            if not one(conn.execute(f"SELECT pg_try_advisory_xact_lock({k1}, {k2})"))[0]:
                raise LockTimeout(f"another writer is creating or migrating {self.location}")
            return
        conn.execute(f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}")
        conn.execute(f"SELECT pg_advisory_xact_lock({k1}, {k2})")

    def migrate(self) -> list[str]:
        """Bring a version 1 log to this version, in one transaction, as the tables' owner, holding both
        the version 1 writers' advisory lock and every table's lock; returns the migrations applied.
        The events, Merkle rows, meta and checkpoints are left as they are: same bytes, same root."""
        conn = self._live()
        with translated(f"cannot migrate {self.location}"):
            try:
                conn.execute("BEGIN")
                self._advisory_lock(conn, self.lock_timeout)
                version = self._version()
                if version is None:
                    raise NotFound(f"no log at {self.location} (schema {self.schema!r} holds none)")
                if version > SCHEMA_VERSION:
                    self._check_version(version)
                steps = migration_script(self.schema, version)
                if steps:
                    self._check_migratable()
                for _, script in steps:
                    conn.execute(script)
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        return [name for name, _ in steps]

    def _check_migratable(self) -> None:
        """As the tables' owner, with them locked: nothing in them lies outside version 2's domain."""
        s = quote_ident(self.schema)
        owners = self._conn.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE') FROM pg_class c "
            "WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %s) AND c.relname = ANY(%s) "
            "ORDER BY c.relname", (self.schema, list(TABLES_V1))).fetchall()
        for table, owner, ours in owners:
            if not ours:
                raise StorageError(f"cannot migrate {self.location}: run it as the owner of the log's tables "
                                   f"({owner} owns {table})")
        self._conn.execute(f"LOCK TABLE {', '.join(f'{s}.{t}' for t in TABLES_V1)} IN EXCLUSIVE MODE")
        keys = ", ".join(f"'{key}'" for key in META_KEYS)
        strays = one(self._conn.execute(
            f"SELECT (SELECT count(*) FROM {s}.events WHERE seq < 0), "
            f"(SELECT count(*) FROM {s}.meta WHERE key NOT IN ({keys})), "
            f"(SELECT count(*) FROM {s}.merkle WHERE level < 4 OR level > 62 OR idx < 0), "
            f"(SELECT count(*) FROM {s}.checkpoints WHERE size < 1)"))
        what = ("events rows at a negative seq", "meta rows with a key auditlog never writes",
                "Merkle rows of no stored level or a negative index", "checkpoints of a size below 1")
        found = [f"{count} {label}" for count, label in zip(strays, what) if count]
        if found:
            raise StorageError(f"cannot migrate {self.location}: its tables hold rows outside any log auditlog "
                               f"writes ({', '.join(found)}): auditlog verify reports them; they were never part "
                               "of the log, and the tables' owner must remove them before migrating")

    # -- the protocol ----------------------------------------------------------------

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[PgTransaction]:
        with self._turn(timeout, None, True) as turn:
            assert turn.txn is not None  # no ticket: always a transaction
            yield turn.txn

    def sealing_turn(self, ticket: int, timeout: float | None = None, *, wait: bool = True) -> AbstractContextManager[Turn]:
        """A queued writer's turn at the writers' lock (protocol.SealingTurn): the lock, its run's
        outcome and, when nobody sealed it yet, the transaction's reads and the queue, in one round trip.
        `wait=False`: the lock only if it is free; if not, wait for its holder and collect (a second
        round trip, the turn's last), as `collect(after_holder=True)` does."""
        return self._turn(timeout, int(ticket), wait)

    @contextmanager
    def _turn(self, timeout: float | None, ticket: int | None, wait: bool) -> Iterator[Turn]:
        timeout = self.lock_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._writers.acquire(timeout=max(timeout, 0)):
            raise LockTimeout(f"another writer in this process held {self.location} for more than {timeout:g} s")
        try:
            self._not_streaming()
            tried, self._tried = (self._tried, None) if self._tried and self._tried[0] == ticket else (None, None)
            conn = self._live()
            try:
                with translated("cannot write the log"):
                    reads = f"{self._sql.tail}; {self._sql.head}; {self._sql.peaks}"
                    left = max(0.0, deadline - time.monotonic())
                    if ticket is None:
                        tail, head, peaks = self._lock(conn, left, begin=True, then=reads)
                        queued: list[Any] = []
                        about: list[Any] = []
                    else:  # one round trip: the lock, the run's outcome, and else what sealing the queue reads
                        collect = self._sql.collect.format(ticket=ticket)
                        then = f"{reads}; {self._sql.queued}; {self._sql.about_queued}".format(ticket=ticket)
                        if wait:
                            holder, (collected, tail, head, peaks, queued, about) = True, self._lock(
                                conn, left, begin=True, then=f"{collect}; {then}")
                        elif tried is not None:  # the lock was tried with the enqueue, in this open transaction
                            holder, collected = tried[1], []
                            if holder:
                                tail, head, peaks, queued, about = results(conn.execute(
                                    f"{wait_clause(left)[0]}{then}"))
                        else:  # the lock if it is free; the reads only then (statements planned for nothing cost)
                            ((flag,),), collected = results(conn.execute(
                                f"BEGIN; {wait_clause(left)[0]}{self._sql.try_lock}; {collect}"))
                            holder = flag == "1"
                            if holder and not collected:
                                tail, head, peaks, queued, about = results(conn.execute(then))
                        if not (collected or holder):  # another writer holds the lock: wait for it to finish
                            found = results(conn.execute(f"{NO_FLUSH}COMMIT; " + collect_script(
                                self._sql, ticket, max(0.0, deadline - time.monotonic()), after_holder=True)))
                            yield Turn(Settled(*found[-1][0]) if found[-1] else None, None, [], [])
                            return
                        if collected:  # the previous holder sealed it: this transaction only deleted its row
                            yield Turn(Settled(*collected[0]), None, [], [])
                            conn.execute(f"{NO_FLUSH}COMMIT")
                            return
                    txn = PgTransaction(conn, self._sql, head_of(head), [StoredEvent._make(row) for row in tail],
                                        [StoredNode._make(row) for row in peaks])
                    yield Turn(None, txn, [QueuedRun(*row) for row in queued], [StoredEvent._make(row) for row in about])
                try:
                    writes.may_write()
                    conn.execute("COMMIT")
                except psycopg.OperationalError as exc:
                    raise StorageError(
                        f"cannot commit to the log: the connection was lost during COMMIT ({one_line(exc)}): the "
                        "batch may or may not be in the log; appending the same runs or verdicts again is safe "
                        "(they are idempotent)") from None
                except psycopg.Error as exc:
                    raise translate(exc, "cannot commit to the log") from None
            except BaseException:
                rollback(conn)
                raise
        finally:
            self._writers.release()

    def _not_streaming(self) -> None:
        if self._streams:
            raise StorageError(f"cannot write {self.location} while reading it: finish or close the "
                               "events iterator first")

    def _stream(self, query: str, args: Sequence[Any], rows: Any) -> Iterator[Any]:
        conn = self._connection()
        with translated("cannot read the log"):
            if self._streams == 0 and conn.info.transaction_status == TransactionStatus.IDLE:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                self._snapshot = True
        self._streams += 1
        try:
            yield from fetch(conn, query, args, rows)
        finally:
            self._streams -= 1
            if self._streams == 0 and self._snapshot:
                self._snapshot = False
                rollback(conn)  # a read-only snapshot: ending it is all a commit would do

    def setup_roles(self, writer: str, reader: str) -> str:
        """Run `role_script` for this log's schema in one transaction; returns the script run."""
        script = role_script(self.schema, writer, reader)
        conn = self._live()
        with translated(f"cannot set up the roles in {self.location}"):
            try:
                conn.execute("BEGIN")
                conn.execute(script)
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        return script

    def close(self) -> None:
        self._closed = True
        self._conn.close()
