"""Tampering with a PostgreSQL log behind the library's back (a superuser, triggers disabled):
`auditlog verify` names the first bad seq and the same problems it names for the same
tampering of the same log in SQLite."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.events import Event, parse_event, seal
from auditlog.services.copy import copy_log
from auditlog.services.keys import generate_key, load_signer

from . import pg_support as s

SIZE = 40
Execute = Callable[[str, tuple], list]  # SQL with %s placeholders -> rows


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 events (two stored Merkle subtrees of 16) and a checkpoint kept at size 40."""
    d = tmp_path_factory.mktemp("pg_tamper")
    key, _ = generate_key("ci.example.org", d / "ci.key")
    with AuditLog.open(d / "template.db", origin="example.org/tamper") as log:
        with log.writer() as w:
            for i in range(SIZE - 1):
                w.record_run(s.run_doc(f"run-{i}", ("mmlu-pro", "gsm8k", "arc")[i % 3], seed=i))
        log.checkpoint(load_signer(key))
    return d / "template.db"


def _flip_a_byte(run: Execute) -> None:
    body = bytes(run("SELECT body FROM events WHERE seq = 6", ())[0][0])
    at = body.index(b'"model_id":"') + len(b'"model_id":"')
    run("UPDATE events SET body = %s WHERE seq = 6", (body[:at] + bytes([body[at] ^ 1]) + body[at + 1:],))


def _forge_a_link(run: Execute) -> None:
    seq, ts, type_, project, subject, body = run("SELECT seq, ts, type, project, subject, body FROM events "
                                                 "WHERE seq = 9", ())[0]
    original = parse_event(bytes(body))
    forged = seal(Event(9, ts, type_, project, subject, original.actor, original.data,
                        hashlib.sha256(b"not the previous event").hexdigest()))
    run("UPDATE events SET hash = %s, body = %s WHERE seq = 9", (forged.hash, forged.body))


TAMPERING: dict[str, tuple[Callable[[Execute], None], int, str]] = {
    "bytes": (_flip_a_byte, 6, "bytes-altered"),
    "hash": (lambda run: run("UPDATE events SET hash = %s WHERE seq = 7", ("0" * 64,)), 7, "hash-altered"),
    "delete": (lambda run: run("DELETE FROM events WHERE seq = 12", ()), 12, "gap"),
    "link": (_forge_a_link, 9, "link-broken"),
    "column": (lambda run: run("UPDATE events SET project = 'other' WHERE seq = 4", ()), 4, "column-mismatch"),
    "subtree": (lambda run: run("DELETE FROM merkle WHERE level = 4 AND idx = 1", ()), 31, "merkle"),
    "truncate": (lambda run: run("DELETE FROM events WHERE seq >= 35", ()), 35, "truncated"),
}


def _sqlite_executor(conn: sqlite3.Connection) -> Execute:
    return lambda sql, args: conn.execute(sql.replace("%s", "?"), args).fetchall()


def _pg_executor(admin, schema: str) -> Execute:  # noqa: ANN001
    def run(sql: str, args: tuple) -> list:
        for table in ("events", "merkle"):
            sql = sql.replace(f" {table}", f' "{schema}".{table}')
        cursor = admin.execute(sql, args)
        return cursor.fetchall() if cursor.description else []
    return run


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_verify_names_the_same_first_bad_seq_as_on_sqlite(pg_admin, pg_url, template, tmp_path, case) -> None:
    tamper, seq, kind = TAMPERING[case]
    db = tmp_path / "log.db"
    shutil.copy(template, db)
    copy_log(template, pg_url)

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        # Dropped for the tampering and made again after it, as the PostgreSQL side disables and
        # re-enables its triggers: the schema is as created, only the rows are not.
        names = ("events_no_update", "events_no_delete", "events_at_head", "merkle_no_delete")
        saved = conn.execute(f"SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN "
                             f"({', '.join('?' * len(names))})", names).fetchall()
        for trigger in names:
            conn.execute(f"DROP TRIGGER {trigger}")
        tamper(_sqlite_executor(conn))
        for (sql,) in saved:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()
    with s.tampering(pg_admin, pg_url, "events", "merkle"):
        tamper(_pg_executor(pg_admin, s.schema_of(pg_url)))

    reports = {}
    for name, location in (("sqlite", db), ("postgres", pg_url)):
        result = s.cli("verify", "--log", location, "-o", "json")
        assert result.code == 1 and "Traceback" not in result.err, str(result)
        reports[name] = result.json()
    first = reports["postgres"]["problems"][0]
    assert (reports["postgres"]["first_bad_seq"], first["seq"], first["kind"]) == (seq, seq, kind), reports
    for key in ("first_bad_seq", "problem_count", "problems", "size"):
        assert reports["postgres"][key] == reports["sqlite"][key], key

    # Nor does the tampered log copy anywhere: the copy verifies as it goes.
    refused = s.one_line_error(s.cli("copy", pg_url, tmp_path / "copy.db"), 1)
    assert f"seq {seq}: the source fails verification ({kind}" in refused, refused
    assert not (tmp_path / "copy.db").exists()
