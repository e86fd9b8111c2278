"""The CLI on a PostgreSQL log: the same commands and reports, and failures as one line, exit 4.

The first tests need no server: SQLite commands never load psycopg, and a PostgreSQL
location without psycopg installed says how to get it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from auditlog import AuditLog
from auditlog.store.postgres.store import PostgresStore

from . import pg_support as s


def _imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_sqlite_append_and_verify_never_load_psycopg(tmp_path: Path) -> None:
    db, doc = tmp_path / "evals.db", s.write_json(tmp_path / "run.json", s.run_doc("r1"))
    for args in (["append", "run", doc, "--log", db], ["verify", "--log", db]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "auditlog", *map(str, args)],
                              capture_output=True, text=True, timeout=s.TIMEOUT)
        assert done.returncode == 0, done.stderr[-2000:]
        modules = _imported(done.stderr)
        assert "auditlog.store.sqlite" in modules
        assert not {m for m in modules if m.split(".")[0] == "psycopg" or m == "auditlog.store.postgres.store"}, args


def test_a_postgres_location_without_psycopg_says_what_to_install() -> None:
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "from auditlog.cli import main\n"
            "sys.argv = ['auditlog', 'verify', '--log', 'postgresql://nobody@127.0.0.1:1/none']\n"
            "main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=s.TIMEOUT)
    line = s.one_line_error(s.Result(done.returncode, done.stdout, done.stderr), 4)
    import importlib.metadata
    (dist,) = set(importlib.metadata.packages_distributions()["auditlog"])  # `pip install auditlog` is another package
    assert f'pip install "{dist}[postgres]"' in line


def test_connection_refused_is_one_line_exit_4(tmp_path: Path) -> None:
    url = f"postgresql://ci:hunter2@127.0.0.1:{s.closed_port()}/test?schema=x"
    doc = s.write_json(tmp_path / "run.json", s.run_doc("r1"))
    for args in (["append", "run", doc, "--log", url], ["verify", "--log", url]):
        line = s.one_line_error(s.cli(*args), 4)
        assert "cannot connect" in line and "Connection refused" in line, line
        assert "hunter2" not in line


def test_an_unknown_role_is_one_line_exit_4(pg_admin, pg_url, tmp_path: Path) -> None:
    url = s.as_role(pg_url, "no_such_role_for_auditlog")
    line = s.one_line_error(s.cli("append", "run", s.write_json(tmp_path / "r.json", s.run_doc("r1")), "--log", url), 4)
    assert "cannot connect" in line and "no_such_role_for_auditlog" in line, line


def test_init_append_verify_events_round_trip(pg_admin, pg_url, tmp_path: Path) -> None:
    first = s.ok("init", "--log", pg_url, "--origin", "example.org/evals")
    assert "created" in first.out and "example.org/evals" in first.out
    again = s.ok("init", "--log", pg_url)
    assert "already exists" in again.out
    clash = s.cli("init", "--log", pg_url, "--origin", "example.org/other")
    assert s.one_line_error(clash, 5)
    for i in range(2):
        out = s.ok("append", "run", s.write_json(tmp_path / f"r{i}.json", s.run_doc(f"r{i}")), "--log", pg_url).out
        assert f"recorded at seq {i + 1}" in out
    report = s.ok("verify", "--log", pg_url, "-o", "json").json()
    assert report["ok"] and report["size"] == 3 and report["log"] == pg_url
    assert len(s.ok("events", "--log", pg_url, "--after", "0").out.splitlines()) == 2


def test_append_gives_up_after_the_lock_timeout(pg_admin, pg_url, tmp_path: Path) -> None:
    with AuditLog.open(pg_url) as log:
        size = log.head().size
    holder = PostgresStore(pg_url)
    doc = s.write_json(tmp_path / "run.json", s.run_doc("blocked"))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction(5):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        line = s.one_line_error(s.cli("append", "run", doc, "--log", pg_url, "--lock-timeout", "0.5"), 4)
        assert "lock" in line.lower(), line
    finally:
        release.set()
        thread.join()
        holder.close()
    with AuditLog.open(pg_url, create=False) as log:
        assert log.head().size == size
    s.ok("append", "run", doc, "--log", pg_url)
