"""Storage that fails underneath the log: read-only, not writable, full, corrupted.

Real filesystems where the machine allows it: a tmpfs mounted read-only (or remounted so),
a read-only bind mount over the log file alone, and a small tmpfs that fills up. The
tests run as root in CI containers, where file modes (chmod 444) do not stop a write, so
mounts are the honest way to refuse one; where `mount` is not permitted the mount tests
skip, saying why, and the injected-error test (an OSError-like sqlite3 error at the write
call, in a subprocess) still runs. Every mount is unmounted in a finally.

Expected everywhere: a clear one-line error and exit 4 (storage), nothing half-written
(the log verifies and holds whole batches only), and the next append works once the
fault is gone. A corrupted database page: `verify` reports it (exit 1 with the first bad
seq, or exit 4 with one line), never a traceback.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from auditlog import AuditLog
from tests.integration import cli_support as s

BATCH = 20


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def mounted(target: Path, *options: str, bind: Path | None = None) -> Iterator[Path]:
    """A tmpfs (or a bind mount of `bind`) at `target`; skips with the reason where mount is refused."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine")
    target.mkdir(parents=True, exist_ok=True) if bind is None or bind.is_dir() else target.touch()
    argv = ["mount", "--bind", str(bind), str(target)] if bind else ["mount", "-t", "tmpfs", "-o",
                                                                         ",".join(options), "tmpfs", str(target)]
    done = _run(argv)
    if done.returncode != 0:
        pytest.skip(f"mount is not permitted here ({' '.join(argv)}: {done.stderr.strip()})")
    try:
        if bind and options:
            remount(target, "remount", "bind", *options)
        yield target
    finally:
        if _run(["umount", str(target)]).returncode != 0:
            _run(["umount", "-l", str(target)])


def remount(target: Path, *options: str) -> None:
    done = _run(["mount", "-o", ",".join(options), str(target)])
    assert done.returncode == 0, done.stderr


def _one_line(result: s.Result, code: int, *needles: str) -> str:
    assert "Traceback" not in result.err, str(result)
    assert result.code == code, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
    for needle in needles:
        assert needle in lines[0].lower(), str(result)
    return lines[0]


def _doc_file(directory: Path, run_id: str, n_items: int = 4) -> Path:
    return s.write_json(directory / f"{run_id}.json", s.run_doc(run_id, n_items=n_items))


def _check_log(db: Path, expected_size: int | None = None) -> int:
    with AuditLog.open(db, create=False) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        if expected_size is not None:
            assert report.size == expected_size
        return report.size


# -- read-only ------------------------------------------------------------------------------------


def test_a_read_only_filesystem_refuses_appends_then_recovers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    with mounted(tmp_path / "mnt", "size=4m") as mnt:
        db = mnt / "evals.db"
        s.ok("append", "run", _doc_file(docs, "before"), "--log", db)
        before = s.fingerprint(db)
        remount(mnt, "remount", "ro")
        try:
            _one_line(s.cli("append", "run", _doc_file(docs, "refused"), "--log", db), 4)
            _one_line(s.cli("append", "run", _doc_file(docs, "new-log"), "--log", mnt / "other.db"), 4)
            assert not (mnt / "other.db").exists()
            s.ok("verify", "--log", db)  # read-only media are opened read-only (test_read_only.py)
        finally:
            remount(mnt, "remount", "rw")
        assert s.fingerprint(db) == before
        s.ok("append", "run", _doc_file(docs, "after"), "--log", db)
        assert _check_log(db) == 3


