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
have: a reader cannot stall them. `catalog.expected_catalog` is what `schema_problems` compares
the schema's catalog with.
"""

from __future__ import annotations

import zlib

SCHEMA_VERSION = 2
VERSION_TABLE = "auditlog_schema"
LOCK_TABLE = "auditlog_writer_lock"
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
_REFUSE_CHANGE = """
BEGIN
    RAISE EXCEPTION 'auditlog: % is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END """
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
CREATE FUNCTION {s}.auditlog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$""" + _REFUSE_CHANGE + """$$;
"""
_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.auditlog_refuse_change();
"""

# Version 2's functions: (arguments, result, body). Every table is named with its schema, and
# search_path is pinned to pg_catalog, so no object a role makes elsewhere (a `sha256` of its
# own in public) is ever called instead of the built-in. They run with the inserting role's
# rights (SELECT on the tables is all they need) and belong to the tables' owner: a writer
# can neither replace nor drop them.
_SEARCH_PATH = "pg_catalog, pg_temp"
_FUNCTIONS: dict[str, tuple[str, str, str]] = {
    # RFC 9162 MTH over leaf hashes (any count): pairing bottom up, an odd last node carried up
    # unchanged, is the same tree as splitting at the largest power of two below n.
    "auditlog_mth": ("hashes bytea[]", "bytea", """
DECLARE
    one CONSTANT bytea := decode('01', 'hex');
    layer bytea[] := hashes;
    above bytea[];
    n integer := coalesce(cardinality(hashes), 0);
    i integer;
BEGIN
    IF n = 0 THEN
        RETURN sha256(''::bytea);
    END IF;
    WHILE n > 1 LOOP
        above := '{}';
        i := 1;
        WHILE i < n LOOP
            above := array_append(above, sha256(one || layer[i] || layer[i + 1]));
            i := i + 2;
        END LOOP;
        IF i = n THEN
            above := array_append(above, layer[n]);
        END IF;
        layer := above;
        n := cardinality(layer);
    END LOOP;
    RETURN layer[1];
END """),
    # The root of the tree of the first `size` events: the right fold of its peaks, the stored
    # ones (level >= 4) and the trailing < 16 events' MTH.
    "auditlog_root": ("size bigint", "bytea", """
DECLARE
    zero CONSTANT bytea := decode('00', 'hex');
    one CONSTANT bytea := decode('01', 'hex');
    rest bigint := size & 15;
    peaks bytea[] := '{}';
    leaves bytea[];
    found bytea;
    lvl integer;
    result bytea;
BEGIN
    FOR lvl IN REVERSE 62..4 LOOP
        IF (size >> lvl) & 1 = 1 THEN
            SELECT m.hash INTO found FROM {s}.merkle m WHERE m.level = lvl AND m.idx = (size >> (lvl + 1)) << 1;
            IF found IS NULL THEN
                RAISE EXCEPTION 'auditlog: the Merkle subtree (level %, index %) is not stored: no root at size %',
                    lvl, (size >> (lvl + 1)) << 1, size;
            END IF;
            peaks := array_append(peaks, found);
        END IF;
    END LOOP;
    IF rest > 0 THEN
        SELECT array_agg(sha256(zero || e.body) ORDER BY e.seq) INTO leaves
            FROM {s}.events e WHERE e.seq >= size - rest AND e.seq < size;
        IF coalesce(cardinality(leaves), 0) <> rest THEN
            RAISE EXCEPTION 'auditlog: events % to % are not all in the log: no root at size %',
                size - rest, size - 1, size;
        END IF;
        peaks := array_append(peaks, {s}.auditlog_mth(leaves));
    END IF;
    result := peaks[cardinality(peaks)];
    FOR i IN REVERSE cardinality(peaks) - 1 .. 1 LOOP
        result := sha256(one || peaks[i] || result);
    END LOOP;
    RETURN result;
END """),
    # An event only at the head, hashed right, its body ending with the canonical envelope tail
    # (auditlog.core.events.envelope_tail) of its columns and the previous event's hash.
    # to_json(text) escapes strings exactly as RFC 8785 does (tests/postgres/test_pg_hostile.py).
    "auditlog_check_event": ("", "trigger", """
DECLARE
    top record;
    prev text := repeat('0', 64);
    tail bytea;
BEGIN
    SELECT e.seq, e.hash INTO top FROM {s}.events e ORDER BY e.seq DESC LIMIT 1;
    IF top.seq IS NULL THEN
        IF NEW.seq IS DISTINCT FROM 0 THEN
            RAISE EXCEPTION 'auditlog: events are appended at the head only (seq % refused: the log is empty)',
                NEW.seq;
        END IF;
    ELSIF NEW.seq IS DISTINCT FROM top.seq + 1 THEN
        RAISE EXCEPTION 'auditlog: events are appended at the head only (seq % refused: the next seq is %)',
            NEW.seq, top.seq + 1;
    ELSE
        prev := top.hash;
    END IF;
    IF NEW.hash IS DISTINCT FROM encode(sha256(NEW.body), 'hex') THEN
        RAISE EXCEPTION 'auditlog: the event at seq % is not stored with the SHA-256 of its body', NEW.seq;
    END IF;
    tail := convert_to(',"prev":"' || prev || '","project":' || to_json(NEW.project)::text
        || ',"seq":' || NEW.seq::text || ',"subject":' || to_json(NEW.subject)::text
        || ',"ts":' || to_json(NEW.ts)::text || ',"type":' || to_json(NEW.type)::text || ',"v":1}', 'UTF8');
    IF length(NEW.body) < length(tail)
            OR substring(NEW.body FROM length(NEW.body) - length(tail) + 1) <> tail THEN
        RAISE EXCEPTION 'auditlog: the event at seq % does not end with the envelope of its columns and the previous '
            'event''s hash', NEW.seq;
    END IF;
    RETURN NEW;
END """),
    # A Merkle row only for a complete subtree over events the log has, with the right hash:
    # level 4 from its 16 events' leaf hashes, above from its two stored halves.
    "auditlog_check_node": ("", "trigger", """
DECLARE
    zero CONSTANT bytea := decode('00', 'hex');
    one CONSTANT bytea := decode('01', 'hex');
    size bigint;
    leaves bytea[];
    left_half bytea;
    right_half bytea;
    expected bytea;
BEGIN
    SELECT coalesce(max(e.seq) + 1, 0) INTO size FROM {s}.events e;
    IF NEW.level < 4 OR NEW.level > 62 OR NEW.idx < 0 OR NEW.idx >= size >> NEW.level THEN
        RAISE EXCEPTION 'auditlog: a Merkle subtree must be a stored level (4 to 62) over events the log has '
            '(level %, index % refused: the log has % events)', NEW.level, NEW.idx, size;
    END IF;
    IF NEW.level = 4 THEN
        SELECT array_agg(sha256(zero || e.body) ORDER BY e.seq) INTO leaves
            FROM {s}.events e WHERE e.seq >= NEW.idx << 4 AND e.seq < (NEW.idx + 1) << 4;
        IF coalesce(cardinality(leaves), 0) <> 16 THEN
            RAISE EXCEPTION 'auditlog: the events under Merkle subtree (level 4, index %) are not all in the log',
                NEW.idx;
        END IF;
        expected := {s}.auditlog_mth(leaves);
    ELSE
        SELECT m.hash INTO left_half FROM {s}.merkle m WHERE m.level = NEW.level - 1 AND m.idx = NEW.idx * 2;
        SELECT m.hash INTO right_half FROM {s}.merkle m WHERE m.level = NEW.level - 1 AND m.idx = NEW.idx * 2 + 1;
        IF left_half IS NULL OR right_half IS NULL THEN
            RAISE EXCEPTION 'auditlog: Merkle subtree (level %, index %) refused: its two halves are not stored',
                NEW.level, NEW.idx;
        END IF;
        expected := sha256(one || left_half || right_half);
    END IF;
    IF NEW.hash IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'auditlog: Merkle subtree (level %, index %) refused: its hash is not the subtree''s',
            NEW.level, NEW.idx;
    END IF;
    RETURN NEW;
END """),
    # A checkpoint only of a size the log has, with the tree's root at that size, its note
    # beginning as C2SP tlog-checkpoint says (origin, size, base64 root). Its signatures are
    # not checked here: verify does that, with the verifier keys SQL does not have.
    "auditlog_check_checkpoint": ("", "trigger", """
DECLARE
    size bigint;
    origin text;
    root bytea;
    body text;
BEGIN
    SELECT coalesce(max(e.seq) + 1, 0) INTO size FROM {s}.events e;
    IF NEW.size < 1 OR NEW.size > size THEN
        RAISE EXCEPTION 'auditlog: a checkpoint must cover events the log has (size % refused: the log has % events)',
            NEW.size, size;
    END IF;
    SELECT m.value INTO origin FROM {s}.meta m WHERE m.key = 'origin';
    IF origin IS NULL THEN
        RAISE EXCEPTION 'auditlog: the log has no origin in meta: no checkpoint can name it';
    END IF;
    root := {s}.auditlog_root(NEW.size);
    IF NEW.root IS DISTINCT FROM encode(root, 'hex') THEN
        RAISE EXCEPTION 'auditlog: a checkpoint of size % refused: its root is not the tree''s root at that size',
            NEW.size;
    END IF;
    body := origin || E'\\n' || NEW.size::text || E'\\n' || encode(root, 'base64') || E'\\n';
    IF left(NEW.note, length(body)) IS DISTINCT FROM body THEN
        RAISE EXCEPTION 'auditlog: a checkpoint of size % refused: its note does not begin with the log''s origin, '
            'that size and that root', NEW.size;
    END IF;
    RETURN NEW;
END """),
}
_ROW_TRIGGERS = {  # trigger -> (table, function)
    "events_at_head": ("events", "auditlog_check_event"),
    "merkle_in_tree": ("merkle", "auditlog_check_node"),
    "checkpoints_in_tree": ("checkpoints", "auditlog_check_checkpoint"),
}
_CONSTRAINTS = {  # (table, name) -> the CHECK, as pg_get_constraintdef prints it
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


def _function_sources(s: str) -> dict[str, str]:
    return {name: body.replace("{s}", s) for name, (_, _, body) in _FUNCTIONS.items()}


def _version_2(s: str) -> str:
    """What version 2 adds to version 1's tables: the same for a new log and a migrated one."""
    sources = _function_sources(s)
    functions = "".join(
        f"CREATE FUNCTION {s}.{name}({args}) RETURNS {returns} LANGUAGE plpgsql VOLATILE "
        f"SET search_path = {_SEARCH_PATH} AS $$" + sources[name] + "$$;\n"
        for name, (args, returns, _) in _FUNCTIONS.items())
    triggers = "".join(f"CREATE TRIGGER {trigger} BEFORE INSERT ON {s}.{table} FOR EACH ROW "
                       f"EXECUTE FUNCTION {s}.{function}();\n"
                       for trigger, (table, function) in _ROW_TRIGGERS.items())
    return (_DOMAINS.format(s=s) + _TRIGGER.format(s=s, table=LOCK_TABLE) + functions + triggers
            + f"INSERT INTO {s}.{VERSION_TABLE} (version) VALUES (2);\n")


def create_script(schema: str) -> str:
    """Every statement that makes an empty log in `schema` (which must exist), version included."""
    s = quote_ident(schema)
    triggers = "".join(_TRIGGER.format(s=s, table=table) for table in TABLES_V1)
    return _CREATE.format(s=s) + triggers + _version_2(s)


def migration_script(schema: str, version: int) -> list[tuple[str, str]]:
    """(name, SQL) of each migration from `version` to SCHEMA_VERSION; run as the tables' owner."""
    s = quote_ident(schema)
    return [("0002_domains", _version_2(s))] if version == 1 else []


def role_script(schema: str, writer: str, reader: str) -> str:
    """GRANT/REVOKE making `writer` able to read and append only, and `reader` able to read only.

    Run it as the tables' owner (the role that ran `auditlog init`), after the log exists.
    Neither role owns anything, so neither can disable or replace the triggers; the writer
    has no UPDATE, DELETE or TRUNCATE privilege on the log's tables, so the server refuses
    those before the triggers are even asked, and what it may INSERT the triggers check.
    Its one UPDATE privilege is on the lock table, which `SELECT ... FOR UPDATE` needs (an
    actual UPDATE of it is refused by its trigger); the reader has none, so it cannot take
    the writers' lock.
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
        self.find = f"SELECT {_COLUMNS} FROM {s}.events WHERE subject = %s AND seq >= 0"
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
        self.lock_table = f"{s}.{quote_ident(LOCK_TABLE)}"
        # The writers' queue: the lock row, FOR UPDATE (UPDATE privilege: writers only).
        self.lock_wait = f"SELECT 1 FROM {self.lock_table} FOR UPDATE"
        self.lock_nowait = self.lock_wait + " NOWAIT"
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


