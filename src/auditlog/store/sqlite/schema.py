"""The SQLite schema, created and migrated forward with sqlite-utils' Migrations.

`PRAGMA user_version` carries the schema version, so that opening a log checks it
with one cheap query; a log at an older version is refused until `auditlog migrate`
is run: never migrated silently. Each migration sets the version it reaches.
"""

from __future__ import annotations

import re
import sqlite3

SCHEMA_VERSION = 3
MIGRATION_SET = "auditlog"
INTEGRITY_LINES = 20  # of PRAGMA integrity_check, at most: each a problem of its own

_APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, 'auditlog: {table} are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, 'auditlog: {table} are append-only'); END;
"""


_SIZE = "(SELECT coalesce(max(seq) + 1, 0) FROM events)"
# Version 2: every insert stays inside the chain's domain. Events only at the head (so never
# at a negative seq, a gap or a future position); Merkle subtrees only of stored height over
# events the log has; checkpoints only of a size the log has; meta only its known keys.
_DOMAINS = f"""
CREATE TRIGGER events_at_head BEFORE INSERT ON events WHEN NEW.seq IS NOT {_SIZE}
BEGIN SELECT RAISE(ABORT, 'auditlog: events are appended at the head only'); END;
CREATE TRIGGER merkle_in_tree BEFORE INSERT ON merkle
WHEN NEW.level < 4 OR NEW.level > 62 OR NEW.idx < 0 OR NEW.idx >= {_SIZE} >> NEW.level
BEGIN SELECT RAISE(ABORT, 'auditlog: a Merkle subtree must cover events the log has'); END;
CREATE TRIGGER checkpoints_in_tree BEFORE INSERT ON checkpoints WHEN NEW.size < 1 OR NEW.size > {_SIZE}
BEGIN SELECT RAISE(ABORT, 'auditlog: a checkpoint must cover events the log has'); END;
CREATE TRIGGER meta_known_keys BEFORE INSERT ON meta
WHEN NEW.key NOT IN ('log_id', 'origin', 'genesis_hash', 'created')
BEGIN SELECT RAISE(ABORT, 'auditlog: not a meta key of the log'); END;
"""

# Version 3: a view for people and their tools (sqlite-utils, Datasette, the sqlite3 shell): each
# event's columns and its JSON as TEXT (the body is a BLOB, which Datasette shows as base64 and
# sqlite3 as bytes). The event's exact bytes stay in events.body; the view only reads them.
_EVENTS_JSON = """
CREATE VIEW events_json AS
SELECT seq, ts, type, project, subject, hash,
       json_extract(CAST(body AS TEXT), '$.prev') AS prev,
       json_extract(CAST(body AS TEXT), '$.actor') AS actor,
       json_extract(CAST(body AS TEXT), '$.data') AS data,
       CAST(body AS TEXT) AS event
FROM events
"""

# What migrations 0001 to 0003 make, as sqlite_master holds it, white space and identifier
# quotes taken out (sqlite-utils versions quote differently). `verify` compares a log's schema
# with this, so an extra trigger (one that drops inserts), a view or a changed table is reported.
EXPECTED_OBJECTS = {
    ("table", "_sqlite_migrations"): None,  # sqlite-utils' own: its shape is sqlite-utils' business
    ("index", "idx__sqlite_migrations_migration_set_name"): None,
    ("table", "events"): "CREATETABLEevents(seqINTEGERPRIMARYKEY,hashTEXTNOTNULL,tsTEXTNOTNULL,typeTEXTNOTNULL,"
                         "projectTEXTNOTNULL,subjectTEXTNOTNULL,bodyBLOBNOTNULL)",
    ("index", "events_by_project"): "CREATEINDEXevents_by_projectONevents(project,type)",
    ("index", "events_by_subject"): "CREATEINDEXevents_by_subjectONevents(subject,type)",
    ("index", "events_by_type"): "CREATEINDEXevents_by_typeONevents(type)",
    ("table", "meta"): "CREATETABLEmeta(keyTEXTPRIMARYKEY,valueTEXTNOTNULL)",
    ("index", "sqlite_autoindex_meta_1"): "",
    ("table", "merkle"): "CREATETABLEmerkle(levelINTEGERNOTNULL,idxINTEGERNOTNULL,hashBLOBNOTNULL,"
                         "PRIMARYKEY(level,idx))WITHOUTROWID",
    ("table", "checkpoints"): "CREATETABLEcheckpoints(idINTEGERPRIMARYKEY,sizeINTEGERNOTNULL,rootTEXTNOTNULL,"
                              "noteTEXTNOTNULL,createdTEXTNOTNULL)",
    ("index", "checkpoints_by_size"): "CREATEINDEXcheckpoints_by_sizeONcheckpoints(size)",
}


def _normal(sql: str | None) -> str:
    return re.sub(r'[\s"`\[\]]', "", sql or "")


def _expected() -> dict[tuple[str, str], str | None]:
    expected = dict(EXPECTED_OBJECTS)
    expected[("view", "events_json")] = _normal(_EVENTS_JSON)
    for table in ("events", "meta", "merkle", "checkpoints"):
        for name, sql in (("no_update", "UPDATE"), ("no_delete", "DELETE")):
            expected[("trigger", f"{table}_{name}")] = _normal(
                f"CREATE TRIGGER {table}_{name} BEFORE {sql} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'auditlog: {table} are append-only'); END")
    for statement in _DOMAINS.strip().split("END;"):
        if statement.strip():
            name = statement.split()[2]
            expected[("trigger", name)] = _normal(statement + "END")
    return expected


def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """Objects extra, missing or changed against what the migrations make (see EXPECTED_OBJECTS)."""
    found = {(kind, name): _normal(sql) for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")}
    problems = []
    for key, sql in sorted(_expected().items()):
        if key not in found:
            problems.append(f"the {key[0]} {key[1]} is missing")
        elif sql is not None and found[key] != sql:
            problems.append(f"the {key[0]} {key[1]} is not as auditlog created it")
    for kind, name in sorted(set(found) - set(_expected())):
        problems.append(f"an extra {kind} {name} is in the database (auditlog made none such: it may hide, drop "
                        "or change rows)")
    return problems


def file_problems(conn: sqlite3.Connection) -> list[str]:
    """What SQLite's own check of the file finds (PRAGMA integrity_check): an index whose entries are
    not its table's rows keeps its SQL text, and the reads that go through it (a run's events, a
    project's configuration) would miss rows or find others."""
    return [f"SQLite's integrity check of the file: {line}"
            for (line,) in conn.execute(f"PRAGMA integrity_check({INTEGRITY_LINES})") if line != "ok"]


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

    @migrations(name="0002_domains")
    def domains(db) -> None:  # noqa: ANN001
        db.executescript(_DOMAINS)
        db.execute("PRAGMA user_version = 2")

    @migrations(name="0003_events_json")
    def events_json(db) -> None:  # noqa: ANN001
        db.execute(_EVENTS_JSON)
        db.execute("PRAGMA user_version = 3")

    return migrations


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every pending migration; returns the names applied."""
    from sqlite_utils import Database

    migrations = _migrations()
    db = Database(conn)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
