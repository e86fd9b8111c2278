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

Version 2 keeps every insert inside the chain's domain, whoever sends it (a writer role
with nothing but INSERT included): row triggers, owned by the tables' owner, refuse an
event that is not at the head, whose hash is not its body's SHA-256, or whose body does not
end with the envelope tail its columns and the previous event's hash make; a Merkle row
whose hash is not the subtree's (from the 16 events' leaves, or from its two stored
halves); a checkpoint whose size the log does not have, whose root is not the tree's, or
whose note does not begin with the log's origin, size and root. Check constraints keep
seq >= 0 and meta to its four keys. Writers queue on a row lock (`SELECT ... FOR UPDATE`
of the one row of `auditlog_writer_lock`), which needs an UPDATE privilege only writers
have: a reader cannot stall them. The triggers' PL/pgSQL is `functions.py`;
`catalog.expected_catalog` is what `schema_problems` compares the schema's catalog with.
"""

from __future__ import annotations

import zlib

from auditlog.store.postgres.functions import FUNCTIONS, REFUSE_CHANGE, ROW_TRIGGERS, SEARCH_PATH, function_sources

SCHEMA_VERSION = 3
VERSION_TABLE = "auditlog_schema"
LOCK_TABLE = "auditlog_writer_lock"
QUEUE_TABLE = "auditlog_queue"  # version 3: runs waiting to be sealed by whoever holds the writers' lock
TABLES = ("events", "meta", "merkle", "checkpoints", VERSION_TABLE, LOCK_TABLE)
TABLES_V1 = TABLES[:5]
WRITER_INSERTS = ("events", "merkle", "checkpoints")  # what appending and checkpointing add to (validated)
META_KEYS = ("log_id", "origin", "genesis_hash", "created")
_LOCK_CLASS = int.from_bytes(b"audt", "big")  # the advisory lock's first key: ours (creation; version 1 writers)
# Subtrees below this level are not stored but recomputed from the trailing events (as
# services.tree.STORED_LEVEL says): a write transaction reads those events and the stored
# peaks with its head, in its first round trip. Only a prefetch: a mismatch costs queries.
PREFETCH_LEVEL = 4
_COLUMNS = "seq, hash, ts, type, project, subject, body"
_LOWEST, _HIGHEST = -(1 << 63), (1 << 63) - 1

# {s} is the quoted schema name. Columns as in SQLite; seq is the primary key (the
# last line of defence against a forked chain, behind the writers' lock). Version 1's tables,
# exactly as release 0.1.0 made them (tests/fixtures/pg_schema_v1.sql): version 2 adds to them.
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
CREATE FUNCTION {s}.auditlog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$""" + REFUSE_CHANGE + """$$;
"""
_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.auditlog_refuse_change();
"""

CONSTRAINTS = {  # (table, name) -> the CHECK, as pg_get_constraintdef prints it
    ("events", "events_in_domain"): "CHECK ((seq >= 0))",
    ("meta", "meta_known_keys"): "CHECK ((key = ANY (ARRAY['log_id'::text, 'origin'::text, 'genesis_hash'::text, "
                                 "'created'::text])))",
    ("merkle", "merkle_in_tree"): "CHECK (((level >= 4) AND (level <= 62) AND (idx >= 0)))",
    ("checkpoints", "checkpoints_in_tree"): "CHECK ((size >= 1))",
}
_DOMAINS = """
ALTER TABLE {s}.events ADD CONSTRAINT events_in_domain CHECK (seq >= 0);
ALTER TABLE {s}.meta ADD CONSTRAINT meta_known_keys CHECK (key IN ('log_id', 'origin', 'genesis_hash', 'created'));
ALTER TABLE {s}.merkle ADD CONSTRAINT merkle_in_tree CHECK (level >= 4 AND level <= 62 AND idx >= 0);
ALTER TABLE {s}.checkpoints ADD CONSTRAINT checkpoints_in_tree CHECK (size >= 1);
CREATE TABLE {s}.auditlog_writer_lock (id integer PRIMARY KEY, CONSTRAINT auditlog_writer_lock_one_row CHECK (id = 1));
INSERT INTO {s}.auditlog_writer_lock (id) VALUES (1);
"""


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (as psycopg.sql.Identifier would): any name is safe."""
    if not name or "\x00" in name:
        raise ValueError(f"not a valid PostgreSQL identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _version_2(s: str) -> str:
    """What version 2 adds to version 1's tables: the same for a new log and a migrated one."""
    sources = function_sources(s)
    functions = "".join(
        f"CREATE FUNCTION {s}.{name}({args}) RETURNS {returns} LANGUAGE plpgsql VOLATILE "
        f"SET search_path = {SEARCH_PATH} AS $$" + sources[name] + "$$;\n"
        for name, (args, returns, _) in FUNCTIONS.items())
    triggers = "".join(f"CREATE TRIGGER {trigger} BEFORE INSERT ON {s}.{table} FOR EACH ROW "
                       f"EXECUTE FUNCTION {s}.{function}();\n"
                       for trigger, (table, function) in ROW_TRIGGERS.items())
    return (_DOMAINS.format(s=s) + _TRIGGER.format(s=s, table=LOCK_TABLE) + functions + triggers
            + f"INSERT INTO {s}.{VERSION_TABLE} (version) VALUES (2);\n")


# Version 3: the writers' queue (group sealing, services/grouped.py). Not part of the log: a writer
# enqueues its run, already validated and encoded, and whoever holds the writers' lock seals every
# queued run in one transaction, writing each one's outcome (seq and hash, or why it was refused)
# back into its row, which its writer then reads and deletes. UNLOGGED: the queue is not worth a
# WAL flush (after a server crash it is empty, and every writer waiting on it has lost its
# connection and was told so); what is sealed is in `events`, logged as ever.
_QUEUE = """
CREATE UNLOGGED TABLE {s}.auditlog_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, queued timestamptz NOT NULL DEFAULT now(),
    project text NOT NULL, subject text NOT NULL, document_sha256 text NOT NULL, actor bytea NOT NULL,
    data bytea NOT NULL, seq bigint, hash text, new boolean, refused text);
INSERT INTO {s}.auditlog_schema (version) VALUES (3);
"""


def create_script(schema: str) -> str:
    """Every statement that makes an empty log in `schema` (which must exist), version included."""
    s = quote_ident(schema)
    triggers = "".join(_TRIGGER.format(s=s, table=table) for table in TABLES_V1)
    return _CREATE.format(s=s) + triggers + _version_2(s) + _QUEUE.format(s=s)


def migration_script(schema: str, version: int) -> list[tuple[str, str]]:
    """(name, SQL) of each migration from `version` to SCHEMA_VERSION; run as the tables' owner."""
    s = quote_ident(schema)
    steps = [("0002_domains", _version_2(s)), ("0003_queue", _QUEUE.format(s=s))]
    return steps[max(0, version - 1):]


def role_script(schema: str, writer: str, reader: str) -> str:
    """GRANT/REVOKE making `writer` able to read and append only, and `reader` able to read only.

    Run it as the tables' owner (the role that ran `auditlog init`), after the log exists.
    Neither role owns anything, so neither can disable or replace the triggers; the writer
    has no UPDATE, DELETE or TRUNCATE privilege on the log's tables, so the server refuses
    those before the triggers are even asked, and what it may INSERT the triggers check.
    Its one UPDATE privilege is on the lock table, which `SELECT ... FOR UPDATE` needs (an
    actual UPDATE of it is refused by its trigger); the reader has none, so it cannot take
    the writers' lock. The writers' queue (not part of the log) is the writer's alone.
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
-- authenticates them otherwise. The writer's only UPDATE is on the lock table: what
-- SELECT ... FOR UPDATE needs to queue writers (an UPDATE of it is refused by a trigger).
DO $$
BEGIN
{creates}END $$;
REVOKE ALL ON {tables} FROM PUBLIC, {w}, {r};
REVOKE ALL ON SCHEMA {s} FROM {w}, {r};
GRANT USAGE ON SCHEMA {s} TO {w}, {r};
GRANT SELECT ON {tables} TO {w}, {r};
GRANT INSERT ON {inserts} TO {w};
GRANT UPDATE ON {s}.{LOCK_TABLE} TO {w};
REVOKE ALL ON {s}.{QUEUE_TABLE} FROM PUBLIC, {w}, {r};
GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.{QUEUE_TABLE} TO {w};
"""


def peak_keys(size: int) -> set[tuple[int, int]]:
    """The (level, index) of the tree's peaks at `size` that are stored (level >= PREFETCH_LEVEL)."""
    return {(level, (size >> (level + 1)) << 1) for level in range(PREFETCH_LEVEL, size.bit_length())
            if (size >> level) & 1}


class Statements:
    """Every statement, with the quoted schema written in once: names are never parameters."""

    def __init__(self, schema: str) -> None:
        s = quote_ident(schema)
        self.schema = schema
        self.head = f"SELECT seq, hash FROM {s}.events ORDER BY seq DESC LIMIT 1"
        self.get = f"SELECT {_COLUMNS} FROM {s}.events WHERE seq = %s AND seq >= 0"
        self.rows_at = f"SELECT {_COLUMNS} FROM {s}.events WHERE seq = ANY(%s::bigint[]) AND seq >= 0 ORDER BY seq"
        self.find = f"SELECT {_COLUMNS} FROM {s}.events WHERE subject = %s AND seq >= 0"
        self.find_many = f"SELECT {_COLUMNS} FROM {s}.events WHERE subject = ANY(%s) AND seq >= 0"
        self.latest = (f"SELECT {_COLUMNS} FROM {s}.events WHERE project = %s AND type = %s AND seq >= 0 "
                       "AND seq < coalesce(%s::bigint, 9223372036854775807) ORDER BY seq DESC LIMIT 1")
        self.rows = f"SELECT {_COLUMNS} FROM {s}.events WHERE seq > %s"
        self.meta = f"SELECT key, value FROM {s}.meta"
        self.subtrees = (f"SELECT level, idx, hash FROM {s}.merkle WHERE (level, idx) IN "
                         "(SELECT * FROM unnest(%s::integer[], %s::bigint[]))")
        self.nodes = f"SELECT level, idx, hash FROM {s}.merkle ORDER BY (idx + 1) << level, level"
        self.checkpoints = f"SELECT id, size, root, note, created FROM {s}.checkpoints ORDER BY id"
        self.insert = f"INSERT INTO {s}.events ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        self.copy = f"COPY {s}.events ({_COLUMNS}) FROM STDIN"
        # One statement for many rows that needs no round trip of its own (COPY cannot be pipelined), in the
        # order given (the triggers want seq order, and a Merkle row after its halves).
        self.insert_many = (f"INSERT INTO {s}.events ({_COLUMNS}) SELECT {_COLUMNS} FROM unnest(%s::bigint[], "
                            "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bytea[]) WITH ORDINALITY "
                            f"AS r({_COLUMNS}, n) ORDER BY n")
        self.insert_nodes = ("INSERT INTO {s}.merkle (level, idx, hash) SELECT level, idx, hash FROM unnest("
                             "%s::integer[], %s::bigint[], %s::bytea[]) WITH ORDINALITY AS r(level, idx, hash, n) "
                             "ORDER BY n").replace("{s}", s)
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
        self.lock_table = f"{s}.{quote_ident(LOCK_TABLE)}"
        # The writers' queue: the lock row, FOR UPDATE (UPDATE privilege: writers only).
        self.lock_wait = f"SELECT 1 FROM {self.lock_table} FOR UPDATE"
        self.lock_nowait = self.lock_wait + " NOWAIT"
        # Waiting for the holder to finish, without excluding the others who wait for the same (shared
        # lockers do not exclude each other; a holder's FOR UPDATE excludes them all).
        self.holder_wait = f"SELECT 1 FROM {self.lock_table} FOR KEY SHARE"
        queue = f"{s}.{quote_ident(QUEUE_TABLE)}"
        self.enqueue = (f"INSERT INTO {queue} (project, subject, document_sha256, actor, data) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id")
        settled = "seq IS NOT NULL OR refused IS NOT NULL"
        # {ticket} is an int of ours (an id the queue returned), written in so that it joins the lock's round trip.
        self.hold = f"SELECT 1 FROM {queue} WHERE id = {{ticket}} FOR UPDATE"
        # An outcome comes with the event it names, read in the same statement (one snapshot: the outcome is
        # visible exactly when the holder's events are): its writer checks that event is its run before it
        # says "recorded" (services/grouped.py), since any writer may UPDATE any queue row.
        def outcome(where: str) -> str:
            return (f"WITH d AS (DELETE FROM {queue} WHERE {where} RETURNING seq, hash, new, refused) "
                    f"SELECT d.seq, d.hash, d.new, d.refused, e.body FROM d LEFT JOIN {s}.events e ON e.seq = d.seq")

        self.collect = outcome(f"id = {{ticket}} AND ({settled})")
        # The runs to seal, and the events about their subjects (read after them: the rows just locked are
        # covered), sent in the lock's round trip after `collect`: both read nothing (and lock nothing) when
        # {ticket}'s row is gone, i.e. the previous holder sealed it and `collect` just deleted it.
        # They also read nothing in a transaction that tried the writers' lock and found it taken (`try_lock`:
        # FOR UPDATE SKIP LOCKED, its answer kept in a setting of the transaction, read by the later statements).
        self.try_lock = (f"SELECT set_config('auditlog.holder', count(*)::text, true) FROM (SELECT FROM "
                         f"{self.lock_table} FOR UPDATE SKIP LOCKED) l")
        mine = (f"EXISTS (SELECT FROM {queue} WHERE id = {{ticket}}) "
                "AND current_setting('auditlog.holder', true) IS DISTINCT FROM '0'")
        self.queued = (f"SELECT id, project, subject, document_sha256, actor, data FROM {queue} "
                       f"WHERE NOT ({settled}) AND {mine} ORDER BY id FOR UPDATE")
        self.about_queued = (f"SELECT {_COLUMNS} FROM {s}.events WHERE seq >= 0 AND {mine} AND subject = ANY("
                             f"SELECT subject FROM {queue} WHERE NOT ({settled})) ORDER BY seq")
        self.settle = (f"UPDATE {queue} q SET seq = o.seq, hash = o.hash, new = o.new, refused = o.refused "
                       "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::boolean[], %s::text[]) "
                       "AS o(id, seq, hash, new, refused) WHERE q.id = o.id")
        self.forget = f"DELETE FROM {queue} WHERE id = %s"
        self.withdraw = f"DELETE FROM {queue} WHERE id = %s AND NOT ({settled}) RETURNING id"
        self.take = outcome("id = %s")
        # Outcomes nobody came back for (their writer was killed after enqueueing): kept an hour.
        self.sweep = f"DELETE FROM {queue} WHERE ({settled}) AND queued < now() - interval '1 hour'"
        # A node's last event is ((idx + 1) << level) - 1, in numeric: junk keys cannot overflow.
        last = "((m.idx + 1)::numeric * power(2::numeric, m.level) - 1)"
        self.tally = (f"SELECT e.n, e.low, e.high, (SELECT count(*) FROM {s}.merkle m WHERE {last} >= %(since)s "
                      f"AND {last} < %(until)s) FROM (SELECT count(*) AS n, min(seq) AS low, max(seq) AS high "
                      f"FROM {s}.events WHERE seq >= %(since)s AND seq < %(until)s) e")
        key = zlib.crc32(schema.encode("utf-8"))
        self.lock_key = (_LOCK_CLASS, key - (1 << 32) if key >= 1 << 31 else key)

    @staticmethod
    def bounds(since: int | None, until: int | None) -> dict[str, int]:
        return {"since": _LOWEST if since is None else since, "until": _HIGHEST if until is None else until}


