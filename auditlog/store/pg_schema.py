"""The PostgreSQL schema, the statements on it and the role script, as SQL text: no driver here.

The tables mirror SQLite's (schema.py) column for column, so that a log copies
between the two without conversion: events keep the exact hashed bytes (bytea),
merkle keeps the stored subtree hashes, checkpoints keep the signed notes verbatim.
The schema version lives in its own append-only table, `auditlog_schema` (one row per
version reached), not in `meta`, which is the log's own data and is copied with it.
Statement-level triggers refuse UPDATE, DELETE and TRUNCATE on every table, for every
role but one that disables them (a superuser or the tables' owner): that is why the
writer and reader roles of `role_script` own nothing. Every statement names its tables with
the quoted schema written in (`Statements`), never through search_path or a parameter.
"""

from __future__ import annotations

import zlib

SCHEMA_VERSION = 1
VERSION_TABLE = "auditlog_schema"
TABLES = ("events", "meta", "merkle", "checkpoints", VERSION_TABLE)
WRITER_INSERTS = ("events", "merkle", "checkpoints")  # what appending and checkpointing add to
_LOCK_CLASS = int.from_bytes(b"audt", "big")  # the advisory lock's first key: ours
# Subtrees below this level are not stored but recomputed from the trailing events (as
# services.tree.STORED_LEVEL says): a write transaction reads those events and the stored
# peaks with its head, in its first round trip. Only a prefetch: a mismatch costs queries.
PREFETCH_LEVEL = 4
_COLUMNS = "seq, hash, ts, type, project, subject, body"

