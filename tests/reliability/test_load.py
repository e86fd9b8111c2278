"""Load: 16 writer processes and 4 readers (2 history, 2 verify) on one log, SQLite and PostgreSQL.

For AUDITLOG_LOAD_SECONDS seconds (default 15 in the suite, so CI stays fast; the issue's
figure is 60: `AUDITLOG_LOAD_SECONDS=60 pytest tests/reliability/test_load.py -s`) every
writer appends runs one transaction at a time, timing each append, while the readers
loop: `history` (projections catch-up and a query, two readers sharing one projections
directory) and `verify` (which must say ok every time: a writer committing mid-verify
is no integrity failure). Afterwards: no lost or duplicated event, no reader error, the
chain verifies. Prints appends/s and p50/p99 append latency.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.events import RUN_RECORDED

SECONDS = float(os.environ.get("AUDITLOG_LOAD_SECONDS", "15"))
WRITERS, HISTORY_READERS, VERIFY_READERS = 16, 2, 2
HANG_GUARD = SECONDS + 120
pytestmark = pytest.mark.slow

COMMON = textwrap.dedent("""
    import json, os, sys, time
    from auditlog import AuditLog
    log_location, go, seconds, who = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    log = AuditLog.open(log_location, create=False, lock_timeout=120)
    open(f"{go}-{who}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    end = time.monotonic() + seconds
""")

WRITER = COMMON + textwrap.dedent("""
    latencies, i = [], 0
    while time.monotonic() < end:
        start = time.perf_counter()
        log.record_run({"run_id": f"{who}-{i}", "project_id": "load", "model_id": f"m-{who}", "environment": {},
                        "metrics": {"accuracy": (i % 10) / 10},
                        "items": [{"item_id": f"q{j}", "score": ((i + j) % 3) / 2, "passed": (i + j) % 2 == 0}
                                  for j in range(5)]})
        latencies.append(time.perf_counter() - start)
        i += 1
    log.close()
    print(json.dumps({"appended": i, "latencies": latencies}))
""")

READER = COMMON + textwrap.dedent("""
    kind, directory = sys.argv[5], sys.argv[6]
    rounds, last = 0, 0
    if kind == "history":
        import projections
    while time.monotonic() < end:
        if kind == "verify":
            report = log.verify()
            if not report.ok:
                sys.exit("verify failed under load: " + "; ".join(str(p) for p in report.problems[:3]))
            assert report.size >= last, (report.size, last)
            last = report.size
        else:
            view = projections.open(log, directory)
            runs = projections.list_runs(view, project_id="load", limit=20)
            assert len(runs) <= 20
            last = view.state.seq if hasattr(view, "state") else last
        rounds += 1
    log.close()
    print(json.dumps({"rounds": rounds}))
""")


def _load(location: str, tmp_path: Path) -> None:
    with AuditLog.open(location, lock_timeout=60) as log:
        size_before = log.head().size
    go = tmp_path / "go"
    projections_dir = tmp_path / "projections"
    commands = [[sys.executable, "-c", WRITER, location, str(go), str(SECONDS), f"w{k:02d}"] for k in range(WRITERS)]
    commands += [[sys.executable, "-c", READER, location, str(go), str(SECONDS), f"r{k}", kind, str(projections_dir)]
                 for k, kind in enumerate(["history"] * HISTORY_READERS + ["verify"] * VERIFY_READERS)]
    names = [c[6] for c in commands]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    try:
        deadline = time.monotonic() + HANG_GUARD
        while not all(Path(f"{go}-{n}").exists() for n in names):
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                pytest.fail(f"a process died before the start: {dead[0].communicate()[1]}")
            assert time.monotonic() < deadline, "the processes never got ready"
            time.sleep(0.01)
        go.touch()
        results = []
        for name, proc in zip(names, procs):
            out, err = proc.communicate(timeout=HANG_GUARD)
            assert proc.returncode == 0, f"{name} exited {proc.returncode}: {err[-3000:]}"
            assert "Traceback" not in err and "locked" not in err.lower(), f"{name}: {err[-3000:]}"
            results.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    writers, readers = results[:WRITERS], results[WRITERS:]
    appended = sum(r["appended"] for r in writers)
    latencies = sorted(x for r in writers for x in r["latencies"])
    expected = {f"w{k:02d}-{i}" for k, r in enumerate(writers) for i in range(r["appended"])}
    with AuditLog.open(location, create=False) as log:
        report = log.verify()
        assert report.ok, [str(p) for p in report.problems]
        runs = [e.event.subject for e in log.events(after=size_before - 1) if e.event.type == RUN_RECORDED]
    assert len(runs) == len(set(runs)), "an event was duplicated"
    assert set(runs) == expected, f"lost: {sorted(expected - set(runs))[:5]}, unexpected: {sorted(set(runs) - expected)[:5]}"
    assert report.size == size_before + appended
    assert all(r["rounds"] >= 1 for r in readers), readers
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"\nload on {location.split('?')[0] if '://' in location else 'SQLite'}: {WRITERS} writers + "
          f"{HISTORY_READERS} history + {VERIFY_READERS} verify readers for {SECONDS:g} s: {appended} appends, "
          f"{appended / SECONDS:.0f} appends/s, latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
          f"{latencies[-1] * 1000:.0f} ms; reader rounds {[r['rounds'] for r in readers]}")
    assert appended >= WRITERS, "some writer never appended"


def test_load_sqlite(tmp_path: Path) -> None:
    _load(str(tmp_path / "evals.db"), tmp_path)


def test_load_postgres(pg_url: str, tmp_path: Path) -> None:
    _load(pg_url, tmp_path)
