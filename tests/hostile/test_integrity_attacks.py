"""Attacks by someone who holds the SQLite file or the projections directory (issue 12).

Each test does what such an attacker can do, with sqlite3 or plain file writes behind the
library's back, and checks that every read, gate and verify either shows exactly the
verified chain or fails loudly: exit 1, one line naming what is wrong, no traceback,
nothing recorded. The PostgreSQL roles' half is tests/postgres/test_pg_hostile.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.encoding import canonical_bytes

from .hostile_support import cli_support

cli, ok, run_doc, write_json = cli_support.cli, cli_support.ok, cli_support.run_doc, cli_support.write_json
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """A log with a baseline (seq 1) and a candidate run (seq 2) of one project, then 18 runs of
    another (so both are inside the first stored Merkle subtree), projections built."""
    db = tmp_path / "evals.db"
    with AuditLog.open(db) as log:
        log.record_run(run_doc("base", seed=0, n_items=20))
        log.record_run(run_doc("cand", seed=1, n_items=20))
        with log.writer() as w:
            for i in range(18):
                w.record_run(run_doc(f"other-{i}", project="other", seed=i))
    ok("history", "--log", db)  # builds the projections: later reads check the log against them
    return db


def loud(result: cli_support.Result, *words: str) -> None:
    """Failed with exit 1 and one clear line (no traceback) that says these words."""
    cli_support.one_line_error(result, 1, *words)


def tamper(db: Path, *statements: str, args: tuple = ()) -> None:
    """Run SQL as the file's holder: triggers are theirs to drop."""
    con = sqlite3.connect(db)
    try:
        for statement in statements:
            con.execute(statement, args if "?" in statement else ())
        con.commit()
    finally:
        con.close()


def body_at(db: Path, seq: int) -> bytes:
    con = sqlite3.connect(db)
    (body,) = con.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()
    con.close()
    return body


def events_count(db: Path) -> int:
    con = sqlite3.connect(db)
    (n,) = con.execute("SELECT count(*) FROM events").fetchone()
    con.close()
    return n


# -- 1. rows outside the chain ---------------------------------------------------------


def forged_copy(db: Path, run_id: str) -> tuple[bytes, str]:
    """The run's event with every item passing, as bytes and hash (a forgery of its content)."""
    con = sqlite3.connect(db)
    (body,) = con.execute("SELECT body FROM events WHERE subject = ? AND type = 'run.recorded'", (run_id,)).fetchone()
    con.close()
    event = json.loads(body)
    for item in event["data"]["run"]["items"]:
        item.update(score=1.0, passed=True)
    forged = canonical_bytes(event)
    return forged, hashlib.sha256(forged).hexdigest()


@pytest.mark.parametrize("index", ["events_by_subject", "events_by_project", "events_by_type"])
def test_an_index_that_leaves_out_a_row_under_its_own_sql_fails_verify(log_path: Path, index: str) -> None:
    """The holder rebuilds an index as a partial one, then puts its SQL text back: the schema reads as
    created, but reads through the index (a run's events, a project's configuration) miss the row."""
    con = sqlite3.connect(log_path, isolation_level=None)
    (sql,) = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql + " WHERE seq <> 2", index))
    con.close()
    con = sqlite3.connect(log_path, isolation_level=None)
    con.execute(f"REINDEX {index}")
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql, index))
    con.close()
    result = cli("verify", "--log", log_path)
    assert result.code == 1 and f"schema: SQLite's integrity check of the file: row 3 missing from index {index}" \
        in result.out and "Traceback" not in result.err, str(result)
    from auditlog.services.verify import verify_log
    with AuditLog.open(log_path, create=False) as log:  # in segments, the file check runs beside the workers
        report = verify_log(log, processes=2)
    assert not report.ok and f"row 3 missing from index {index}" in report.first.detail


def test_the_schema_refuses_a_row_outside_the_chain(log_path: Path) -> None:
    forged, digest = forged_copy(log_path, "cand")
    with pytest.raises(sqlite3.IntegrityError, match="at the head only"):
        tamper(log_path, "INSERT INTO events VALUES (-1, ?, 't', 'run.recorded', 'mmlu-pro', 'cand', ?)",
               args=(digest, forged))
    for seq in (events_count(log_path) + 1, 10**12):  # a gap, a future position
        with pytest.raises(sqlite3.IntegrityError, match="at the head only"):
            tamper(log_path, f"INSERT INTO events VALUES ({seq}, ?, 't', 'run.recorded', 'p', 'cand', ?)",
                   args=(digest, forged))


