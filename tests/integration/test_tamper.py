"""Tampering behind the library's back: `auditlog verify` names the first bad seq and why.

A template log of 12 events is built once; each test copies it, edits the SQLite
file directly with sqlite3 (dropping the append-only triggers first), and runs the
real `auditlog verify` in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from auditlog.core.events import Event, parse_event, seal
from tests.tampering import as_holder

from . import cli_support as s

SIZE = 12
COLUMNS = "seq, hash, ts, type, project, subject, body"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from auditlog import AuditLog

    db = tmp_path_factory.mktemp("tamper") / "template.db"
    with AuditLog.open(db, origin="example.org/tamper") as log:
        with log.writer() as w:
            for i in range(8):
                w.record_run(s.run_doc(f"run-{i}", project=("mmlu-pro", "gsm8k", "arc")[i % 3], seed=i))
        log.record_verdict(s.verdict_doc("run-3", "run-0"))
        log.annotate("run-4", tags={"reviewed": "yes"})
        log.supersede("run-1", "run-4", "rerun")
        assert log.head().size == SIZE
    assert not Path(f"{db}-wal").exists(), "the template is one self-contained file"
    return db


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "log.db"
    shutil.copy(template, copy)
    return copy


@contextmanager
def tampering(db: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection with auditlog's triggers dropped (put back on exit, as an attacker would), committed on exit."""
    with as_holder(db) as conn:
        yield conn


def row(conn: sqlite3.Connection, seq: int) -> tuple:
    return conn.execute(f"SELECT {COLUMNS} FROM events WHERE seq = ?", (seq,)).fetchone()


def put(conn: sqlite3.Connection, values: tuple) -> None:
    """Overwrite the row at values[0] with all of `values`."""
    conn.execute("UPDATE events SET hash=?, ts=?, type=?, project=?, subject=?, body=? WHERE seq=?",
                 (*values[1:], values[0]))


def verify(db: Path) -> tuple[s.Result, dict]:
    text = s.cli("verify", "--log", db)
    report = s.cli("verify", "--log", db, "--output", "json")
    assert "Traceback" not in text.err + report.err, str(text) + str(report)
    return text, report.json()


def assert_detected(db: Path, seq: int, kind: str, *, count: int | None = 1) -> dict:
    text, report = verify(db)
    assert text.code == 1, str(text)
    assert report["ok"] is False
    assert report["first_bad_seq"] == seq, json.dumps(report, indent=2)
    first = report["problems"][0]
    assert (first["seq"], first["kind"]) == (seq, kind), json.dumps(report, indent=2)
    if count is not None:
        assert report["problem_count"] == count, json.dumps(report, indent=2)
    assert len(report["problems"]) == report["problem_count"]
    assert text.out.splitlines()[0].startswith(f"seq {seq}: {kind}: "), text.out
    n = report["problem_count"]
    assert text.err.strip().splitlines()[-1] == f"{n} problem{'' if n == 1 else 's'}; first bad seq {seq}"
    return report


def test_template_verifies(template: Path) -> None:
    text, report = verify(template)
    assert text.code == 0 and report["ok"] and report["size"] == SIZE and report["problem_count"] == 0


