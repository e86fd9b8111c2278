"""Event stores: the protocol and its implementations."""

from __future__ import annotations

import os
from typing import Any

from auditlog.store.protocol import EventStore, Head, StoredEvent, StoredNode


def open_store(location: str | os.PathLike[str], *, create: bool = True, lock_timeout: float = 30.0,
               synchronous: str = "FULL") -> EventStore:
    """Open the store a location names: a file path means SQLite (the embedded default),
    a postgresql:// (or postgres://) URI a PostgreSQL schema, `:memory:` a throw-away log.

    psycopg is imported only here, only for a PostgreSQL location: SQLite logs never pay for it.
    `synchronous` is SQLite's; a PostgreSQL server keeps its own durability settings.
    """
    text = os.fspath(location)
    if text == ":memory:":
        from auditlog.store.memory import MemoryStore
        return MemoryStore()
    if text.startswith(("postgresql://", "postgres://")):
        return _open_postgres(text, create=create, lock_timeout=lock_timeout)
    from auditlog.store.sqlite.store import SQLiteStore
    return SQLiteStore(text, create=create, lock_timeout=lock_timeout, synchronous=synchronous)


def migrate(location: str | os.PathLike[str]) -> list[str]:
    """Bring the log's schema forward to this version (explicit, never on open); the events, their
    hashes and the root stay as they are. Returns the migrations applied ([] when up to date)."""
    text = os.fspath(location)
    if text.startswith(("postgresql://", "postgres://")):
        from auditlog.store.postgres.store import PostgresStore
        store: Any = PostgresStore.for_migration(text)
    else:
        from auditlog.store.sqlite.store import SQLiteStore
        store = SQLiteStore.for_migration(text)
    try:
        return store.migrate()
    finally:
        store.close()


def _open_postgres(url: str, *, create: bool, lock_timeout: float) -> EventStore:
    try:
        from auditlog.store.postgres.store import PostgresStore
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "psycopg":
            raise
        from auditlog.errors import StorageError
        raise StorageError('PostgreSQL logs need psycopg 3: pip install "auditlog-evals[postgres]" '
                           f'(or "psycopg[binary]"): {exc}') from None
    return PostgresStore(url, create=create, lock_timeout=lock_timeout)


__all__ = ["EventStore", "Head", "StoredEvent", "StoredNode", "migrate", "open_store"]
