"""Tampering as the holder of a SQLite log file would: the one helper every tamper test uses.

An attacker who holds the file drops auditlog's triggers, changes what they like and puts
the triggers back exactly as they were, so that the schema check finds nothing: whatever
verify then reports is found in the data itself. Tests that want the schema check to
fire drop triggers and leave them dropped, on their own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def as_holder(db: Path | str) -> Iterator[sqlite3.Connection]:
    """A raw connection in one transaction, with every trigger dropped; on a clean exit the
    triggers are re-created from their original SQL and the transaction is committed."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _sql in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        yield conn
        for _name, sql in triggers:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()