def test_triggers_refuse_update_and_delete(db: Path) -> None:
    before = s.fingerprint(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for sql in ("UPDATE events SET project = 'x' WHERE seq = 3", "DELETE FROM events WHERE seq = 11",
                    "UPDATE events SET body = X'00'", "DELETE FROM events",
                    "UPDATE meta SET value = 'x' WHERE key = 'genesis_hash'", "DELETE FROM meta"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
    assert s.fingerprint(db) == before
    assert verify(db)[0].code == 0


def test_a_byte_of_a_body(db: Path) -> None:
    with tampering(db) as conn:
        seq, *rest, body = row(conn, 6)
        at = body.index(b'"model_id":"') + len(b'"model_id":"')
        flipped = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]
        assert len(flipped) == len(body) and flipped != body
        conn.execute("UPDATE events SET body = ? WHERE seq = 6", (flipped,))
    report = assert_detected(db, 6, "bytes-altered")
    assert report["size"] == SIZE


def test_a_byte_of_the_last_body(db: Path) -> None:
    """No next event to tell bytes from hash: still detected, at the right seq."""
    with tampering(db) as conn:
        body = row(conn, SIZE - 1)[-1]
        conn.execute("UPDATE events SET body = ? WHERE seq = ?", (body.replace(b"rerun", b"rerum"), SIZE - 1))
    assert_detected(db, SIZE - 1, "hash-mismatch")


def test_a_stored_hash(db: Path) -> None:
    with tampering(db) as conn:
        stored = row(conn, 7)[1]
        forged = hashlib.sha256(b"something else").hexdigest()
        assert forged != stored
        conn.execute("UPDATE events SET hash = ? WHERE seq = 7", (forged,))
    assert_detected(db, 7, "hash-altered")


def test_delete_a_middle_event(db: Path) -> None:
    with tampering(db) as conn:
        conn.execute("DELETE FROM events WHERE seq = 6")
    report = assert_detected(db, 6, "gap")
    assert "seq 6 missing" in report["problems"][0]["detail"]


def test_delete_a_run_of_events(db: Path) -> None:
    with tampering(db) as conn:
        conn.execute("DELETE FROM events WHERE seq BETWEEN 4 AND 7")
    report = assert_detected(db, 4, "gap")
    assert "seqs 4..7 missing" in report["problems"][0]["detail"]


def test_swap_two_events(db: Path) -> None:
    with tampering(db) as conn:
        five, six = row(conn, 5), row(conn, 6)
        put(conn, (5, *six[1:]))
        put(conn, (6, *five[1:]))
    report = assert_detected(db, 5, "misplaced", count=None)
    assert report["problems"][1]["seq"] == 6 and report["problems"][1]["kind"] == "misplaced"


def test_forged_event_with_recomputed_hash_but_wrong_link(db: Path) -> None:
    with tampering(db) as conn:
        seq, _hash, ts, type_, project, subject, body = row(conn, 6)
        original = parse_event(body)
        run = dict(original.data["run"], metrics={"accuracy": 0.99, "n": 4})
        wrong_prev = hashlib.sha256(b"not the previous event").hexdigest()
        forged = seal(Event(6, ts, type_, project, subject, original.actor,
                            dict(original.data, run=run), wrong_prev))
        assert forged.hash == hashlib.sha256(forged.body).hexdigest()
        put(conn, (6, forged.hash, ts, type_, project, subject, forged.body))
    report = assert_detected(db, 6, "link-broken", count=2)
    assert wrong_prev in report["problems"][0]["detail"]
    # both links around the forgery break: seq 7 still names the hash of the event that was replaced
    assert (report["problems"][1]["seq"], report["problems"][1]["kind"]) == (7, "link-broken")


def test_forged_event_that_links_but_breaks_the_next_link(db: Path) -> None:
    """A forged event with the right prev and hash: the next event no longer links to it."""
    with tampering(db) as conn:
        seq, _hash, ts, type_, project, subject, body = row(conn, 6)
        original = parse_event(body)
        run = dict(original.data["run"], metrics={"accuracy": 0.99, "n": 4})
        forged = seal(Event(6, ts, type_, project, subject, original.actor, dict(original.data, run=run),
                            original.prev))
        put(conn, (6, forged.hash, ts, type_, project, subject, forged.body))
    assert_detected(db, 7, "link-broken")


def test_replace_the_genesis(db: Path) -> None:
    with tampering(db) as conn:
        seq, _hash, ts, type_, project, subject, body = row(conn, 0)
        genesis = parse_event(body)
        data = dict(genesis.data, log_id="f" * 32)
        replaced = seal(Event(0, ts, type_, project, subject, genesis.actor, data, genesis.prev))
        put(conn, (0, replaced.hash, ts, type_, project, subject, replaced.body))
    report = assert_detected(db, 0, "genesis")
    assert replaced.hash in report["problems"][0]["detail"]


def test_replace_the_genesis_and_what_is_recorded_beside_it(db: Path) -> None:
    """An attacker who also rewrites the meta table: seq 1 no longer links to seq 0."""
    with tampering(db) as conn:
        seq, _hash, ts, type_, project, subject, body = row(conn, 0)
        genesis = parse_event(body)
        data = dict(genesis.data, log_id="f" * 32)
        replaced = seal(Event(0, ts, type_, project, subject, genesis.actor, data, genesis.prev))
        put(conn, (0, replaced.hash, ts, type_, project, subject, replaced.body))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'genesis_hash'", (replaced.hash,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'log_id'", ("f" * 32,))
    text, report = verify(db)
    assert text.code == 1 and not report["ok"]
    assert report["first_bad_seq"] in (0, 1), json.dumps(report, indent=2)


