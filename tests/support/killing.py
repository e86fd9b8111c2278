"""Killing a writer process at a point it reached: what the kill tests of SQLite
(tests/reliability/test_kill.py) and PostgreSQL (tests/postgres/test_pg_kill.py) share."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import workers

HANG_GUARD = 60  # seconds: a process that never reaches its point has hung


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until the writer creates `path` (it reached the point); fail if it exits or hangs first."""
    deadline = time.monotonic() + HANG_GUARD
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the writer exited {proc.returncode} before {path.name}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"the writer never reached {path.name}"
        time.sleep(0.002)


def kill_when_marked(proc: subprocess.Popen, marker: Path | None) -> None:
    """SIGKILL `proc` once it has created `marker` (None: now), and reap it (killed anyway if anything fails)."""
    try:
        if marker is not None:
            wait_for(marker, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_batch(location: str | Path, marker: Path, batch: str, size: int, items: int, mode: str, arg: int,
               rng: random.Random) -> bool:
    """Run one batch of `size` runs in a subprocess and SIGKILL it at the chosen point (`mode`, `arg`:
    tests.support.workers batch); True if it had committed."""
    if mode == "random":  # `arg` is an uninterrupted batch's length in progress points; a few past it complete
        argv = workers.command("stop-at", rng.randint(1, int(arg * 1.2)), "batch", location, batch, size, items,
                               "complete", 0, marker)
    else:
        argv = workers.command("batch", location, batch, size, items, mode, arg, marker)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=workers.ENV)
    if mode == "complete":
        proc.wait(timeout=HANG_GUARD)
        assert proc.returncode == 0, proc.stderr.read()
    elif mode == "random":  # stopped at a progress point it counted (workers stop-at): killed there
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("stopped "):
                break
        kill_when_marked(proc, None)
    else:
        kill_when_marked(proc, marker)
    if proc.returncode != -signal.SIGKILL:
        assert proc.returncode == 0, proc.stderr.read()
    return Path(f"{marker}.committed").exists()
