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
        db.executescript(_APPEND_ONLY.format(table="events") + _APPEND_ONLY.format(table="meta"))
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
