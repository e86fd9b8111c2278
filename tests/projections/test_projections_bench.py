"""The projections benchmark runs (tiny sizes) and prints every figure with its ratio.

Only that it runs and reports is checked: timings depend on the machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "projections.py"
pytestmark = pytest.mark.bench


def test_projections_benchmark_quick_run_prints_every_ratio() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert "== summary ==" in out and "Traceback" not in done.stderr
    for label in ("rebuild vs plain pyarrow write of the same rows", "catch-up of one run vs plain write",
                  "history CLI vs python -c"):
        line = next((line for line in out.splitlines() if label in line), None)
        assert line and re.search(r": \d+\.\d\dx ", line), out
    assert re.search(r"target <= 2x: (met|MISSED)", out)
    assert re.search(r"history \(API, up to date, limit 50\): [\d.]+ms", out)