def test_a_forged_run_at_a_negative_seq_is_never_read_and_verify_reports_it(log_path: Path, tmp_path: Path) -> None:
    forged, digest = forged_copy(log_path, "cand")
    tamper(log_path, "DROP TRIGGER events_at_head",
           "INSERT INTO events VALUES (-1, ?, '2026-01-01T00:00:00.000000Z', 'run.recorded', 'mmlu-pro', 'cand', ?)",
           args=(digest, forged))
    result = cli("verify", "--log", log_path)
    assert result.code == 1, str(result)
    assert "outside-chain" in result.out and "(lowest -1)" in result.out, str(result)
    assert "events_at_head is missing" in result.out, str(result)
    shown = ok("show", "cand", "--log", log_path, "-o", "json").json()
    assert shown["run"]["items"] == run_doc("cand", seed=1, n_items=20)["items"], "the chain's run, not the forgery"
    # A genuine CI retry of the run is still recognised as itself, not as "already recorded" forged content.
    retry = ok("append", "run", write_json(tmp_path / "cand.json", run_doc("cand", seed=1, n_items=20)),
               "--log", log_path)
    assert "already recorded at seq 2" in retry.out, str(retry)


# -- 2. every body checked in full ----------------------------------------------------


@pytest.mark.parametrize("change", ["duplicate data member", "extra envelope member", "not JSON"])
def test_verify_checks_every_body_in_full(log_path: Path, change: str) -> None:
    """The holder rewrites the last event so that the chain still links (hash recomputed): only
    a full check of the body tells that parsers could read it differently."""
    last = events_count(log_path) - 1
    body = body_at(log_path, last)
    tail = body[body.index(b',"prev":'):]
    if change == "duplicate data member":
        bad = b'{"actor":{},"data":{"run":{}},' + body[1:]
    elif change == "extra envelope member":
        bad = body[:-len(tail)] + b',"p":1' + tail
    else:
        bad = b'{"actor":{},"data":oops' + tail
    tamper(log_path, "DROP TRIGGER events_no_update",
           "UPDATE events SET body = ?, hash = ? WHERE seq = ?", args=(bad, hashlib.sha256(bad).hexdigest(), last))
    result = cli("verify", "--log", log_path)
    assert result.code == 1, str(result)
    assert f"seq {last}: malformed" in result.out, str(result)


# -- 3. appends that vanish -------------------------------------------------------------


def test_an_extra_trigger_that_drops_verdicts_is_caught_by_the_writer_and_by_verify(log_path: Path) -> None:
    tamper(log_path, "CREATE TRIGGER evil BEFORE INSERT ON events WHEN NEW.type = 'verdict.recorded' "
                     "BEGIN SELECT RAISE(IGNORE); END")
    before = events_count(log_path)
    result = cli("gate", "cand", "--baseline", "base", "--log", log_path)
    loud(result, "did not keep what was written", "nothing was written")
    assert "recorded at seq" not in result.out
    assert events_count(log_path) == before
    checked = cli("verify", "--log", log_path)
    assert checked.code == 1 and "an extra trigger evil" in checked.out, str(checked)


# -- 4. reads that show unverified data -------------------------------------------------


def alter_run_bytes(db: Path, run_id: str, *, rehash: bool) -> int:
    """Change the run's recorded items in place (and its stored hash, when `rehash`)."""
    con = sqlite3.connect(db)
    seq, body = con.execute("SELECT seq, body FROM events WHERE subject = ? AND type = 'run.recorded'",
                            (run_id,)).fetchone()
    changed = body.replace(b'"passed":false', b'"passed":true', 1)  # still canonical JSON
    assert changed != body
    con.execute("DROP TRIGGER events_no_update")
    if rehash:
        con.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?", (changed, hashlib.sha256(changed).hexdigest(), seq))
    else:
        con.execute("UPDATE events SET body = ? WHERE seq = ?", (changed, seq))
    con.commit()
    con.close()
    return seq


