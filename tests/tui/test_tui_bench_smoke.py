"""scripts/bench/tui.py runs (tiny size) and prints every figure; timings are not asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "tui.py"
pytestmark = pytest.mark.bench


def test_tui_benchmark_quick_run_prints_its_ratios():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    for label in ("TUI first frame", "TUI rows shown (projections warm)", "baseline (a) bare DataTable",
                  "baseline (b) projections.open+query_runs"):
        assert label in out, out
    assert re.search(r"ratio TUI rows shown vs \(a\) bare DataTable: \d+\.\d\dx", out), out
    assert re.search(r"ratio TUI rows shown vs \(b\) reading the runs table: \d+\.\d\dx", out), out
    assert "target: rows shown within ~1 s" in out and "Traceback" not in done.stderr