# {s} is the quoted schema name. Columns as in SQLite; seq is the primary key (the
# last line of defence against a forked chain, behind the advisory lock).
_CREATE = """
CREATE TABLE {s}.events (
    seq bigint PRIMARY KEY, hash text NOT NULL, ts text NOT NULL, type text NOT NULL,
    project text NOT NULL, subject text NOT NULL, body bytea NOT NULL);
CREATE INDEX events_by_project ON {s}.events (project, type);
CREATE INDEX events_by_subject ON {s}.events (subject, type);
CREATE INDEX events_by_type ON {s}.events (type);
CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE {s}.merkle (level integer NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE {s}.checkpoints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, size bigint NOT NULL, root text NOT NULL,
    note text NOT NULL, created text NOT NULL);
CREATE INDEX checkpoints_by_size ON {s}.checkpoints (size);
CREATE TABLE {s}.auditlog_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION {s}.auditlog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auditlog: % is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END $$;
"""
_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.auditlog_refuse_change();
"""


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (as psycopg.sql.Identifier would): any name is safe."""
    if not name or "\x00" in name:
        raise ValueError(f"not a valid PostgreSQL identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def create_script(schema: str) -> str:
    """Every statement that makes an empty log in `schema` (which must exist), version included."""
    s = quote_ident(schema)
    triggers = "".join(_TRIGGER.format(s=s, table=table) for table in TABLES)
    return (_CREATE.format(s=s) + triggers
            + f"INSERT INTO {s}.{VERSION_TABLE} (version) VALUES ({SCHEMA_VERSION});\n")


def role_script(schema: str, writer: str, reader: str) -> str:
    """GRANT/REVOKE making `writer` able to read and append only, and `reader` able to read only.

    Run it as the tables' owner (the role that ran `auditlog init`), after the log exists.
    Neither role owns anything, so neither can disable the append-only triggers; the
    writer has no UPDATE, DELETE or TRUNCATE privilege, so the server refuses those
    before the triggers are even asked.
    """
    s, w, r = quote_ident(schema), quote_ident(writer), quote_ident(reader)
    tables = ", ".join(f"{s}.{t}" for t in TABLES)
    inserts = ", ".join(f"{s}.{t}" for t in WRITER_INSERTS)
    literal = {name: "'" + name.replace("'", "''") + "'" for name in (writer, reader)}
    creates = "".join(
        f"    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal[name]}) THEN\n"
        f"        CREATE ROLE {quote_ident(name)} LOGIN;\n    END IF;\n"
        for name in dict.fromkeys((writer, reader)))
    return f"""\
-- auditlog: an append-only writer role and a read-only reader role for the log in schema {s}.
-- Run as the owner of the log's tables (the role that ran `auditlog init`), e.g. with psql -1 -f.
-- Give the roles passwords afterwards (ALTER ROLE ... PASSWORD ...) unless your pg_hba.conf
-- authenticates them otherwise.
DO $$
BEGIN
{creates}END $$;
REVOKE ALL ON {tables} FROM PUBLIC, {w}, {r};
REVOKE ALL ON SCHEMA {s} FROM {w}, {r};
GRANT USAGE ON SCHEMA {s} TO {w}, {r};
GRANT SELECT ON {tables} TO {w}, {r};
GRANT INSERT ON {inserts} TO {w};
"""


def peak_keys(size: int) -> set[tuple[int, int]]:
    """The (level, index) of the tree's peaks at `size` that are stored (level >= PREFETCH_LEVEL)."""
    return {(level, (size >> (level + 1)) << 1) for level in range(PREFETCH_LEVEL, size.bit_length())
            if (size >> level) & 1}


class Statements:
    """Every statement, with the quoted schema written in once: names are never parameters."""

    def __init__(self, schema: str) -> None:
        s = quote_ident(schema)
        self.head = f"SELECT seq, hash FROM {s}.events ORDER BY seq DESC LIMIT 1"
        self.get = f"SELECT {_COLUMNS} FROM {s}.events WHERE seq = %s"
        self.find = f"SELECT {_COLUMNS} FROM {s}.events WHERE subject = %s"
        self.rows = f"SELECT {_COLUMNS} FROM {s}.events WHERE seq > %s"
        self.meta = f"SELECT key, value FROM {s}.meta"
        self.subtrees = (f"SELECT level, idx, hash FROM {s}.merkle WHERE (level, idx) IN "
                         "(SELECT * FROM unnest(%s::integer[], %s::bigint[]))")
        self.nodes = f"SELECT level, idx, hash FROM {s}.merkle ORDER BY (idx + 1) << level, level"
        self.checkpoints = f"SELECT id, size, root, note, created FROM {s}.checkpoints ORDER BY id"
        self.insert = f"INSERT INTO {s}.events ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        self.copy = f"COPY {s}.events ({_COLUMNS}) FROM STDIN"
        self.insert_node = f"INSERT INTO {s}.merkle (level, idx, hash) VALUES (%s, %s, %s)"
        self.copy_nodes = f"COPY {s}.merkle (level, idx, hash) FROM STDIN"
        self.checkpoint = (f"INSERT INTO {s}.checkpoints (size, root, note, created) "
                           "VALUES (%s, %s, %s, %s) RETURNING id")
        self.set_meta = f"INSERT INTO {s}.meta (key, value) VALUES (%s, %s)"
        size = f"(SELECT coalesce(max(seq) + 1, 0) FROM {s}.events)"
        self.tail = (f"SELECT {_COLUMNS} FROM {s}.events WHERE seq >= {size} >> {PREFETCH_LEVEL} << {PREFETCH_LEVEL} "
                     "ORDER BY seq")
        self.peaks = (f"SELECT m.level, m.idx, m.hash FROM (SELECT {size} AS n) h "
                      f"CROSS JOIN generate_series({PREFETCH_LEVEL}, 62) AS l(level) "
                      f"JOIN {s}.merkle m ON m.level = l.level AND m.idx = (h.n >> (l.level + 1)) << 1 "
                      "WHERE (h.n >> l.level) & 1 = 1")
        self.version_table = f"{s}.{quote_ident(VERSION_TABLE)}"
        self.version = f"SELECT max(version) FROM {self.version_table}"
        key = zlib.crc32(schema.encode("utf-8"))
        self.lock_key = (_LOCK_CLASS, key - (1 << 32) if key >= 1 << 31 else key)
