"""`auditlog migrate` of a PostgreSQL log made by the previous release (schema version 1): version 2's
constraints, triggers and lock table are added in one transaction, and the log keeps its event bytes,
hashes, Merkle rows, checkpoints and root."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlog.core.merkle import leaf_hash, root_from_leaf_hashes
from auditlog.errors import StorageError
from auditlog.services.log import AuditLog
from auditlog.store import migrate as migrate_postgres
from auditlog.store.postgres.store import PostgresStore

from . import pg_support as s

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V1_SCHEMA = FIXTURES / "pg_schema_v1.sql"  # create_script of release 0.1.0, saved before version 2
RELEASE_LOG = FIXTURES / "release-0.1.0.sqlite"  # a log release 0.1.0 made (SQLite, schema version 1)


def _release_log() -> dict[str, list]:
    conn = sqlite3.connect(f"file:{RELEASE_LOG}?mode=ro&immutable=1", uri=True)  # the fixture stays as it is, no -shm
    try:
        return {"events": conn.execute("SELECT seq, hash, ts, type, project, subject, body FROM events "
                                       "ORDER BY seq").fetchall(),
                "merkle": conn.execute("SELECT level, idx, hash FROM merkle").fetchall(),
                "checkpoints": conn.execute("SELECT size, root, note, created FROM checkpoints ORDER BY id").fetchall(),
                "meta": conn.execute("SELECT key, value FROM meta").fetchall()}
    finally:
        conn.close()


def _version_1_log(admin, url: str, extra: str = "") -> dict[str, list]:  # noqa: ANN001
    """A schema exactly as release 0.1.0 made it, holding the release's log, as its writers left it."""
    schema = s.schema_of(url)
    q = f'"{schema}"'
    log = _release_log()
    with admin.transaction():
        admin.execute(f"CREATE SCHEMA {q}")
        admin.execute(V1_SCHEMA.read_text().replace('"SCHEMA_PLACEHOLDER"', q))
        with admin.cursor() as cur:
            cur.executemany(f"INSERT INTO {q}.events VALUES (%s, %s, %s, %s, %s, %s, %s)", log["events"])
            cur.executemany(f"INSERT INTO {q}.merkle VALUES (%s, %s, %s)", log["merkle"])
            cur.executemany(f"INSERT INTO {q}.meta VALUES (%s, %s)", log["meta"])
            cur.executemany(f"INSERT INTO {q}.checkpoints (size, root, note, created) VALUES (%s, %s, %s, %s)",
                            log["checkpoints"])
        if extra:
            admin.execute(extra.format(s=q))
    return log


def test_a_version_1_log_migrates_with_the_same_bytes_hashes_and_root(pg_admin, pg_url) -> None:
    log = _version_1_log(pg_admin, pg_url)
    with pytest.raises(StorageError, match="schema version 1, this auditlog needs 3: .*auditlog migrate"):
        PostgresStore(pg_url)

    done = s.cli("migrate", "--log", pg_url)  # the command users run
    assert done.code == 0 and done.out.strip() == "applied: 0002_domains, 0003_queue", str(done)
    assert migrate_postgres(pg_url) == []  # up to date: nothing more to do

    rows = log["events"]
    with AuditLog(PostgresStore(pg_url)) as migrated:
        report = migrated.verify()
        assert report.ok, report.problems
        assert report.size == len(rows) == 61 and report.head == rows[-1][1]
        assert report.root == root_from_leaf_hashes(leaf_hash(r[6]) for r in rows).hex()
        assert report.root == log["checkpoints"][-1][1]  # the release's own checkpoint at 61
        assert [tuple(r) for r in migrated.store.rows()] == [tuple(r) for r in rows]  # the same bytes
        assert migrated.store.schema_problems() == []  # the same catalog as a log made by version 2
        assert len(migrated.store.checkpoints()) == 2
        # and it goes on as a version 2 log: an append, its Merkle rows and a checkpoint pass the triggers
        migrated.record_run(s.run_doc("after-migration"))
        assert migrated.verify().ok
    schema = s.schema_of(pg_url)
    assert pg_admin.execute(f'SELECT version FROM "{schema}".auditlog_schema ORDER BY version').fetchall() == [(1,), (2,), (3,)]


def test_a_version_1_log_holding_a_planted_row_is_not_migrated(pg_admin, pg_url) -> None:
    # The attack on version 1: a writer's forged copy of a run at seq -1.
    _version_1_log(pg_admin, pg_url, extra="INSERT INTO {s}.events SELECT -1, hash, ts, type, project, subject, body "
                                           "FROM {s}.events WHERE seq = 5")
    with pytest.raises(StorageError, match=r"1 events rows at a negative seq.*owner must remove them") as caught:
        migrate_postgres(pg_url)
    assert "\n" not in str(caught.value)
    schema = s.schema_of(pg_url)
    assert pg_admin.execute(f'SELECT max(version) FROM "{schema}".auditlog_schema').fetchone() == (1,)  # nothing done


def test_migrate_needs_the_tables_owner(pg_admin, pg_url) -> None:
    _version_1_log(pg_admin, pg_url)
    role = f"auditlog_m_{s.schema_of(pg_url)[-8:]}"
    pg_admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        pg_admin.execute(f'GRANT USAGE ON SCHEMA "{s.schema_of(pg_url)}" TO "{role}"; '
                         f'GRANT SELECT ON ALL TABLES IN SCHEMA "{s.schema_of(pg_url)}" TO "{role}"')
        with pytest.raises(StorageError, match="run it as the owner of the log's tables"):
            migrate_postgres(s.as_role(pg_url, role))
    finally:
        pg_admin.execute(f'DROP SCHEMA IF EXISTS "{s.schema_of(pg_url)}" CASCADE; DROP OWNED BY "{role}"; '
                         f'DROP ROLE "{role}"')


def test_a_version_2_log_gets_the_writers_queue(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        first = log.record_run(s.run_doc("before"))
    q = f'"{s.schema_of(pg_url)}"'
    with pg_admin.transaction():  # the log as version 2 made it: no queue, no version 3
        pg_admin.execute(f"DROP TABLE {q}.auditlog_queue; ALTER TABLE {q}.auditlog_schema DISABLE TRIGGER ALL; "
                         f"DELETE FROM {q}.auditlog_schema WHERE version = 3; "
                         f"ALTER TABLE {q}.auditlog_schema ENABLE TRIGGER ALL")
    with pytest.raises(StorageError, match="schema version 2, this auditlog needs 3: .*auditlog migrate"):
        PostgresStore(pg_url)
    done = s.cli("migrate", "--log", pg_url)
    assert done.code == 0 and done.out.strip() == "applied: 0003_queue", str(done)
    with AuditLog(PostgresStore(pg_url)) as migrated:
        assert migrated.store.schema_problems() == []
        assert migrated.event(first.seq).hash == first.hash
        assert migrated.record_run(s.run_doc("after")).seq == first.seq + 1  # group sealing, on the new queue
        assert migrated.verify().ok
