"""The installed entry point and the in-process CLI the other tests use exit alike, and what
only a real process meets (an interrupt, a reader that goes away) ends the documented way:
Ctrl-C exits 130 with one line, a reader that goes away is quiet (exit 0). More signals (a
lock wait, SIGTERM, a long verify) are in test_signals.py.

Errors are mapped inside the click group, so `CliRunner` sees exactly what `python -m
auditlog` prints; these tests hold the two side by side. The interrupt and closed-pipe
tests wait for the process to block (on reading stdin, on writing a full pipe) rather
than for a timer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditlog import AuditLog

from . import cli_support as s


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("entry") / "evals.db"
    s.ok("append", "run", s.write_json(path.parent / "r1.json", s.run_doc("r1")), "--log", path)
    return path


@pytest.mark.parametrize("args", [
    ["verify", "--log", "{missing}"],                     # not found, 3
    ["show", "no-such-run", "--log", "{db}"],             # not found, 3
    ["append", "run", "{bad}", "--log", "{db}"],          # invalid input, 2
    ["history", "--tag", "novalue", "--log", "{db}"],     # invalid input, 2
    ["append", "run", "--nope"],                          # click's own usage error, 2
    ["verify", "--log", "{db}"],                          # ok, 0
], ids=["missing-log", "missing-run", "bad-document", "bad-tag", "usage", "ok"])
def test_in_process_and_installed_command_exit_alike(db: Path, args: list[str]) -> None:
    bad = db.parent / "bad.json"
    bad.write_text('{"run_id": 1}', encoding="utf-8")
    argv = [a.format(db=db, missing=db.parent / "missing.db", bad=bad) for a in args]
    inside, real = s.cli(*argv), s.cli(*argv, process=True)
    assert (inside.code, inside.stdout, inside.stderr) == (real.code, real.stdout, real.stderr), f"{inside}\n{real}"
    assert "Traceback" not in real.err


def _syscall(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return []


@pytest.mark.skipif(not (sys.platform == "linux" and Path("/proc/self/syscall").exists()),
                    reason="needs /proc/PID/syscall to see the process block on stdin")
def test_an_interrupt_while_reading_stdin_exits_130_with_one_line(tmp_path: Path) -> None:
    read = {"x86_64": "0", "aarch64": "63"}.get(__import__("platform").machine())
    if read is None:
        pytest.skip("read(2)'s syscall number is unknown on this machine")
    proc = subprocess.Popen([sys.executable, "-m", "auditlog", "append", "run", "-", "--log", str(tmp_path / "e.db")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.clean_env(),
                            preexec_fn=s.interruptible)
    try:
        deadline = time.monotonic() + s.TIMEOUT
        while _syscall(proc.pid)[:2] != [read, "0x0"]:  # blocked in read(0, ...)
            assert proc.poll() is None and time.monotonic() < deadline, "never blocked on stdin"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=s.TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err  # 128 + SIGINT, as a shell reports it; not 1 (an integrity failure)
    assert err.decode() == "auditlog: interrupted; nothing was written\n" and out == b""
    assert not (tmp_path / "e.db").exists(), "an interrupted append wrote nothing"


def test_a_reader_that_goes_away_is_quiet(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    with AuditLog.open(db) as log, log.writer() as w:
        for i in range(400):  # ~1 MB of `events` output: far more than a pipe holds
            w.record_run(s.run_doc(f"r{i}", n_items=20))
    proc = subprocess.Popen([sys.executable, "-m", "auditlog", "events", "--log", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.clean_env())
    try:
        assert proc.stdout.readline().startswith(b'{"seq":0,')
        proc.stdout.close()  # as `| head -1` does
        err = proc.stderr.read()
        proc.wait(timeout=s.TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert err == b"", err  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert proc.returncode == 0  # the reader has what it wanted: not a failure (see docs/behaviour.md)



def test_a_reader_that_goes_away_does_not_hide_a_verdict(tmp_path: Path) -> None:
    """`gate ... | true` under pipefail: the verdict's exit code (10 on BLOCK) survives the closed pipe, as
    verify's 1 does; exit 0 would let the CI step pass on a recorded BLOCK."""
    db = tmp_path / "g.db"
    with AuditLog.open(db) as log:
        for run_id, score in (("good", 0.9), ("bad", 0.2)):
            log.record_run({"run_id": run_id, "project_id": "p", "model_id": "m", "items": [
                {"item_id": f"q{i}", "score": score, "passed": score >= 0.5} for i in range(30)]})
    for attempt in range(3):  # the reader leaves before the first line: the write fails at once or at exit
        proc = subprocess.Popen([sys.executable, "-m", "auditlog", "gate", "bad", "--baseline", "good", "--log",
                                 str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.clean_env())
        proc.stdout.close()  # as `| true` does
        err = proc.stderr.read()
        proc.wait(timeout=s.TIMEOUT)
        assert (proc.returncode, err) == (10, b""), (attempt, proc.returncode, err)