def test_change_an_indexed_column(db: Path) -> None:
    with tampering(db) as conn:
        assert row(conn, 4)[4] == "mmlu-pro"
        conn.execute("UPDATE events SET project = 'gsm8k' WHERE seq = 4")
    report = assert_detected(db, 4, "column-mismatch")
    assert "project" in report["problems"][0]["detail"]


@pytest.mark.parametrize("column", ["ts", "type", "subject"])
def test_change_other_indexed_columns(db: Path, column: str) -> None:
    value = {"ts": "2020-01-01T00:00:00.000000Z", "type": "run.annotated", "subject": "run-7"}[column]
    with tampering(db) as conn:
        conn.execute(f"UPDATE events SET {column} = ? WHERE seq = 5", (value,))
    report = assert_detected(db, 5, "column-mismatch")
    assert column in report["problems"][0]["detail"]


def test_forged_event_appended_at_the_end_is_not_detected_by_the_chain_alone(db: Path) -> None:
    """A forger with write access can extend the chain correctly: the hash chain alone cannot tell.

    That is what signed checkpoints are for: a checkpoint saved before the forgery
    pins the tree size and root. Here we document the limit of the chain by itself.
    """
    with tampering(db) as conn:
        last = row(conn, SIZE - 1)
        template = parse_event(row(conn, 2)[-1])
        forged = seal(Event(SIZE, "2030-01-01T00:00:00.000000Z", template.type, template.project, "forged-run",
                            template.actor, dict(template.data, run=dict(template.data["run"], run_id="forged-run")),
                            last[1]))
        conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (SIZE, forged.hash, forged.event.ts, forged.event.type, forged.event.project,
                      forged.event.subject, forged.body))
    text, report = verify(db)
    assert text.code == 0 and report["ok"], str(text)
    assert report["size"] == SIZE + 1 and report["head"] == forged.hash


def test_two_independent_tampers_are_both_counted(db: Path) -> None:
    with tampering(db) as conn:
        conn.execute("UPDATE events SET project = 'other' WHERE seq = 3")
        body = row(conn, 8)[-1]
        conn.execute("UPDATE events SET body = ? WHERE seq = 8", (body.replace(b'"nightly"', b'"nightlz"'),))
    report = assert_detected(db, 3, "column-mismatch", count=2)
    assert (report["problems"][1]["seq"], report["problems"][1]["kind"]) == (8, "bytes-altered")


def test_tamper_after_a_gap_is_still_counted(db: Path) -> None:
    with tampering(db) as conn:
        conn.execute("DELETE FROM events WHERE seq = 2")
        conn.execute("UPDATE events SET hash = ? WHERE seq = 9", ("0" * 64,))
    report = assert_detected(db, 2, "gap", count=2)
    assert (report["problems"][1]["seq"], report["problems"][1]["kind"]) == (9, "hash-altered")
