"""What the catalog of a log's schema must hold, and the one query that reads it: `verify`
compares them (PostgresStore.schema_problems), so that an extra trigger, rule, policy or
function, a disabled trigger, a changed column or function source is reported, not trusted.
Plain data and SQL text: no driver here."""

from __future__ import annotations

from auditlog.store.postgres.functions import FUNCTIONS, REFUSE_CHANGE, ROW_TRIGGERS, SEARCH_PATH, function_sources
from auditlog.store.postgres.schema import CONSTRAINTS, LOCK_TABLE, QUEUE_TABLE, TABLES, VERSION_TABLE, quote_ident

# Definitions as PostgreSQL prints them, schema qualifications taken out ({s}. is removed from
# what the server prints before comparing). Functions are compared by their exact source.
_INDEXES = {
    "events_pkey": "CREATE UNIQUE INDEX events_pkey ON events USING btree (seq)",
    "events_by_project": "CREATE INDEX events_by_project ON events USING btree (project, type)",
    "events_by_subject": "CREATE INDEX events_by_subject ON events USING btree (subject, type)",
    "events_by_type": "CREATE INDEX events_by_type ON events USING btree (type)",
    "meta_pkey": "CREATE UNIQUE INDEX meta_pkey ON meta USING btree (key)",
    "merkle_pkey": "CREATE UNIQUE INDEX merkle_pkey ON merkle USING btree (level, idx)",
    "checkpoints_pkey": "CREATE UNIQUE INDEX checkpoints_pkey ON checkpoints USING btree (id)",
    "checkpoints_by_size": "CREATE INDEX checkpoints_by_size ON checkpoints USING btree (size)",
    "auditlog_schema_pkey": "CREATE UNIQUE INDEX auditlog_schema_pkey ON auditlog_schema USING btree (version)",
    "auditlog_writer_lock_pkey": "CREATE UNIQUE INDEX auditlog_writer_lock_pkey ON auditlog_writer_lock "
                                 "USING btree (id)",
    "auditlog_queue_pkey": "CREATE UNIQUE INDEX auditlog_queue_pkey ON auditlog_queue USING btree (id)",
}


_COLUMN_TYPES = {
    "events": [("seq", "bigint"), ("hash", "text"), ("ts", "text"), ("type", "text"), ("project", "text"),
               ("subject", "text"), ("body", "bytea")],
    "meta": [("key", "text"), ("value", "text")],
    "merkle": [("level", "integer"), ("idx", "bigint"), ("hash", "bytea")],
    "checkpoints": [("id", "bigint identity always"), ("size", "bigint"), ("root", "text"), ("note", "text"),
                    ("created", "text")],
    VERSION_TABLE: [("version", "integer"), ("applied", "timestamp with time zone default now()")],
    LOCK_TABLE: [("id", "integer")],
    QUEUE_TABLE: [("id", "bigint identity always"), ("queued", "timestamp with time zone default now()"),
                  ("project", "text"), ("subject", "text"), ("document_sha256", "text"), ("actor", "bytea"),
                  ("data", "bytea"), ("seq", "bigint null"), ("hash", "text null"), ("new", "boolean null"),
                  ("refused", "text null")],
}


_PRIMARY_KEYS = {"events": "seq", "meta": "key", "merkle": "level, idx", "checkpoints": "id",
                 VERSION_TABLE: "version", LOCK_TABLE: "id", QUEUE_TABLE: "id"}


_FUNCTION_HEADER = {"auditlog_refuse_change()": "trigger plpgsql volatile invoker config=-"}


for _name, (_args, _returns, _) in FUNCTIONS.items():
    _FUNCTION_HEADER[f"{_name}({_args})"] = f"{_returns} plpgsql volatile invoker config=search_path={SEARCH_PATH}"


