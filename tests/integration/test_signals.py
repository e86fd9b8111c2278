"""Signals end a real `python -m auditlog` the documented way, and the log is as it was.

Ctrl-C (SIGINT) exits 130 and SIGTERM 143, each with one line on stderr, also while an
append waits in the kernel for another writer's lock and in the middle of a long verify;
afterwards the log verifies and holds exactly the events it held before. A reader that goes
away (`| head`) is quiet and exits 0.

No timers: each test waits until the process is seen blocked where the signal should find it
(/proc/PID/task/*/syscall: a thread in flock(2) for the lock wait; the main thread in write(2)
to a terminal whose output is stopped with XOFF for verify's progress line).
"""

from __future__ import annotations

import os
import platform
import pty
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog import AuditLog
from tests.support.workers import ENV, command

from . import cli_support as s

SYSCALLS = {"x86_64": {"write": "1", "flock": "73"}, "aarch64": {"write": "64", "flock": "32"}}.get(platform.machine())
needs_proc = pytest.mark.skipif(not (sys.platform == "linux" and Path("/proc/self/syscall").exists()
                                     and SYSCALLS is not None),
                                reason="needs Linux's /proc/PID/syscall (and known syscall numbers) to see the "
                                       "process block")
XOFF, XON = b"\x13", b"\x11"


def _syscalls(pid: int) -> dict[int, str]:
    """The syscall each thread of `pid` is in (thread id -> number), for the threads that are in one."""
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
        except OSError:
            continue
        if fields and fields[0] not in ("running", "-1"):
            found[int(tid)] = fields[0]
    return found


def _wait_until(proc: subprocess.Popen, blocked: callable, what: str) -> None:
    deadline = time.monotonic() + s.TIMEOUT
    while not blocked(_syscalls(proc.pid)):
        assert proc.poll() is None, f"exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.01)


def _events(db: Path) -> list[tuple[int, str]]:
    with AuditLog.open(db, create=False) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        return [(e.seq, e.hash) for e in log.events()]


@pytest.fixture
def held_log(tmp_path: Path) -> Iterator[Path]:
    """A log whose write lock another process holds (in the store's own write transaction)."""
    db = tmp_path / "evals.db"
    s.ok("append", "run", s.write_json(tmp_path / "r0.json", s.run_doc("r0")), "--log", db)
    holder = subprocess.Popen(command("holder", db, "store"), stdout=subprocess.PIPE, env=ENV)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"holding\n"
        yield db
    finally:
        holder.kill()
        holder.wait()


@needs_proc
@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated")], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_an_append_waiting_for_the_lock(held_log: Path, signum: int, code: int, word: str) -> None:
    before = _events(held_log)
    doc = s.write_json(held_log.parent / "r1.json", s.run_doc("r1"))
    proc = subprocess.Popen([sys.executable, "-m", "auditlog", "append", "run", str(doc), "--log", str(held_log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.clean_env(),
                            preexec_fn=s.interruptible)
    try:
        _wait_until(proc, lambda calls: SYSCALLS["flock"] in calls.values(), "waited in flock(2) for the lock")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=s.TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err.decode()) == (code, b"", f"auditlog: {word}; nothing was written\n")
    assert _events(held_log) == before


@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """More events than verify scans before its first progress report (4,096)."""
    db = tmp_path_factory.mktemp("signals") / "long.db"
    with AuditLog.open(db) as log, log.writer() as w:
        for i in range(5000):
            w.record_run(s.run_doc(f"r{i:05d}", n_items=1))
    return db


@needs_proc
def test_an_interrupt_in_the_middle_of_verify(long_log: Path) -> None:
    """verify on a terminal whose output is stopped (XOFF): its first progress line blocks it in
    write(2) in the middle of the scan, where the interrupt finds it."""
    before = _events(long_log)
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[0] |= termios.IXON  # the terminal obeys XOFF/XON
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.write(master, XOFF)
    proc = subprocess.Popen([sys.executable, "-m", "auditlog", "verify", "--log", str(long_log)],
                            stdout=subprocess.PIPE, stderr=slave, env=s.clean_env(TERM="xterm"),
                            preexec_fn=s.interruptible)
    os.close(slave)
    try:
        _wait_until(proc, lambda calls: calls.get(proc.pid) == SYSCALLS["write"], "blocked writing its progress")
        proc.send_signal(signal.SIGINT)
        os.write(master, XON)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(timeout=s.TIMEOUT)
        err = _read_all(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 130, err
    assert out == b"", out  # no verdict was printed: the scan did not finish
    # It was drawing its first progress report (after 4,096 events scanned): the bar's first write
    # hides the cursor; the interrupted bar gives it back.
    assert err.startswith(b"\x1b[?25l") and b"\x1b[?25h" in err, err[:300]
    assert err.rstrip().endswith(b"auditlog: interrupted; nothing was written"), err[-300:]
    assert b"Traceback" not in err
    assert _events(long_log) == before


def _read_all(master: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            return data
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("args", [["events"], ["history"], ["events", "-o", "table"]])
def test_a_reader_that_stops_early_is_quiet_and_exit_0(tmp_path: Path, args: list[str]) -> None:
    """As a shell runs it, with pipefail: `auditlog events | head -1` does not fail the step."""
    db = tmp_path / "big.db"
    with AuditLog.open(db) as log, log.writer() as w:
        for i in range(400):  # far more output than a pipe holds
            w.record_run(s.run_doc(f"r{i}", n_items=20))
    line = " ".join([sys.executable, "-m", "auditlog", *args, "--log", str(db)])
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {line} | head -1 >/dev/null"], capture_output=True,
                          env=s.clean_env(), timeout=s.TIMEOUT, check=False)
    assert (done.returncode, done.stderr) == (0, b"")
