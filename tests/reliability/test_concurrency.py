"""Many processes appending to one SQLite log at once, and a writer that gives up in time.

Real processes, released together from behind a barrier file, so that they all contend
for the writer lock at once: the chain must not fork, no event may be lost, and nobody
may see SQLite's raw "database is locked".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.events import RUN_RECORDED
from tests.support import workers

WRITERS = 8
APPENDS = 50
HANG_GUARD = 120  # seconds: a subprocess that takes longer than this is stuck, not slow
pytestmark = pytest.mark.slow
_BESIDE = Path(sys.executable).parent / "auditlog"
CLI = str(_BESIDE) if _BESIDE.exists() else (shutil.which("auditlog") or "auditlog")

# One writer process (tests.support.workers appender). At the first barrier the processes open
# the log, which none of them has created yet, staggered over ~150 ms: late ones find the file
# while an early one is still creating the schema. At the second barrier they all append at
# once, one transaction per run. Prints nothing on success.
STAGGER = 0.02


def _release_together(commands: list[list[str]], tmp: Path, phases: list[str], **kwargs) -> list[subprocess.CompletedProcess]:
    """Start every command; at each phase, wait until every process has touched `<phase>-<k>`,
    then open the barrier `<phase>`. Returns the finished processes."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
             for cmd in commands]
    try:
        for phase in phases:
            arrived = [tmp / f"{phase}-{k}" for k in range(len(procs))]
            deadline = time.monotonic() + HANG_GUARD
            while not all(a.exists() for a in arrived):
                assert time.monotonic() < deadline, f"the processes never reached barrier {phase!r}"
                dead = [p for p in procs if p.poll() is not None]
                if dead:
                    out, err = dead[0].communicate()
                    pytest.fail(f"a process exited {dead[0].returncode} before barrier {phase!r}: {err}{out}")
                time.sleep(0.005)
            (tmp / phase).touch()
        results = []
        for cmd, proc in zip(commands, procs):
            out, err = proc.communicate(timeout=HANG_GUARD)
            results.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _check_log(path: Path, expected_runs: set[str], expected_size: int) -> None:
    with AuditLog.open(path, create=False) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        events = list(log.events())
    assert report.size == expected_size
    assert [e.seq for e in events] == list(range(expected_size)), "seqs are not contiguous from 0"
    for before, after in zip(events, events[1:]):
        assert after.event.prev == before.hash, f"seq {after.seq} does not link to seq {before.seq}"
    runs = [e.event.subject for e in events if e.event.type == RUN_RECORDED]
    assert len(runs) == len(set(runs)), "a run was recorded twice"
    assert set(runs) == expected_runs


def _assert_clean(results: list[subprocess.CompletedProcess]) -> None:
    for result in results:
        assert "database is locked" not in result.stderr.lower(), result.stderr
        assert result.returncode == 0, f"{result.args[-3:]} exited {result.returncode}: {result.stderr}"
        assert result.stderr.strip() == "", result.stderr


def test_eight_processes_fifty_appends_each_into_one_fresh_log(tmp_path: Path) -> None:
    """8 x 50 appends through the Python API, into a log none of them has created yet."""
    path = tmp_path / "evals.db"
    commands = [workers.command("appender", path, tmp_path, k, APPENDS, STAGGER, "") for k in range(WRITERS)]

    results = _release_together(commands, tmp_path, ["open", "append"], env=workers.ENV)

    _assert_clean(results)
    expected = {f"w{k}-r{i}" for k in range(WRITERS) for i in range(APPENDS)}
    _check_log(path, expected, 1 + WRITERS * APPENDS)


def test_eight_cli_processes_create_and_append_at_once(tmp_path: Path) -> None:
    """The CLI in a CI matrix: every job's first `auditlog append` races to create the log."""
    path = tmp_path / "evals.db"
    per_job = 4
    docs = {}
    for k in range(WRITERS):
        for i in range(per_job):
            docs[k, i] = tmp_path / f"run-{k}-{i}.json"
            docs[k, i].write_text(json.dumps({"run_id": f"job{k}-r{i}", "project_id": "matrix", "model_id": f"m{k}",
                                              "environment": {"job": k}, "metrics": {"acc": 0.5}}))
    # A shell loop per job, so that each job's appends are separate `auditlog` processes.
    script = ('touch "$1"; while [ ! -e "$2" ]; do sleep 0.005; done; shift 2; '
              'for doc in "$@"; do "$AUDITLOG" append run "$doc" --log "$LOG" || exit $?; done')
    commands = [["sh", "-c", script, "job", str(tmp_path / f"go-{k}"), str(tmp_path / "go"),
                 *[str(docs[k, i]) for i in range(per_job)]] for k in range(WRITERS)]
    env = {**os.environ, "LOG": str(path), "AUDITLOG": CLI}

    results = _release_together(commands, tmp_path, ["go"], env=env)

    for result in results:
        assert "database is locked" not in result.stderr.lower(), result.stderr
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == "", result.stderr
        assert result.stdout.count("recorded at seq") == per_job, result.stdout
    expected = {f"job{k}-r{i}" for k in range(WRITERS) for i in range(per_job)}
    _check_log(path, expected, 1 + WRITERS * per_job)


# A process that holds the log's write lock until it is killed (tests.support.workers holder):
# the store's own transaction (the writer queue and SQLite's write lock), or only SQLite's
# write lock, as a foreign tool (the sqlite3 shell, Datasette with write access) would.


def _sqlite_state(path: Path) -> tuple[int, list[str]]:
    with AuditLog.open(path, create=False) as log:
        return log.head().size, [e.hash for e in log.events()]


@pytest.mark.parametrize("how", ["store", "sqlite"])
def test_append_gives_up_after_the_lock_timeout(tmp_path: Path, how: str) -> None:
    path = tmp_path / "evals.db"
    with AuditLog.open(path) as log:
        log.record_run({"run_id": "before", "project_id": "p", "model_id": "m", "environment": {}})
    before = _sqlite_state(path)
    doc = tmp_path / "run.json"
    doc.write_text(json.dumps({"run_id": "blocked", "project_id": "p", "model_id": "m", "environment": {}}))

    holder = subprocess.Popen(workers.command("holder", path, how), stdout=subprocess.PIPE, text=True, env=workers.ENV)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = subprocess.run([CLI, "append", "run", str(doc), "--log", str(path), "--lock-timeout", "0.5"],
                                capture_output=True, text=True, timeout=HANG_GUARD)
    finally:
        holder.kill()
        holder.wait()

    assert result.returncode == 4, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("auditlog: error: "), lines[0]
    assert "Traceback" not in result.stderr
    assert "lock" in lines[0].lower(), lines[0]
    assert result.stdout == ""
    assert _sqlite_state(path) == before, "the timed-out append wrote something"

    # Once the holder is gone, the same append goes through.
    retry = subprocess.run([CLI, "append", "run", str(doc), "--log", str(path), "--lock-timeout", "5"],
                           capture_output=True, text=True, timeout=HANG_GUARD)
    assert retry.returncode == 0, retry.stderr
    with AuditLog.open(path, create=False) as log:
        assert log.verify().ok
        assert log.head().size == before[0] + 1
        assert log.run("blocked")["run_id"] == "blocked"