def expected_catalog(schema: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> definition, as `CATALOG` reads them for a log made by create_script."""
    s = quote_ident(schema)
    expected: dict[tuple[str, str], str] = {}
    for table, columns in _COLUMN_TYPES.items():
        expected[("table", table)] = "ordinary table, row security off, not forced"
        for position, (column, kind) in enumerate(columns, 1):
            expected[("column", f"{table}.{column}")] = (f"{position} {kind}" if kind.endswith(" null")
                                                         else f"{position} {kind} not null")
        expected[("constraint", f"{table}.{table}_pkey")] = f"PRIMARY KEY ({_PRIMARY_KEYS[table]})"
    expected[("constraint", f"{LOCK_TABLE}.{LOCK_TABLE}_one_row")] = "CHECK ((id = 1))"
    for (table, name), definition in CONSTRAINTS.items():
        expected[("constraint", f"{table}.{name}")] = definition
    expected[("sequence", "checkpoints_id_seq")] = "sequence"
    expected[("sequence", f"{QUEUE_TABLE}_id_seq")] = "sequence"
    for name, definition in _INDEXES.items():
        expected[("index", name)] = definition
    for table in TABLES:
        expected[("trigger", f"{table}.{table}_append_only")] = (
            f"CREATE TRIGGER {table}_append_only BEFORE DELETE OR UPDATE OR TRUNCATE ON {table} FOR EACH STATEMENT "
            "EXECUTE FUNCTION auditlog_refuse_change() (enabled)")
    for trigger, (table, function) in ROW_TRIGGERS.items():
        expected[("trigger", f"{table}.{trigger}")] = (
            f"CREATE TRIGGER {trigger} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {function}() (enabled)")
    sources = {"auditlog_refuse_change()": REFUSE_CHANGE}
    sources.update({f"{name}({FUNCTIONS[name][0]})": body for name, body in function_sources(s).items()})
    for name, header in _FUNCTION_HEADER.items():
        expected[("function", name)] = header + "\n" + sources[name]
    return expected


_KIND_NAMES = {"table": "table", "column": "column", "constraint": "constraint", "sequence": "sequence",
               "index": "index", "trigger": "trigger", "function": "function", "view": "view",
               "materialized view": "materialized view", "foreign table": "foreign table", "rule": "rule",
               "policy": "row-level security policy", "type": "type", "operator": "operator", "relation": "relation"}


def compare_catalog(schema: str, quoted: str, found_rows: list[tuple[str, str, str]]) -> list[str]:
    """One sentence per object extra, missing or not as created (`quoted`: the server's quote_ident)."""
    found: dict[tuple[str, str], str] = {}
    for kind, name, definition in found_rows:
        if kind in ("index", "trigger", "rule", "policy"):
            definition = definition.replace(quoted + ".", "")
        found[(kind, name)] = definition
    expected = expected_catalog(schema)
    problems = []
    for key in sorted(expected.keys() | found.keys()):
        kind, name = key
        what = _KIND_NAMES.get(kind, kind)
        if key not in found:
            problems.append(f"the {what} {name} is missing from the log's schema")
        elif key not in expected:
            problems.append(f"an extra {what} {name} is in the log's schema (auditlog made none such: it may hide, "
                            f"drop or change rows): {found[key].splitlines()[0][:200]}")
        elif found[key] != expected[key]:
            got = found[key]
            if kind == "trigger" and got.replace("(disabled)", "(enabled)") == expected[key]:
                problems.append(f"the trigger {name} is disabled: what it refuses is let through")
            elif kind == "table" and got != expected[key]:
                problems.append(f"the table {name} is not as auditlog created it ({got})")
            else:
                problems.append(f"the {what} {name} is not as auditlog created it")
    return problems


# Every object in the schema, as (kind, name, definition): one round trip. %(schema)s is the
# schema's name. The first row is the server's quote_ident of it (what its definitions print).
CATALOG = """
WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %(schema)s)
SELECT 'quoted', pg_catalog.quote_ident(%(schema)s), ''
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
           WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
           WHEN 'c' THEN 'type' ELSE 'relation' END,
       c.relname,
       CASE WHEN c.relkind IN ('r', 'p') THEN
           CASE c.relkind WHEN 'r' THEN 'ordinary table' ELSE 'partitioned table' END
           || CASE WHEN c.relrowsecurity THEN ', row security on' ELSE ', row security off' END
           || CASE WHEN c.relforcerowsecurity THEN ', forced' ELSE ', not forced' END
           || CASE WHEN c.relispartition THEN ', a partition' ELSE '' END
       WHEN c.relkind = 'S' THEN 'sequence' ELSE coalesce(pg_catalog.pg_get_viewdef(c.oid), '') END
FROM pg_catalog.pg_class c WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind NOT IN ('i', 'I', 't')
UNION ALL
SELECT 'column', c.relname || '.' || a.attname,
       a.attnum::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
       || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
       || coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', c.relname || '.' || k.conname, pg_catalog.pg_get_constraintdef(k.oid)
       || CASE WHEN k.convalidated THEN '' ELSE ' (not valid)' END
FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace = (SELECT oid FROM ns)
UNION ALL
SELECT 'index', c.relname, pg_catalog.pg_get_indexdef(c.oid)
       || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('i', 'I')
UNION ALL
SELECT 'trigger', c.relname || '.' || t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
       || CASE t.tgenabled WHEN 'D' THEN ' (disabled)' WHEN 'O' THEN ' (enabled)' WHEN 'R' THEN ' (replica only)'
              ELSE ' (always)' END
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = (SELECT oid FROM ns) AND NOT t.tgisinternal
UNION ALL
SELECT 'function', p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       pg_catalog.format_type(p.prorettype, NULL) || ' ' || l.lanname
       || CASE p.provolatile WHEN 'v' THEN ' volatile' WHEN 's' THEN ' stable' ELSE ' immutable' END
       || CASE WHEN p.prosecdef THEN ' definer' ELSE ' invoker' END
       || ' config=' || coalesce(pg_catalog.array_to_string(p.proconfig, ';'), '-')
       || E'\\n' || coalesce(p.prosrc, '')
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = (SELECT oid FROM ns)
UNION ALL
SELECT 'rule', c.relname || '.' || r.rulename, pg_catalog.pg_get_ruledef(r.oid)
FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
WHERE c.relnamespace = (SELECT oid FROM ns) AND NOT (r.rulename = '_RETURN' AND c.relkind IN ('v', 'm'))
UNION ALL
SELECT 'policy', c.relname || '.' || p.polname,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
           ELSE 'ALL' END || coalesce(' USING ' || pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
WHERE c.relnamespace = (SELECT oid FROM ns)
UNION ALL
SELECT 'type', t.typname, t.typtype::text FROM pg_catalog.pg_type t
WHERE t.typnamespace = (SELECT oid FROM ns) AND (t.typtype IN ('d', 'e', 'r', 'm') OR (t.typtype = 'b' AND t.typelem = 0))
UNION ALL
SELECT 'operator', o.oprname || '(' || pg_catalog.format_type(o.oprleft, NULL) || ', '
       || pg_catalog.format_type(o.oprright, NULL) || ')', ''
FROM pg_catalog.pg_operator o WHERE o.oprnamespace = (SELECT oid FROM ns)
"""
