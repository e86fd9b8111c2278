"""The stores benchmark runs (tiny sizes) on SQLite and PostgreSQL and prints every ratio.

Only that it runs and reports is checked: timings depend on the machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "stores.py"
pytestmark = pytest.mark.bench


def test_stores_benchmark_quick_run_prints_every_ratio(pg_admin, pg_server) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--pg", pg_server], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    ratios = [line for line in done.stdout.splitlines() if line.lstrip().startswith("ratio ")]
    for kind in ("sqlite", "postgres"):
        for writers in (1, 4, 16):
            assert any(re.search(rf"ratio {kind} +{writers} writer\(s\) appends vs plain INSERTs: \d+\.\d\dx", line)
                       for line in ratios), done.stdout
        assert any(f"ratio {kind} verify vs plain read-and-rehash" in line for line in ratios), done.stdout
    assert "copy SQLite -> PostgreSQL" in done.stdout and "== summary ==" in done.stdout
    assert "Traceback" not in done.stderr
    prefix = re.search(r"postgres schemas: (auditlog_bench_\w+?)_\* ", done.stdout).group(1)
    leftover = pg_admin.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)).fetchone()
    assert leftover == (0,), "the benchmark left schemas behind"
