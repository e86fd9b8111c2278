"""The embedded default: events in one SQLite file, WAL mode, one writer at a time.

Writers queue on a lock file (a blocking OS lock) before they begin an IMMEDIATE
transaction: SQLite's own busy handler sleeps and retries, which starves some
writers for seconds under contention; a blocking lock wakes them in turn. The
schema lives in `schema.py` and is created and migrated with sqlite-utils, which
is imported only then: the append hot path uses the sqlite3 connection directly.

A log that cannot be written (read-only media, a read-only file) is opened read-only, so
that it can still be verified and read: WAL mode needs a writable `-shm` file beside the
database, so where the directory cannot be written it is opened `immutable` (see
`_read_only_uri`). Writes to it are refused with one clear StorageError.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Any

from auditlog.errors import LockTimeout, NotFound, StorageError
from auditlog.filelock import FileLock
from auditlog.store import writes
from auditlog.store.protocol import EMPTY_HASH, Head, StoredCheckpoint, StoredEvent, StoredNode, Tally, continuing
from auditlog.store.sqlite.schema import SCHEMA_VERSION

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_COLUMNS = "seq, hash, ts, type, project, subject, body"
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_LOWEST, _HIGHEST = -(1 << 63), (1 << 63) - 1


def _stored_event(_cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> StoredEvent:
    """The row factory of the events queries: each row as a StoredEvent (tuple.__new__: no Python call per field)."""
    return _new_tuple(StoredEvent, row)


def _stored_node(_cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> StoredNode:
    return _new_tuple(StoredNode, row)


_new_tuple: Any = tuple.__new__


class _Reads:
    """The read half of the protocol, shared by the store and its transactions."""

    _conn: sqlite3.Connection

    def _query(self, factory: Any, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """`sql` on a cursor of its own that hands out its rows through `factory`."""
        cursor = self._conn.cursor()
        cursor.row_factory = factory
        return cursor.execute(sql, args)

    def head(self) -> Head:
        with _translated("cannot read the log"):
            last = self._conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if last is None:
            return Head(0, EMPTY_HASH)
        seq, hash_ = last
        return Head(seq + 1, hash_)

    def get(self, seq: int) -> StoredEvent | None:
        with _translated("cannot read the log"):
            return self._query(_stored_event, f"SELECT {_COLUMNS} FROM events WHERE seq = ? AND seq >= 0", (seq,)).fetchone()

    def find(self, subject: str, types: Sequence[str] = ()) -> list[StoredEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE subject = ? AND seq >= 0"
        if types:
            sql += f" AND type IN ({', '.join('?' * len(types))})"
        with _translated("cannot read the log"):
            return self._query(_stored_event, sql + " ORDER BY seq", (subject, *types)).fetchall()

    def find_many(self, subjects: Sequence[str], types: Sequence[str] = ()) -> list[StoredEvent]:
        """In chunks of 500 subjects (SQLite's default limit on parameters is 999 before 3.32)."""
        found: list[StoredEvent] = []
        kinds = f" AND type IN ({', '.join('?' * len(types))})" if types else ""
        with _translated("cannot read the log"):
            for start in range(0, len(subjects), 500):
                chunk = subjects[start:start + 500]
                sql = (f"SELECT {_COLUMNS} FROM events WHERE subject IN ({', '.join('?' * len(chunk))}) "
                       f"AND seq >= 0{kinds}")
                found += self._query(_stored_event, sql, (*chunk, *types)).fetchall()
        return sorted(found)  # by seq: StoredEvent sorts by its first field, and seqs are unique

    def latest(self, project: str, type_: str, before: int | None = None) -> StoredEvent | None:
        """Through events_by_project (project, type): SQLite keeps the rowid (seq) in the index, so the
        last one is found without sorting or scanning."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE project = ? AND type = ? AND seq >= 0"
        args: tuple[Any, ...] = (project, type_)
        if before is not None:
            sql, args = sql + " AND seq < ?", (*args, before)
        with _translated("cannot read the log"):
            return self._query(_stored_event, sql + " ORDER BY seq DESC LIMIT 1", args).fetchone()

    def rows_at(self, seqs: Sequence[int]) -> list[StoredEvent]:
        wanted = sorted({seq for seq in seqs if seq >= 0})
        found: list[StoredEvent] = []
        with _translated("cannot read the log"):
            for start in range(0, len(wanted), 500):  # under SQLite's limit on parameters
                chunk = wanted[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                found += self._query(_stored_event, f"SELECT {_COLUMNS} FROM events WHERE seq IN ({marks}) "
                                                    "ORDER BY seq", chunk).fetchall()
        return found

    def meta(self) -> dict[str, str]:
        with _translated("cannot read the log"):
            return dict(self._conn.execute("SELECT key, value FROM meta"))

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[StoredEvent]:
        """Stream in pages, so memory stays flat however long the log (verify reads every row here)."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE seq > ?"
        args: tuple[int, ...] = (after,)
        if until is not None:
            sql += " AND seq < ?"
            args = (after, until)
        with _translated("cannot read the log"):
            cursor = self._conn.execute(sql + " ORDER BY seq", args)  # plain rows: a row factory costs a call each
            while page := cursor.fetchmany(2048):
                yield from map(_new_tuple, repeat(StoredEvent), page)  # StoredEvents, made in C

    def tally(self, since: int | None = None, until: int | None = None) -> Tally:
        low = _LOWEST if since is None else since
        high = _HIGHEST if until is None else until
        with _translated("cannot read the log"):
            events, min_seq, max_seq = self._conn.execute(
                "SELECT count(*), min(seq), max(seq) FROM events WHERE seq >= ? AND seq < ?", (low, high)).fetchone()
            # A node's last event is ((idx + 1) << level) - 1; junk keys (negative, too high) count where they fall.
            (nodes,) = self._conn.execute("SELECT count(*) FROM merkle WHERE ((idx + 1) << level) - 1 >= ? "
                                          "AND ((idx + 1) << level) - 1 < ?", (low, high)).fetchone()
        return Tally(events, min_seq, max_seq, nodes)

    def schema_problems(self) -> list[str]:
        from auditlog.store.sqlite.schema import schema_problems
        with _translated("cannot read the log's schema"):
            return schema_problems(self._conn)

    def subtrees(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        with _translated("cannot read the log"):
            for level, idx in keys:
                for (hash_,) in self._conn.execute("SELECT hash FROM merkle WHERE level = ? AND idx = ?", (level, idx)):
                    found[(level, idx)] = hash_
        return found

    def nodes(self) -> Iterator[StoredNode]:
        with _translated("cannot read the log"):
            cursor = self._query(_stored_node, "SELECT level, idx, hash FROM merkle ORDER BY (idx + 1) << level, level")
            while page := cursor.fetchmany(2048):
                yield from page

    def checkpoints(self) -> list[StoredCheckpoint]:
        with _translated("cannot read the log"):
            rows = self._conn.execute("SELECT id, size, root, note, created FROM checkpoints ORDER BY id").fetchall()
        return [StoredCheckpoint(*row) for row in rows]


class SQLiteStore(_Reads):
    """An EventStore on one SQLite database file."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, synchronous: str = "FULL",
                 lock_timeout: float = 30.0, check_schema: bool = True) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.reopen_location = self.location  # what another process opens the same log with (verify's workers)
        self.lock_timeout = lock_timeout
        self.read_only = False  # set by _connect: the log cannot be written where it is
        if synchronous.upper() not in SYNCHRONOUS:
            raise StorageError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self._lock = FileLock(Path(f"{self.path}.lock"))
        exists = self.path.exists()
        if not exists and not create:
            raise NotFound(f"no log at {self.path}")
        if exists and self.path.is_dir():
            raise StorageError(f"{self.path} is a directory, not a log file")
        with _translated(f"cannot open {self.path}"):
            if not exists:
                with self._lock.held(lock_timeout):
                    writes.may_write()  # connecting creates the file
                    self._connect(synchronous)
                    self._create_schema()
            else:
                self._connect(synchronous)
                if create and self._is_blank():
                    # Another process may be creating it right now: sqlite3.connect makes the
                    # file before the schema is in it. Wait for that writer, then create it
                    # only if it is still blank (never inside someone else's database).
                    with self._lock.held(lock_timeout):
                        if self._is_blank():
                            self._create_schema()
                elif create and check_schema and self._is_midway():
                    with self._lock.held(lock_timeout):
                        pass  # its creator applies the migrations one by one: wait until it is done
                if check_schema:
                    self._check_schema()

    def file_problems(self) -> list[str]:
        """On a read-only connection of its own, so that it may run on another thread beside a scan."""
        from auditlog.store.sqlite.schema import file_problems
        with _translated("cannot check the log's file"):
            conn = sqlite3.connect(_read_only_uri(self.path), uri=True, timeout=self.lock_timeout,
                                   check_same_thread=False)
            try:
                return file_problems(conn)
            finally:
                conn.close()

    @classmethod
    def for_migration(cls, path: str | os.PathLike[str]) -> SQLiteStore:
        """Open an existing log whatever its schema version, to migrate it."""
        return cls(path, create=False, check_schema=False)

    def _connect(self, synchronous: str) -> None:
        target: str | Path = self.path
        if self.path.exists() and not _writable(self.path):
            self.read_only = True
            target = _read_only_uri(self.path)
        self._conn = sqlite3.connect(target, isolation_level=None, timeout=self.lock_timeout,
                                     check_same_thread=False, uri=self.read_only)
        try:
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if self.read_only:
                self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL, if it must
        except sqlite3.OperationalError:
            if self.read_only and _pending_wal(self.path):
                raise StorageError(f"cannot read {self.path} on read-only storage: its write-ahead log ({self.path}-wal) "
                                   "holds transactions not yet in the database file, and SQLite cannot read it "
                                   f"without a writable {self.path}-shm; copy the log with its -wal file to writable "
                                   "storage and read it there") from None
            raise

    def _refuse_if_read_only(self, doing: str) -> None:
        if self.read_only:
            raise StorageError(f"{doing}: {self.path} is on read-only storage (or not writable): it can be "
                               "verified and read, not written; copy it to writable storage to append")

    def _create_schema(self) -> None:
        """Under the writer lock, so that two first appends cannot both create it."""
        if self._conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            from auditlog.store.sqlite.schema import migrate  # sqlite-utils: paid only when creating
            self._refuse_if_read_only("cannot create a log")
            writes.may_write()
            self._conn.execute("PRAGMA journal_mode=WAL")
            migrate(self._conn)
        self._check_schema()

    def _is_blank(self) -> bool:
        """No schema version and no tables but sqlite-utils' own (which it makes before the
        migration's transaction): an empty file, or a log being created right now."""
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            others = "SELECT count(*) FROM sqlite_master WHERE tbl_name != '_sqlite_migrations'"
            return version == 0 and self._conn.execute(others).fetchone()[0] == 0
        except sqlite3.DatabaseError:
            return False  # not a database at all: _check_schema says so

    def _is_midway(self) -> bool:
        """At a schema version below this one: an old log, or one that a first append is creating now."""
        try:
            return 0 < self._conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION
        except sqlite3.DatabaseError:
            return False

    def _check_schema(self) -> None:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not an auditlog database ({exc})") from None
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            raise StorageError(f"{self.path} is not an auditlog database (no schema version)")
        if version < SCHEMA_VERSION:
            raise StorageError(f"{self.path} has schema version {version}, this auditlog needs "
                               f"{SCHEMA_VERSION}: run `auditlog migrate --log {self.path}` (back it up first)")
        raise StorageError(f"{self.path} has schema version {version}, newer than this auditlog "
                           f"understands ({SCHEMA_VERSION}): upgrade auditlog")

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[_SQLiteTransaction]:
        timeout = self.lock_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._refuse_if_read_only("cannot write the log")
        with self._lock.held(timeout), _translated("cannot write the log"):
            # Whatever the queue took comes off SQLite's own wait (for writers that are not us).
            self._conn.execute(f"PRAGMA busy_timeout = {max(0, int((deadline - time.monotonic()) * 1000))}")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTransaction(self._conn)
                writes.may_write()
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # an I/O error may have rolled it back already
                    self._conn.execute("ROLLBACK")
                raise

    def migrate(self) -> list[str]:
        """Apply pending schema migrations, explicitly asked for; returns their names."""
        from auditlog.store.sqlite.schema import migrate
        self._refuse_if_read_only("cannot migrate the log")
        writes.may_write()
        with self._lock.held(self.lock_timeout), _translated("cannot migrate the log"):
            return migrate(self._conn)

    def close(self) -> None:
        self._conn.close()


class _SQLiteTransaction(_Reads):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._head = super().head()

    def head(self) -> Head:
        return self._head

    def append(self, rows: Sequence[StoredEvent], nodes: Sequence[StoredNode] = ()) -> Head:
        if not rows:
            return self._head
        rows = continuing(self._head, rows)
        self._conn.executemany(_INSERT, rows)
        if nodes:
            self._conn.executemany("INSERT INTO merkle (level, idx, hash) VALUES (?, ?, ?)", nodes)
        self._head = Head(rows[-1].seq + 1, rows[-1].hash)
        return self._head

    def add_checkpoint(self, size: int, root: str, note: str, created: str) -> StoredCheckpoint:
        cursor = self._conn.execute("INSERT INTO checkpoints (size, root, note, created) VALUES (?, ?, ?, ?)",
                                    (size, root, note, created))
        assert cursor.lastrowid is not None  # an INSERT sets it
        return StoredCheckpoint(cursor.lastrowid, size, root, note, created)

    def set_meta(self, values: dict[str, str]) -> None:
        self._conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", values.items())


def _writable(path: Path) -> bool:
    """The file and its directory (where SQLite keeps the -wal and -shm files) can be written.
    access(2) answers EROFS on read-only media even for root, which file modes do not stop."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _read_only_uri(path: Path) -> str:
    """A read-only URI filename for a log that cannot be written.

    Where the directory can be written, `mode=ro` is enough (SQLite makes the -shm file there).
    Where it cannot, WAL mode cannot share memory through a -shm file, so the database is opened
    `immutable=1` (no locks, no -shm): right for read-only media, where nothing changes it. An
    immutable open ignores a -wal file, so a log whose -wal still holds committed changes is opened
    `mode=ro` instead, which reads them when its -shm file is there too, and fails otherwise
    (`_translated` then says why) rather than serving a log without its last transactions."""
    quoted = "file:" + urllib.parse.quote(str(path.resolve()))
    if os.access(path.parent, os.W_OK | os.X_OK) or _pending_wal(path):
        return quoted + "?mode=ro"
    return quoted + "?mode=ro&immutable=1"


def _pending_wal(path: Path) -> bool:
    wal = Path(f"{path}-wal")
    return wal.exists() and wal.stat().st_size > 0


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    """The one place where sqlite3's errors become ours."""
    try:
        yield
    except sqlite3.Error as exc:
        message = str(exc)
        # By SQLite's primary result code (the low byte of an extended one), never by message text.
        if ((getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise LockTimeout(f"{doing}: another process kept the database busy for longer than the lock "
                              "timeout (a writer that is not auditlog, or a long-running reader)") from None
        raise StorageError(f"{doing}: {message}") from None
    except OSError as exc:
        raise StorageError(f"{doing}: {exc.strerror or exc}") from None
