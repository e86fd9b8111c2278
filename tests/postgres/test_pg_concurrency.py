"""16 processes x 50 appends at once into one PostgreSQL log that none of them has created yet.

Real processes, released together from behind barrier files: they race to create the
schema, then all append at once, one transaction per run. The chain must not fork, no
event may be lost, the Merkle tree must verify, and no process may print anything.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.events import RUN_RECORDED
from tests.support import workers

WRITERS = 16
APPENDS = 50
HANG_GUARD = 120
pytestmark = pytest.mark.slow

def _release_together(commands: list[list[str]], tmp: Path, phases: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=workers.ENV)
             for cmd in commands]
    try:
        for phase in phases:
            deadline = time.monotonic() + HANG_GUARD
            while not all((tmp / f"{phase}-{k}").exists() for k in range(len(procs))):
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


def test_sixteen_processes_fifty_appends_each_into_one_fresh_log(pg_admin, pg_url, tmp_path: Path) -> None:
    commands = [workers.command("appender", pg_url, tmp_path, k, APPENDS, 0, "example.org/concurrency")
                for k in range(WRITERS)]

    results = _release_together(commands, tmp_path, ["open", "append"])

    for result in results:
        assert result.returncode == 0 and result.stderr.strip() == "", (result.args[-2], result.stderr)
    size = 1 + WRITERS * APPENDS
    with AuditLog.open(pg_url, create=False) as log:
        report = log.verify()  # the chain, every stored Merkle subtree, the root
        assert report.ok, [str(p) for p in report.problems]
        events = list(log.events())
        assert log.root().hex() == report.root
    assert report.size == size == 801
    assert [e.seq for e in events] == list(range(size)), "seqs are not contiguous from 0"
    for before, after in zip(events, events[1:]):
        assert after.event.prev == before.hash, f"seq {after.seq} does not link to seq {before.seq}"
    runs = [e.event.subject for e in events if e.event.type == RUN_RECORDED]
    assert len(runs) == len(set(runs)) == WRITERS * APPENDS
    assert set(runs) == {f"w{k}-r{i}" for k in range(WRITERS) for i in range(APPENDS)}
    assert sum(e.event.type == "log.created" for e in events) == 1, "two processes created a genesis"
