"""A writer killed with SIGKILL in the middle of a 1,000-run batch: all of it or none of it.

The batch runs in a subprocess (`with log.writer() as w:` over 1,000 runs), which is
killed at a chosen point: while it records run N (before anything reached SQLite),
right after the batch's rows went into the open transaction (before the COMMIT), or
at a random one of the progress points the writer counts (calls into auditlog code, SQLite
and OS calls before and after: anywhere, the COMMIT included; not a timer, so a slow
machine moves nothing). Afterwards the log must verify,
hold either every run of that batch or none, and take the next append.

The runs carry 30 items each (~3 KB per event), so the batch outgrows SQLite's page
cache and spills uncommitted pages into the WAL file before the commit: recovery must
ignore them.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.events import RUN_RECORDED
from tests.support import workers
from tests.support.killing import HANG_GUARD, kill_batch

BATCH = 1000
ITEMS = 30  # ~3 KB per event: the batch spills uncommitted pages into the WAL
pytestmark = pytest.mark.slow

def _runs_of(path: Path, batch: str) -> int:
    with AuditLog.open(path, create=False) as log:
        return sum(1 for e in log.events() if e.event.type == RUN_RECORDED and e.event.subject.startswith(batch + "-"))


def _count_batch(path: Path, batch: str) -> tuple[bool, int]:
    """One uninterrupted batch, its progress points counted: (committed, points)."""
    marker = path.parent / f"{batch}.marker"
    done = subprocess.run(workers.command("stop-at", 0, "batch", path, batch, BATCH, ITEMS, "complete", 0, marker),
                          capture_output=True, text=True, env=workers.ENV, timeout=HANG_GUARD)
    assert done.returncode == 0, done.stderr
    return Path(f"{marker}.committed").exists(), int(done.stdout.split()[-1])


def _check_after_kill(path: Path, batch: str, committed: bool, size_before: int) -> int:
    """The log verifies, holds all of the batch or none of it, and takes the next append."""
    with AuditLog.open(path, create=False, lock_timeout=10) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        size = log.head().size
    count = _runs_of(path, batch)
    assert count in (0, BATCH), f"{count} of the {BATCH} runs of a killed batch survived"
    if committed:
        assert count == BATCH
    assert size == size_before + count

    # The next writer is neither blocked by the dead one's lock nor confused by its leftovers.
    with AuditLog.open(path, create=False, lock_timeout=10) as log:
        receipt = log.record_run({"run_id": f"after-{batch}", "project_id": "kill", "model_id": "m",
                                  "environment": {}, "metrics": {"accuracy": 1.0}})
        assert receipt.new and receipt.seq == size
        with log.writer() as w:
            for i in range(3):
                w.record_run({"run_id": f"after-{batch}-{i}", "project_id": "kill", "model_id": "m", "environment": {}})
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        assert report.size == size + 4
        return report.size


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "evals.db"
    with AuditLog.open(path) as log:
        with log.writer() as w:
            for i in range(20):
                w.record_run({"run_id": f"history-{i}", "project_id": "kill", "model_id": "m", "environment": {}})
    return path


@pytest.mark.parametrize(("mode", "arg"), [("at-run", 1), ("at-run", 500), ("at-run", 999), ("before-commit", 0)])
def test_kill_at_a_chosen_point_leaves_none_of_the_batch(log_path: Path, mode: str, arg: int) -> None:
    with AuditLog.open(log_path, create=False) as log:
        size = log.head().size
    committed = kill_batch(log_path, log_path.parent / "batch.marker", "batch", BATCH, ITEMS, mode, arg,
                           random.Random(0))
    assert not committed
    _check_after_kill(log_path, "batch", committed, size)
    assert _runs_of(log_path, "batch") == 0


def test_kill_after_random_delays_leaves_all_or_none(log_path: Path) -> None:
    """Several batches into one log, each killed at a random progress point (some in or after the COMMIT)."""
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    # How long an uninterrupted batch is, in progress points, so the kills spread over its whole life.
    with AuditLog.open(log_path, create=False) as log:
        size = log.head().size
    committed, points = _count_batch(log_path, "timing")
    assert committed
    size = _check_after_kill(log_path, "timing", committed, size)

    for round_ in range(5):
        batch = f"random{round_}"
        committed = kill_batch(log_path, log_path.parent / f"{batch}.marker", batch, BATCH, ITEMS, "random", points, rng)
        size = _check_after_kill(log_path, batch, committed, size)
