"""A log on read-only media can be verified and read; writes to it fail with one exit-4 line.

A real read-only filesystem (a tmpfs remounted read-only: we run as root, whom file modes do
not stop), as in test_storage_faults.py; the tests skip, saying why, where mount is refused.
SQLite's WAL mode needs a writable -shm file, so such a log is opened read-only and immutable;
its projections go to the cache directory ($XDG_CACHE_HOME/auditlog/projections/<log id>).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from auditlog import AuditLog
from tests.integration import cli_support as s
from tests.reliability.test_storage_faults import mounted, remount

READS = [["verify"], ["events"], ["events", "-o", "table"], ["show", "r1"], ["show", "r1", "--items", "-o", "json"],
         ["history"], ["history", "-o", "csv"], ["compare", "r0", "r1", "-o", "json"],
         ["trend", "--project", "mmlu-pro", "--metric", "pass_rate"], ["export", "-o", "jsonl", "--what", "items"]]


def _log_with_runs(db: Path, docs: Path) -> None:
    docs.mkdir(exist_ok=True)
    for run_id in ("r0", "r1", "r2"):
        s.ok("append", "run", s.write_json(docs / f"{run_id}.json", s.run_doc(run_id)), "--log", db)


def test_a_log_on_read_only_media_is_verified_and_read(tmp_path: Path) -> None:
    env = s.clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    with mounted(tmp_path / "mnt", "size=8m") as mnt:
        db = mnt / "evals.db"
        _log_with_runs(db, tmp_path / "docs")
        with AuditLog.open(db, create=False) as log:
            log_id = log.info()["log_id"]
        writable = {tuple(args): s.ok(*args, "--log", db, env=env).stdout for args in READS if args != ["verify"]}
        shutil.rmtree(mnt / "evals.db.projections")
        files = sorted(p.name for p in mnt.iterdir())
        remount(mnt, "remount", "ro")
        try:
            assert s.ok("verify", "--log", db, env=env).out.startswith("ok: 4 events")
            for args, expected in writable.items():
                assert s.ok(*args, "--log", db, env=env).stdout == expected, args
            cache = tmp_path / "cache" / "auditlog" / "projections" / log_id
            assert (cache / "state.json").exists(), "the projections went to the cache directory"
            assert sorted(p.name for p in mnt.iterdir()) == files  # and nothing beside the log (it could not be)

            refused = s.cli("append", "run", s.write_json(tmp_path / "r3.json", s.run_doc("r3")), "--log", db, env=env)
            s.one_line_error(refused, 4, "read-only", str(db))
            s.one_line_error(s.cli("annotate", "r1", "--note", "x", "--log", db, env=env), 4, "read-only")
        finally:
            remount(mnt, "remount", "rw")
        assert s.ok("verify", "--log", db).out.startswith("ok: 4 events")


def test_a_read_only_log_whose_wal_holds_transactions_says_why_it_cannot_be_read(tmp_path: Path) -> None:
    """An immutable open would skip the -wal file and serve the log without its last appends:
    where SQLite cannot read the -wal (no -shm beside it, none can be made), one exit-4 line says so."""
    with mounted(tmp_path / "mnt", "size=8m") as mnt:
        db = mnt / "evals.db"
        _log_with_runs(db, tmp_path / "docs")
        keeper = sqlite3.connect(db)  # an open connection keeps the -wal; no checkpoint into the file
        keeper.execute("PRAGMA wal_autocheckpoint=0")
        keeper.execute("SELECT count(*) FROM events").fetchone()
        s.ok("append", "run", s.write_json(tmp_path / "r3.json", s.run_doc("r3")), "--log", db)
        copy = mnt / "copy.db"
        shutil.copyfile(db, copy)
        shutil.copyfile(f"{db}-wal", f"{copy}-wal")  # a -wal without its -shm, as a crashed writer's copy
        keeper.close()
        remount(mnt, "remount", "ro")
        try:
            s.one_line_error(s.cli("verify", "--log", copy), 4, "write-ahead log", "copy the log")
        finally:
            remount(mnt, "remount", "rw")