def test_a_read_only_log_file_in_a_writable_directory(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    db = tmp_path / "evals.db"
    s.ok("append", "run", _doc_file(docs, "before"), "--log", db)
    before = s.fingerprint(db)
    with mounted(db, "ro", bind=db):
        _one_line(s.cli("append", "run", _doc_file(docs, "refused"), "--log", db), 4, "read-only")
        s.ok("verify", "--log", db)  # opened read-only: it can still be verified (test_read_only.py: and read)
        assert s.fingerprint(db)["db"] == before["db"]
    s.ok("append", "run", _doc_file(docs, "after"), "--log", db)
    with AuditLog.open(db, create=False) as log:
        assert [e.event.subject for e in log.events()][1:] == ["before", "after"]
    _check_log(db, 3)


# -- a full disk ------------------------------------------------------------------------------------

FILLER = textwrap.dedent("""
    import json, sys
    from auditlog import AuditLog, AuditLogError
    path, batch = sys.argv[1], int(sys.argv[2])
    committed, error = [], None
    log = AuditLog.open(path)
    for b in range(10_000):
        try:
            with log.writer() as w:
                for i in range(batch):
                    w.record_run({"run_id": f"b{b}-{i}", "project_id": "full", "model_id": "m", "environment": {},
                                  "items": [{"item_id": f"q{j}", "score": 0.5, "passed": True, "error": "x" * 40}
                                            for j in range(40)]})
        except AuditLogError as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        committed.append(b)
    print(json.dumps({"committed": committed, "error": error}))
""")


def _batch_counts(db: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with AuditLog.open(db, create=False) as log:
        for e in log.events():
            if e.event.type == "run.recorded" and e.event.subject.startswith("b"):
                batch = e.event.subject.split("-")[0]
                counts[batch] = counts.get(batch, 0) + 1
    return counts


def test_a_full_disk_refuses_whole_batches_then_recovers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    with mounted(tmp_path / "mnt", "size=1m") as mnt:
        db = mnt / "evals.db"
        done = subprocess.run([sys.executable, "-c", FILLER, str(db), str(BATCH)], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        report = json.loads(done.stdout)
        print(f"full disk after {len(report['committed'])} batches: {report['error']}")
        assert report["error"] and report["error"].startswith("StorageError") and "full" in report["error"]
        assert report["committed"], "not even one batch fitted in the filesystem"

        big = s.write_json(docs / "big.json", s.run_doc("big", n_items=2000))
        line = _one_line(s.cli("append", "run", big, "--log", db), 4)
        assert "full" in line.lower() or "space" in line.lower(), line

        remount(mnt, "remount", "size=16m")  # free space
        counts = _batch_counts(db)
        assert set(counts.values()) == {BATCH}, f"a batch was half-written: {counts}"
        assert sorted(counts) == sorted(f"b{b}" for b in report["committed"])
        size = _check_log(db)
        s.ok("append", "run", big, "--log", db)
        with AuditLog.open(db, create=False) as log:
            with log.writer() as w:
                for i in range(BATCH):
                    w.record_run({"run_id": f"after-{i}", "project_id": "full", "model_id": "m", "environment": {}})
        _check_log(db, size + 1 + BATCH)


INJECTED = textwrap.dedent("""
    import sqlite3, sys
    from auditlog.store.sqlite import store
    original = store._SQLiteTransaction.append
    def append(self, rows, nodes=()):
        original(self, rows, nodes)  # the rows are in the open transaction: then the disk fills
        raise sqlite3.OperationalError("database or disk is full")
    store._SQLiteTransaction.append = append
    from auditlog.cli import main
    sys.argv = ["auditlog", *sys.argv[1:]]
    main()
""")


def test_an_injected_disk_full_error_at_the_write_call(tmp_path: Path) -> None:
    """Runs everywhere (no mount needed): the error is raised after the rows went into the transaction."""
    db = tmp_path / "evals.db"
    s.ok("append", "run", _doc_file(tmp_path, "before"), "--log", db)
    before = s.fingerprint(db)
    done = subprocess.run([sys.executable, "-c", INJECTED, "append", "run", str(_doc_file(tmp_path, "refused")),
                           "--log", str(db)], capture_output=True, timeout=60, check=False)
    result = s.Result(done.returncode, done.stdout, done.stderr)
    _one_line(result, 4, "full")
    assert s.fingerprint(db) == before
    _check_log(db, 2)
    s.ok("append", "run", _doc_file(tmp_path, "after"), "--log", db)
    _check_log(db, 3)


# -- a corrupted page -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("corrupt") / "evals.db"
    with AuditLog.open(db) as log:
        with log.writer() as w:
            for i in range(300):
                w.record_run(s.run_doc(f"run-{i}", n_items=10, seed=i))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as a copy would have it
    conn.close()
    return db


def _pages(db: Path) -> dict[str, list[int]]:
    """Page numbers (1-based) of each table and index, from SQLite's dbstat."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name, pageno FROM dbstat WHERE pagetype = 'leaf' ORDER BY pageno").fetchall()
    finally:
        conn.close()
    pages: dict[str, list[int]] = {}
    for name, pageno in rows:
        pages.setdefault(name, []).append(pageno)
    return pages


@pytest.mark.parametrize("where, fill", [
    (0.1, b"\x00"), (0.5, b"\xff"), (0.5, b"garbage!"), (0.9, b"\x00"), (1.0, b"\xa5"), ("header", b"\x00"),
    ("page-header", b"\xff"),
])
def test_verify_reports_a_corrupted_events_page(big_log: Path, tmp_path: Path, where: object, fill: bytes) -> None:
    """Damage in the events table (its records, near the end of a leaf page, or the file header)."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(big_log, copy)
    data = bytearray(copy.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    events = _pages(big_log)["events"]
    if where == "header":
        offset = 20
    elif where == "page-header":
        offset = (events[len(events) // 2] - 1) * page  # the b-tree header of an events leaf page
    else:
        pageno = events[min(len(events) - 1, int(len(events) * where))]
        offset = pageno * page - 700  # inside the cell content area (records fill a page from its end)
    data[offset:offset + 256] = (fill * 256)[:256]
    copy.write_bytes(bytes(data))

    for args in (["verify"], ["verify", "--output", "json"], ["history"], ["events", "--limit", "3"]):
        result = s.cli(*args, "--log", copy)
        assert "Traceback" not in result.err, str(result)
        if args[0] != "verify":
            assert result.code in (0, 1, 4), str(result)
            continue
        assert result.code in (1, 4), f"corruption at {where} went unnoticed:\n{result}"
        if result.code == 4:
            _one_line(result, 4)
        elif args[-1] == "json":
            report = json.loads(result.stdout)
            assert report["ok"] is False and report["first_bad_seq"] is not None
        else:
            assert "first bad seq" in result.err, str(result)


@pytest.mark.parametrize("index", ["events_by_subject", "events_by_project", "merkle"])
def test_a_corrupted_index_or_cache_page_never_gives_a_traceback(big_log: Path, tmp_path: Path, index: str) -> None:
    """Pages verify does not read (indexes, the Merkle cache): every command still answers in one clear way."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(big_log, copy)
    data = bytearray(copy.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    pageno = _pages(big_log)[index][0]
    data[pageno * page - 300: pageno * page - 44] = b"\xff" * 256
    copy.write_bytes(bytes(data))
    codes = {}
    for args in (["verify"], ["history"], ["show", "run-7"], ["append", "run", _doc_file(tmp_path, "run-7")]):
        result = s.cli(*args, "--log", copy)
        assert "Traceback" not in result.err, str(result)
        assert result.code in (0, 1, 4, 5), str(result)
        if result.code == 4:
            _one_line(result, 4)
        codes[args[0]] = result.code
    print(f"{index} page corrupted: exit codes {codes}")