@pytest.mark.parametrize("rehash", [False, True], ids=["bytes", "bytes-and-hash"])
def test_every_read_and_the_gate_fail_on_altered_run_bytes(log_path: Path, rehash: bool) -> None:
    """The run sits inside a stored Merkle subtree, so the log's root is unchanged: it is the check of
    each run handed out that fails. After a rebuild attempt, the fold's own hashing and linking."""
    seq = alter_run_bytes(log_path, "base", rehash=rehash)
    before = events_count(log_path)
    for args in (("history",), ("show", "base"), ("compare", "base", "cand"),
                 ("trend", "--project", "mmlu-pro", "--metric", "accuracy"), ("export", "--format", "jsonl"),
                 ("gate", "cand", "--baseline", "base"), ("gate", "cand", "--baseline-latest")):
        result = cli(*args, "--log", log_path)
        # The run's own check names its seq; a gate checks the candidate (seq 2) first, whose inclusion
        # proof runs through the altered run's bytes: it fails there, naming seq 2.
        loud(result, f"seq {seq}" if "gate" not in args else "seq ")
        assert f"seq {seq}" in result.err or "not included in the verified tree" in result.err, str(result)
    assert events_count(log_path) == before, "no verdict recorded on a log that fails"
    rebuilt = cli("projections", "rebuild", "--log", log_path)
    linked_to = seq if not rehash else seq + 1  # with its hash recomputed, the next event no longer links to it
    loud(rebuilt, f"seq {linked_to}")
    assert cli("history", "--log", log_path).code == 1, "after a rebuild attempt too"


def test_reads_fail_when_the_changed_event_is_in_the_tail_not_yet_in_a_stored_subtree(tmp_path: Path) -> None:
    """Within the last 15 events the log's root is computed from the bytes: the catch-up's root check
    (against the root the fold computed) fails, before any run is read."""
    db = tmp_path / "evals.db"
    with AuditLog.open(db) as log:
        log.record_run(run_doc("base", seed=0))
        log.record_run(run_doc("cand", seed=1))
    ok("history", "--log", db)
    alter_run_bytes(db, "base", rehash=True)
    loud(cli("history", "--log", db), "changed under the projections", "Merkle root")


def test_reads_without_projections_fail_on_altered_bytes(log_path: Path) -> None:
    shutil.rmtree(f"{log_path}.projections")
    alter_run_bytes(log_path, "cand", rehash=True)
    loud(cli("show", "cand", "--log", log_path), "seq 3", "does not link")  # the fold, rebuilding, finds the break
    loud(cli("history", "--log", log_path), "seq 3")


def test_a_parquet_file_rewritten_in_place_is_refused_and_status_says_so(log_path: Path) -> None:
    directory = Path(f"{log_path}.projections")
    state = json.loads((directory / "state.json").read_text())
    runs = directory / state["files"]["runs"]
    data = bytearray(runs.read_bytes())
    data[len(data) // 2] ^= 0xFF
    runs.write_bytes(bytes(data))
    loud(cli("history", "--log", log_path), "does not hash to the digest in its name")
    status = cli("projections", "status", "--log", log_path)
    assert status.code == 1 and "up to date" not in status.out and "does not hash" in status.out, str(status)
    ok("projections", "rebuild", "--log", log_path)
    ok("history", "--log", log_path)


def test_catch_up_notices_a_changed_merkle_subtree_under_the_projections(tmp_path: Path) -> None:
    db = tmp_path / "evals.db"
    with AuditLog.open(db) as log:
        with log.writer() as w:
            for i in range(20):
                w.record_run(run_doc(f"r{i}", seed=i))
    ok("history", "--log", db)
    tamper(db, "DROP TRIGGER merkle_no_update", "UPDATE merkle SET hash = zeroblob(32) WHERE level = 4 AND idx = 0")
    loud(cli("history", "--log", db), "Merkle root")


# -- 5. verification that says what it proved --------------------------------------------


def test_plain_verify_says_nothing_outside_vouches_for_the_log(log_path: Path) -> None:
    out = ok("verify", "--log", log_path).out
    assert "internally consistent" in out
    assert "truncation or a rewrite by its holder cannot be excluded" in out


def test_a_stored_checkpoint_is_an_anchor_only_when_a_trusted_key_signed_it(tmp_path: Path, log_path: Path) -> None:
    ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "ci.key")
    ok("keygen", "--name", "forger.example.org", "--out", tmp_path / "forger.key")
    ok("checkpoint", "--key", tmp_path / "forger.key", "--log", log_path)
    trusted = tmp_path / "ci.vkey"
    out = ok("verify", "--log", log_path, "--vkey", trusted).out
    assert "signature not checked" not in out or "signed by forger" not in out
    assert "signed by" not in out, "a checkpoint no trusted key signed is not reported as signed"
    assert "cannot be excluded" in out, "nor does it anchor the log"
    assert "1 stored checkpoint agrees with it, but no key given (ci.example.org) signed it" in out
    assert "pass --vkey" not in out, "the key was given: it was checked, and did not sign it"
    out = ok("verify", "--log", log_path).out
    assert "1 stored checkpoint agrees with it, their signatures not checked (pass --vkey" in out
    ok("checkpoint", "--key", tmp_path / "ci.key", "--log", log_path)
    out = ok("verify", "--log", log_path, "--vkey", trusted).out
    assert "signed by ci.example.org" in out and "cannot be excluded" in out, "stored checkpoints do not anchor"
    assert "can be deleted by its holder with the events after them" in out
    listed = ok("checkpoints", "--log", log_path, "-o", "json").json()
    assert all("claimed_signers" in c and "signers" not in c for c in listed)


