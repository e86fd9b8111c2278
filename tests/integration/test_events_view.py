"""The events_json view (SQLite schema version 3, issue 14): the log readable with sqlite-utils,
Datasette or the sqlite3 shell, each event's JSON as TEXT beside its columns; old logs come over
with `auditlog migrate`, and verify reports a view that is not as auditlog created it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from . import cli_support as s

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _log(tmp_path: Path) -> Path:
    db = tmp_path / "evals.db"
    s.ok("append", "run", s.write_json(tmp_path / "a.json", s.run_doc("run-a")), "--log", db)
    s.ok("append", "run", s.write_json(tmp_path / "b.json", s.run_doc("run-b", seed=1)), "--log", db)
    return db


def _view_rows(db: Path) -> list[dict]:
    """What a user of sqlite-utils sees: its real command, JSON out."""
    done = subprocess.run([sys.executable, "-m", "sqlite_utils", "query", str(db),
                           "select seq, ts, type, project, subject, hash, prev, actor, data, event, "
                           "typeof(event) as kind from events_json order by seq"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_view_shows_each_event_as_json_text_with_its_columns(tmp_path: Path) -> None:
    db = _log(tmp_path)
    rows = _view_rows(db)
    events = [json.loads(line) for line in s.ok("events", "--log", db).out.splitlines()]
    assert [r["seq"] for r in rows] == [e["seq"] for e in events] == [0, 1, 2]
    for row, printed in zip(rows, events):
        assert row["kind"] == "text"  # not a BLOB (which Datasette would show as base64)
        event = json.loads(row["event"])
        assert event == printed["event"] and row["hash"] == printed["hash"]
        assert (row["ts"], row["type"], row["project"], row["subject"], row["prev"]) == \
               (event["ts"], event["type"], event["project"], event["subject"], event["prev"])
        assert json.loads(row["actor"]) == event["actor"] and json.loads(row["data"]) == event["data"]
    assert rows[1]["subject"] == "run-a" and rows[2]["prev"] == rows[1]["hash"]
    # The event column is the exact bytes that were hashed, as text.
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM events JOIN events_json USING (seq) "
                        "WHERE CAST(events.body AS TEXT) IS NOT events_json.event").fetchone()[0] == 0
    conn.close()
    s.ok("verify", "--log", db)


def test_migrate_brings_a_release_0_1_log_over_to_the_view(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copy(FIXTURES / "release-0.1.0.sqlite", old)
    s.one_line_error(s.cli("events", "--log", old), 4, "auditlog migrate")
    assert s.ok("migrate", "--log", old).out.strip() == "applied: 0002_domains, 0003_events_json"
    rows = _view_rows(old)
    assert len(rows) == 61 and all(r["kind"] == "text" for r in rows)
    assert json.loads(rows[0]["event"])["type"] == "log.created"
    s.ok("verify", "--log", old)
    assert s.ok("migrate", "--log", old).out.strip() == "schema is up to date"


def test_migrate_brings_a_version_2_log_over(tmp_path: Path) -> None:
    db = _log(tmp_path)
    conn = sqlite3.connect(db, isolation_level=None)  # the log as schema version 2 left it
    conn.execute("DROP VIEW events_json")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0003_events_json'")
    conn.execute("PRAGMA user_version = 2")
    before = conn.execute("SELECT seq, hash, body FROM events ORDER BY seq").fetchall()
    conn.close()
    s.one_line_error(s.cli("history", "--log", db), 4, "schema version 2", "auditlog migrate")
    assert s.ok("migrate", "--log", db).out.strip() == "applied: 0003_events_json"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT seq, hash, body FROM events ORDER BY seq").fetchall() == before
    conn.close()
    assert [r["seq"] for r in _view_rows(db)] == [0, 1, 2]
    s.ok("verify", "--log", db)


def test_verify_reports_a_view_that_is_not_as_auditlog_made_it(tmp_path: Path) -> None:
    db = _log(tmp_path)
    conn = sqlite3.connect(db, isolation_level=None)  # a view that hides a run from its readers
    conn.execute("DROP VIEW events_json")
    conn.execute("CREATE VIEW events_json AS SELECT seq, ts, type, project, subject, hash, NULL AS prev, "
                 "NULL AS actor, NULL AS data, CAST(body AS TEXT) AS event FROM events WHERE subject != 'run-b'")
    conn.close()
    done = s.cli("verify", "--log", db)
    assert done.code == 1 and "view events_json is not as auditlog created it" in done.out, str(done)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP VIEW events_json")
    conn.close()
    done = s.cli("verify", "--log", db)
    assert done.code == 1 and "view events_json is missing" in done.out, str(done)
