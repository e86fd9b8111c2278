"""`auditlog copy` between SQLite and PostgreSQL: same bytes, same hashes, same root, and
checkpoints signed on one verify against the other; a bad source or a full destination is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.services.keys import generate_key, load_signer
from auditlog.store.postgres.store import PostgresStore
from tests.tampering import as_holder

from . import pg_support as s

TABLES = {"events": "seq", "merkle": "level, idx", "meta": "key", "checkpoints": "id"}


@pytest.fixture
def sqlite_log(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A SQLite log of 44 events (Merkle subtrees stored) with a signed checkpoint kept in it
    and saved to cp.txt; returns (log, checkpoint file, verifier key file)."""
    db = tmp_path / "a.db"
    key, vkey = generate_key("ci.example.org", tmp_path / "ci.key")
    with AuditLog.open(db, origin="example.org/evals") as log:
        with log.writer() as w:
            for i in range(40):
                w.record_run(s.run_doc(f"run-{i}", ("mmlu-pro", "gsm8k")[i % 2], seed=i))
        (tmp_path / "cp.txt").write_text(log.checkpoint(load_signer(key)))
        log.annotate("run-3", tags={"reviewed": "yes"})
        log.supersede("run-1", "run-4", "rerun")
        log.annotate("run-5", note="late")
        assert log.head().size == 44
    return db, tmp_path / "cp.txt", vkey


def _sqlite_tables(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY {order}").fetchall() for t, order in TABLES.items()}


def test_sqlite_to_postgres_to_sqlite_is_byte_identical(pg_admin, pg_url, sqlite_log, tmp_path: Path) -> None:
    db, checkpoint, vkey = sqlite_log
    back = tmp_path / "b.db"

    there = s.ok("copy", db, pg_url, "-o", "json").json()
    again = s.ok("copy", pg_url, back, "-o", "json").json()

    assert there["size"] == again["size"] == 44 and there["checkpoints"] == again["checkpoints"] == 1
    original = _sqlite_tables(db)
    assert _sqlite_tables(back) == original  # events (bytes, hashes, columns), subtrees, meta, checkpoints
    assert len(original["merkle"]) == 3
    store = PostgresStore(pg_url, create=False)
    try:
        assert [tuple(r) for r in store.rows()] == original["events"]
        assert list(store.nodes()) == [tuple(n) for n in original["merkle"]]
        assert store.meta() == dict(original["meta"])
        assert [(c.id, c.size, c.root, c.note, c.created) for c in store.checkpoints()] == original["checkpoints"]
    finally:
        store.close()
    roots = set()
    for location in (db, pg_url, back):
        with AuditLog.open(location, create=False) as log:
            roots.add(log.root().hex())
    assert roots == {there["root"]} and there["root"] == again["root"]

    # The checkpoint signed on the SQLite log verifies against the PostgreSQL copy, and still
    # does once the copy has grown (it anchors a prefix of the tree).
    out = s.ok("verify", "--log", pg_url, "--checkpoint", checkpoint, "--vkey", vkey).out
    assert out.startswith("ok: 44 events") and "extends checkpoint" in out
    assert "3 events after size 41 are covered by no checkpoint from outside the log" in out  # the copy's own
    s.ok("append", "run", s.write_json(tmp_path / "more.json", s.run_doc("more")), "--log", pg_url)
    assert s.ok("verify", "--log", pg_url, "--checkpoint", checkpoint, "--vkey", vkey).out.startswith("ok: 45 events")


def test_a_source_that_fails_verification_is_not_copied(pg_admin, pg_url, sqlite_log, tmp_path: Path) -> None:
    db = sqlite_log[0]
    with as_holder(db) as conn:
        body = conn.execute("SELECT body FROM events WHERE seq = 5").fetchone()[0]
        conn.execute("UPDATE events SET body = ? WHERE seq = 5", (body.replace(b"acme-7b", b"acme-8b"),))
    new_file = tmp_path / "c.db"

    for destination in (pg_url, new_file):
        line = s.one_line_error(s.cli("copy", db, destination), 1)
        assert "seq 5" in line and "bytes-altered" in line and "nothing was copied" in line, line
    assert not new_file.exists(), "the copy left a file behind"
    store = PostgresStore(pg_url, create=False)
    try:
        assert store.head().size == 0 and store.meta() == {} and store.checkpoints() == []
    finally:
        store.close()


def test_a_destination_that_holds_a_log_is_refused(pg_admin, pg_url, sqlite_log, tmp_path: Path) -> None:
    db = sqlite_log[0]
    s.ok("copy", db, pg_url)
    with AuditLog.open(pg_url, create=False) as log:
        before = [e.hash for e in log.events()]
    line = s.one_line_error(s.cli("copy", db, pg_url), 2)
    assert "already holds a log (44 events)" in line
    other = tmp_path / "other.db"
    with AuditLog.open(other) as log:
        log.record_run(s.run_doc("x"))
    s.one_line_error(s.cli("copy", pg_url, other), 2)
    with AuditLog.open(pg_url, create=False) as log:
        assert [e.hash for e in log.events()] == before
    s.one_line_error(s.cli("copy", tmp_path / "missing.db", pg_url), 3)
