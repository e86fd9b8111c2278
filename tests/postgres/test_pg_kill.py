"""A PostgreSQL client killed with SIGKILL in the middle of a batch: all of it or none of it.

The batch (`with log.writer() as w:` over 300 runs) runs in a subprocess that is killed
while it records run N (holding the writers' lock, nothing sent yet), right after the
batch's rows went into the open transaction (before the COMMIT), or at a random one of the
progress points the writer counts (anywhere, the COMMIT included; not a timer). The server sees the connection close and rolls back;
the log must verify, hold every run of the batch or none, and take the next append at once.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.events import RUN_RECORDED
from tests.support import workers
from tests.support.killing import HANG_GUARD, kill_batch, kill_when_marked

BATCH = 300
ITEMS = 20
pytestmark = pytest.mark.slow

def _runs_of(url: str, batch: str) -> int:
    with AuditLog.open(url, create=False) as log:
        return sum(1 for e in log.events() if e.event.type == RUN_RECORDED and e.event.subject.startswith(batch + "-"))


def _count_batch(url: str, tmp: Path, batch: str) -> tuple[bool, int]:
    """One uninterrupted batch, its progress points counted: (committed, points)."""
    marker = tmp / f"{batch}.marker"
    done = subprocess.run(workers.command("stop-at", 0, "batch", url, batch, BATCH, ITEMS, "complete", 0, marker),
                          capture_output=True, text=True, env=workers.ENV, timeout=HANG_GUARD)
    assert done.returncode == 0, done.stderr
    return Path(f"{marker}.committed").exists(), int(done.stdout.split()[-1])


def _check_after_kill(url: str, batch: str, committed: bool, size_before: int) -> int:
    with AuditLog.open(url, create=False, lock_timeout=10) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        size = log.head().size
    count = _runs_of(url, batch)
    assert count in (0, BATCH), f"{count} of the {BATCH} runs of a killed batch survived"
    assert count == (BATCH if committed else count)
    assert size == size_before + count
    start = time.monotonic()
    with AuditLog.open(url, create=False, lock_timeout=10) as log:  # the dead client's lock is gone
        receipt = log.record_run({"run_id": f"after-{batch}", "project_id": "kill", "model_id": "m",
                                  "environment": {}})
        assert receipt.new and receipt.seq == size
        assert time.monotonic() - start < 5
        report = log.verify()
        assert report.ok and report.size == size + 1
        return report.size


@pytest.mark.parametrize(("mode", "arg"), [("at-run", 150), ("before-commit", 0)])
def test_kill_at_a_chosen_point_leaves_none_of_the_batch(pg_admin, pg_url, tmp_path, mode, arg) -> None:
    with AuditLog.open(pg_url) as log:
        log.record_run({"run_id": "history", "project_id": "kill", "model_id": "m", "environment": {}})
        size = log.head().size
    assert not kill_batch(pg_url, tmp_path / "batch.marker", "batch", BATCH, ITEMS, mode, arg, random.Random(0))
    _check_after_kill(pg_url, "batch", False, size)
    assert _runs_of(pg_url, "batch") == 0


def test_kill_after_random_delays_leaves_all_or_none(pg_admin, pg_url, tmp_path) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    with AuditLog.open(pg_url) as log:
        size = log.head().size
    committed, points = _count_batch(pg_url, tmp_path, "timing")
    assert committed
    size = _check_after_kill(pg_url, "timing", True, size)
    for round_ in range(3):
        batch = f"random{round_}"
        committed = kill_batch(pg_url, tmp_path / f"{batch}.marker", batch, BATCH, ITEMS, "random", points, rng)
        size = _check_after_kill(pg_url, batch, committed, size)


def test_a_holder_killed_mid_group_loses_nothing_and_the_log_verifies(pg_admin, pg_url, tmp_path) -> None:
    """The lock holder is killed with the group's rows, outcomes and confirmation on the server and its
    COMMIT not sent: the server rolls the group back; every queued run (the killed writer's own too,
    like a COMMIT whose acknowledgement was lost) is still queued, and the next writer seals them all."""
    from auditlog.services.writer import encoded_run, prepare_document
    from auditlog.store.protocol import QueuedRun

    with AuditLog.open(pg_url) as log:
        size = log.head().size
        queued = []
        for i in range(3):  # other writers' runs, waiting for a holder
            prepared = prepare_document(workers.batch_run("queued", i, 3))
            queued.append(log.store.enqueue(QueuedRun(0, "kill", f"queued-{i:04d}", prepared.document_sha256,
                                                      b"{}", encoded_run(prepared))))
    marker = tmp_path / "sealed.marker"
    proc = subprocess.Popen(workers.command("sealer", pg_url, "killed", marker), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=workers.ENV)
    kill_when_marked(proc, marker)
    with AuditLog.open(pg_url, create=False, lock_timeout=10) as log:
        assert log.head().size == size and log.verify().ok  # nothing of the group reached the log
        mine = log.record_run(workers.batch_run("after", 0, 3))  # the next holder seals every queued run
        outcomes = []
        for ticket in queued:
            with log.store.sealing_turn(ticket) as turn:
                outcomes.append(turn.settled)
        assert [(o.seq, o.new) for o in outcomes] == [(size, True), (size + 1, True), (size + 2, True)]
        assert mine.seq == size + 4  # after the killed writer's own run, sealed in the same group
        assert log.event(size + 3).event.subject == "killed-0000"
        report = log.verify()
        assert report.ok and report.size == size + 5
