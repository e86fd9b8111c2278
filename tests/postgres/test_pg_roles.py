"""`auditlog db setup-roles`: the writer can append but never UPDATE, DELETE or TRUNCATE (the
server refuses), the reader can verify but not append. Checked against the real server."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from auditlog import AuditLog
from auditlog.services.keys import generate_key

from . import pg_support as s


@pytest.fixture
def roles(pg_admin, pg_url):
    """Fresh role names (roles are cluster-wide), dropped afterwards; a log owned by the superuser."""
    suffix = uuid.uuid4().hex[:8]
    writer, reader = f"auditlog_w_{suffix}", f"auditlog_r_{suffix}"
    with AuditLog.open(pg_url, origin="example.org/roles") as log:
        log.record_run(s.run_doc("by-owner"))
    yield writer, reader
    pg_admin.execute(f'DROP SCHEMA IF EXISTS "{s.schema_of(pg_url)}" CASCADE')
    for role in (writer, reader):
        pg_admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE IF EXISTS "{role}"')


def test_print_then_run_the_script_as_the_owner(pg_admin, pg_url, roles, tmp_path: Path) -> None:
    writer, reader = roles
    script = s.ok("db", "setup-roles", "--print", "--log", pg_url, "--writer-role", writer,
                  "--reader-role", reader).out
    assert f'GRANT INSERT ON "{s.schema_of(pg_url)}".events' in script
    grants = [line for line in script.splitlines() if line.startswith("GRANT")]
    # The writer's UPDATEs are on the lock table (SELECT ... FOR UPDATE needs it) and on the writers' queue
    # (not part of the log: group sealing writes each queued run's outcome there), nowhere else.
    assert [g for g in grants if "UPDATE" in g] == [
        f'GRANT UPDATE ON "{s.schema_of(pg_url)}".auditlog_writer_lock TO "{writer}";',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{s.schema_of(pg_url)}".auditlog_queue TO "{writer}";']
    pg_admin.execute(script)
    applied = s.ok("db", "setup-roles", "--log", pg_url, "--writer-role", writer, "--reader-role", reader)
    assert "set up" in applied.out  # running it again (directly this time) changes nothing

    # The writer appends through auditlog, checkpoints included.
    writer_url, reader_url = s.as_role(pg_url, writer), s.as_role(pg_url, reader)
    s.ok("append", "run", s.write_json(tmp_path / "w.json", s.run_doc("by-writer")), "--log", writer_url)
    key, vkey = generate_key("ci.example.org", tmp_path / "ci.key")
    s.ok("checkpoint", "--log", writer_url, "--key", key)

    # ... and the server refuses it anything else, whatever the triggers.
    schema = s.schema_of(pg_url)
    with psycopg.connect(writer_url.split("?")[0], autocommit=True) as conn:
        for sql in ("UPDATE {s}.events SET project = 'x'", "DELETE FROM {s}.events", "TRUNCATE {s}.events",
                    "DELETE FROM {s}.merkle", "UPDATE {s}.meta SET value = 'x'", "DELETE FROM {s}.checkpoints",
                    "ALTER TABLE {s}.events DISABLE TRIGGER ALL", "INSERT INTO {s}.meta VALUES ('k', 'v')",
                    "CREATE TABLE {s}.mine (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.format(s=f'"{schema}"'))

    # The reader verifies (the writer's checkpoint too) but cannot append.
    out = s.ok("verify", "--log", reader_url, "--checkpoint", _saved_note(pg_url, tmp_path), "--vkey", vkey).out
    assert out.startswith("ok: 3 events")
    line = s.one_line_error(s.cli("append", "run", s.write_json(tmp_path / "r.json", s.run_doc("by-reader")),
                                  "--log", reader_url), 4)
    assert "permission denied" in line, line
    with psycopg.connect(reader_url.split("?")[0], autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'INSERT INTO "{schema}".merkle VALUES (9, 9, \'\\x00\')')
    with AuditLog.open(pg_url, create=False) as log:
        assert log.head().size == 3 and log.verify().ok


def _saved_note(url: str, tmp_path: Path) -> Path:
    with AuditLog.open(url, create=False) as log:
        note = log.store.checkpoints()[-1].note
    (tmp_path / "cp.txt").write_text(note)
    return tmp_path / "cp.txt"


def test_print_needs_no_server_and_checks_its_names() -> None:
    script = s.ok("db", "setup-roles", "--print", "--log", "evals.db", "--schema", "ci").out
    assert '"ci".events' in script and '"auditlog_writer"' in script and '"auditlog_reader"' in script
    assert s.one_line_error(s.cli("db", "setup-roles", "--print", "--writer-role", "x", "--reader-role", "x"), 2)
    assert s.one_line_error(s.cli("db", "setup-roles", "--log", "evals.db"), 2)
