"""Event stores: the protocol and its implementations."""

from __future__ import annotations

import os

from auditlog.store.protocol import EventStore, Head, Row


def open_store(location: str | os.PathLike[str], *, create: bool = True, lock_timeout: float = 30.0,
               synchronous: str = "FULL") -> EventStore:
    """Open the store a location names: a file path means SQLite (the embedded default)."""
    text = os.fspath(location)
    if text == ":memory:":
        from auditlog.store.memory import MemoryStore
        return MemoryStore()
    if text.startswith(("postgresql://", "postgres://")):
        from auditlog.errors import InvalidInput
        raise InvalidInput("--log", "PostgreSQL logs are not supported yet (see issue: beyond one machine)")
    from auditlog.store.sqlite import SQLiteStore
    return SQLiteStore(text, create=create, lock_timeout=lock_timeout, synchronous=synchronous)


__all__ = ["EventStore", "Head", "Row", "open_store"]