# -- 9. metadata that is trusted -----------------------------------------------------------


def test_verify_checks_metadata_against_the_genesis(log_path: Path) -> None:
    tamper(log_path, "DROP TRIGGER meta_no_update", "UPDATE meta SET value = '../../../../tmp/evil' WHERE key = 'log_id'")
    result = cli("verify", "--log", log_path)
    assert result.code == 1 and "metadata" in result.out and "log_id" in result.out, str(result)


def test_a_hostile_log_id_never_builds_a_path() -> None:
    import projections
    from auditlog.errors import InvalidInput
    for hostile in ("../../etc", "/abs", "a" * 31, "", None, "A" * 32):
        with pytest.raises(InvalidInput, match="log_id"):
            projections.default_directory("postgresql://h/db", hostile)
    assert projections.default_directory("postgresql://h/db", "0" * 32).endswith("/projections/" + "0" * 32)


# -- migration ------------------------------------------------------------------------------


def test_migrate_brings_a_release_0_1_log_over_with_the_same_bytes_hashes_and_root(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copy(FIXTURE / "release-0.1.0.sqlite", old)
    con = sqlite3.connect(old)
    before = con.execute("SELECT seq, hash, body FROM events ORDER BY seq").fetchall()
    con.close()
    refused = cli("verify", "--log", old)
    assert refused.code == 4 and "auditlog migrate" in refused.err, str(refused)
    ok("migrate", "--log", old)
    con = sqlite3.connect(old)
    assert con.execute("SELECT seq, hash, body FROM events ORDER BY seq").fetchall() == before
    con.close()
    checkpoint = (FIXTURE / "cp2.txt").read_text()
    root = __import__("base64").b64decode(checkpoint.splitlines()[2]).hex()
    out = ok("verify", "--log", old, "--checkpoint", FIXTURE / "cp2.txt", "--vkey", FIXTURE / "fixture.vkey").out
    assert f"root {root}" in out and "cannot be excluded" not in out
    with pytest.raises(sqlite3.IntegrityError):
        tamper(old, "INSERT INTO merkle VALUES (4, 1000, zeroblob(32))")


def test_a_checkpoint_or_a_publication_is_never_signed_for_an_origin_only_the_meta_table_names(log_path: Path,
                                                                                            tmp_path: Path) -> None:
    """The holder changes the origin in the meta table alone: signing would vouch for a log of that origin."""
    from tests.tampering import as_holder

    ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "ci.key")
    with as_holder(log_path) as conn:
        conn.execute("UPDATE meta SET value = 'forged.example/evals' WHERE key = 'origin'")
    before = sqlite3.connect(log_path).execute("SELECT count(*) FROM checkpoints").fetchone()
    for args in (("checkpoint", "--key", tmp_path / "ci.key"), ("publish", "--to", tmp_path / "pub", "--key",
                                                                  tmp_path / "ci.key")):
        loud(cli(*args, "--log", log_path), "origin 'forged.example/evals'", "is not what its genesis event says")
    assert sqlite3.connect(log_path).execute("SELECT count(*) FROM checkpoints").fetchone() == before
    assert not (tmp_path / "pub" / "checkpoint").exists()
