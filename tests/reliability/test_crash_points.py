"""50 random SIGKILL points over batched appends, `auditlog checkpoint` and `auditlog projections rebuild`.

One log and one projections directory live through all of it. Each round starts a real
process doing one of the three (tests.support.workers stop-at), which counts its progress
points (calls into auditlog and projections code, SQLite and OS calls before and after)
and stops itself at point N, N random over the operation's counted length and a little past
it; the test then kills it with SIGKILL, so where it dies does not depend on the machine's
speed. Then it checks:

- the log verifies (chain, Merkle subtrees, every stored checkpoint) and holds whole
  batches only;
- the stored checkpoints grew by at most one;
- the projections are one generation, the old or the new: state.json names files that
  all exist, the tables read, and their row counts are those state.json records;
- the next append works, and catch-up brings the projections to the log's head.

The seed is fixed (AUDITLOG_CRASH_SEED overrides it) and printed, so a failure replays.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

import projections
from auditlog import AuditLog
from projections.state import State, read_state
from tests.support import workers
from tests.support.cli import ok

SEED = int(os.environ.get("AUDITLOG_CRASH_SEED", "20240611"))
ROUNDS = {"append": 20, "checkpoint": 15, "rebuild": 15}
BATCH = 300
HANG_GUARD = 60
pytestmark = pytest.mark.slow

ITEMS = 25


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "evals.db"
        self.key = root / "ci.key"
        self.projections = root / "projections"
        self.batches: dict[str, bool] = {}  # batch -> known committed (True) or unknown (False)

    def command(self, kind: str, tag: str, stop: int) -> list[str]:
        """The operation, stopping itself at progress point `stop` (0: never)."""
        if kind == "append":
            program = ["batch", self.db, tag, BATCH, ITEMS, "complete", 0, self.root / f"{tag}.marker", "crash"]
        elif kind == "checkpoint":
            program = ["cli", "checkpoint", "--key", self.key, "--log", self.db]
        else:
            program = ["cli", "projections", "rebuild", "--log", self.db, "--out", self.projections]
        return workers.command("stop-at", stop, *program)

    def checkpoints(self) -> int:
        with AuditLog.open(self.db, create=False) as log:
            return len(log.store.checkpoints())


def _run_and_kill(argv: list[str]) -> tuple[bool, int]:
    """Run argv (a stop-at worker); SIGKILL it once it has stopped itself. Returns (completed by
    itself, the progress points it counted: the point it stopped at, or its total)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=workers.ENV)
    points = None
    try:
        for line in proc.stdout:
            if line.startswith("stopped "):
                os.kill(proc.pid, signal.SIGKILL)
                points = int(line.split()[1])
                break
            if line.startswith("points "):
                points = int(line.split()[1])
        _, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == -signal.SIGKILL:
        return False, points
    assert proc.returncode == 0 and points is not None, err
    return True, points


def _check(world: World, checkpoints_before: int, old_state: State | None, kind: str) -> State:
    """The invariants after a kill; returns the projections' state after the next append and catch-up."""
    with AuditLog.open(world.db, create=False, lock_timeout=10) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        head = report.size
        counts: dict[str, int] = {}
        for e in log.events():
            if e.event.type == "run.recorded" and e.event.project == "crash":
                batch = e.event.subject.rsplit("-", 1)[0]
                counts[batch] = counts.get(batch, 0) + 1
        stored = len(log.store.checkpoints())
    assert set(counts.values()) <= {BATCH}, f"a killed batch was half-written: {counts}"
    for batch, committed in world.batches.items():
        if committed:
            assert counts.get(batch) == BATCH, f"committed batch {batch} lost"
    assert checkpoints_before <= stored <= checkpoints_before + 1

    state = read_state(world.projections)
    assert state is not None
    for name in state.files():
        assert (world.projections / name).exists(), f"state.json names {name}, which is missing"
    view = projections.open_built(world.projections)
    assert view.runs.num_rows == state.counts["runs"]
    assert state.seq < head
    if kind != "rebuild":
        assert state == old_state, "projections changed though no rebuild ran"
    elif state != old_state:  # the new generation: a rebuild folds the whole log as it was then
        assert state.seq >= old_state.seq

    # The next append and catch-up work, whoever died holding what.
    with AuditLog.open(world.db, create=False, lock_timeout=10) as log:
        receipt = log.record_run({"run_id": f"next-{head}", "project_id": "after", "model_id": "m", "environment": {}})
        assert receipt.new and receipt.seq == head
        caught = projections.catch_up(log, world.projections)
        assert caught.seq == head
        assert projections.open_built(world.projections).runs.num_rows == caught.counts["runs"]
    return caught


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    with AuditLog.open(w.db) as log:
        with log.writer() as writer:
            for i in range(1500):
                writer.record_run({"run_id": f"seed-{i}", "project_id": "seed", "model_id": "m", "environment": {},
                                   "items": [{"item_id": f"q{j}", "score": 0.5, "passed": True} for j in range(10)]})
    ok("keygen", "--name", "ci.example", "--out", w.key)
    with AuditLog.open(w.db, create=False) as log:
        projections.rebuild(log, w.projections)
    return w


def test_fifty_random_kill_points(world: World) -> None:
    rng = random.Random(SEED)
    print(f"\ncrash points: seed {SEED} (set AUDITLOG_CRASH_SEED to replay another)")
    # How many progress points each operation counts here, uninterrupted.
    lengths = {}
    for kind in ROUNDS:
        tag = f"calibrate-{kind}"
        completed, lengths[kind] = _run_and_kill(world.command(kind, tag, 0))
        assert completed
        if kind == "append":
            world.batches[tag] = True
    print("uninterrupted: " + ", ".join(f"{k} {v} points" for k, v in lengths.items()))

    plan = [kind for kind, n in ROUNDS.items() for _ in range(n)]
    rng.shuffle(plan)
    state = read_state(world.projections)
    with AuditLog.open(world.db, create=False) as log:
        state = projections.catch_up(log, world.projections)
    outcomes: dict[str, list[int]] = {kind: [0, 0] for kind in ROUNDS}  # [killed, completed]
    for round_, kind in enumerate(plan):
        stop = rng.randint(1, int(lengths[kind] * 1.1))  # a few past the end: some complete
        tag = f"k{round_:02d}"
        checkpoints = world.checkpoints()
        completed, _ = _run_and_kill(world.command(kind, tag, stop))
        outcomes[kind][completed] += 1
        if kind == "append":
            world.batches[tag] = completed
        try:
            state = _check(world, checkpoints, state, kind)
        except AssertionError as exc:
            raise AssertionError(f"round {round_} ({kind} killed at point {stop} of {lengths[kind]}, seed {SEED}): "
                                 f"{exc}") from exc
    print("killed/completed: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in outcomes.items()))
    assert sum(v[0] for v in outcomes.values()) >= 25, f"too few kills landed mid-operation: {outcomes}"
