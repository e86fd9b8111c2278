"""The PL/pgSQL behind version 2's row triggers, as SQL text: what keeps every insert inside the chain's domain.

`schema.create_script` (and the migration from version 1) creates these functions and
triggers; `catalog.expected_catalog` holds the schema to exactly these sources. `{s}` in a
body is the quoted schema name, written in by `function_sources`.
"""

from __future__ import annotations

# Statement-level: every table refuses UPDATE, DELETE and TRUNCATE (version 1 already).
REFUSE_CHANGE = """
BEGIN
    RAISE EXCEPTION 'auditlog: % is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END """

# Version 2's functions: (arguments, result, body). Every table is named with its schema, and
# search_path is pinned to pg_catalog, so no object a role makes elsewhere (a `sha256` of its
# own in public) is ever called instead of the built-in. They run with the inserting role's
# rights (SELECT on the tables is all they need) and belong to the tables' owner: a writer
# can neither replace nor drop them.
SEARCH_PATH = "pg_catalog, pg_temp"
FUNCTIONS: dict[str, tuple[str, str, str]] = {
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
ROW_TRIGGERS = {  # trigger -> (table, function)
    "events_at_head": ("events", "auditlog_check_event"),
    "merkle_in_tree": ("merkle", "auditlog_check_node"),
    "checkpoints_in_tree": ("checkpoints", "auditlog_check_checkpoint"),
}


def function_sources(s: str) -> dict[str, str]:
    """Each function's body with the quoted schema `s` written in."""
    return {name: body.replace("{s}", s) for name, (_, _, body) in FUNCTIONS.items()}
