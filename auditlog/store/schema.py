"""The SQLite schema, created and migrated forward with sqlite-utils' Migrations.

`PRAGMA user_version` carries the schema version, so that opening a log checks it
with one cheap query; a log at an older version is refused until `auditlog migrate`
is run: never migrated silently. Each migration sets the version it reaches.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1
MIGRATION_SET = "auditlog"

_APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, 'auditlog: {table} are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, 'auditlog: {table} are append-only'); END;
"""


def _migrations():  # noqa: ANN202 - sqlite_utils is imported here, not at module load
    from sqlite_utils import Migrations

    migrations = Migrations(MIGRATION_SET)

    @migrations(name="0001_events")
    def events(db) -> None:  # noqa: ANN001
        db["events"].create(
            {"seq": int, "hash": str, "ts": str, "type": str, "project": str, "subject": str, "body": bytes},
            pk="seq",
            not_null={"hash", "ts", "type", "project", "subject", "body"},
        )
        db["events"].create_index(["project", "type"], index_name="events_by_project")
        db["events"].create_index(["subject", "type"], index_name="events_by_subject")
        db["events"].create_index(["type"], index_name="events_by_type")
        db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"})
        # Hashes of complete Merkle subtrees (RFC 9162) of height >= 4, written with the
        # events that complete them; smaller ones are recomputed from at most 15 events.
        db.execute("CREATE TABLE merkle (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
                   "PRIMARY KEY (level, idx)) WITHOUT ROWID")
        db["checkpoints"].create(
            {"id": int, "size": int, "root": str, "note": str, "created": str},
            pk="id", not_null={"size", "root", "note", "created"},
        )
        db["checkpoints"].create_index(["size"], index_name="checkpoints_by_size")
        db.executescript("".join(_APPEND_ONLY.format(table=t) for t in ("events", "meta", "merkle", "checkpoints")))
        db.execute("PRAGMA user_version = 1")

    return migrations


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every pending migration; returns the names applied."""
    from sqlite_utils import Database

    migrations = _migrations()
    db = Database(conn)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
