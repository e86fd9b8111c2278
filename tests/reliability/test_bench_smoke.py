"""The append/verify benchmark runs (tiny sizes) and prints each figure's ratio to its baseline.

Only that it runs and reports is checked here: timings depend on the machine, so no
figure is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "append_verify.py"
pytestmark = pytest.mark.bench

EXPECTED_RATIOS = [
    "batched append vs the naive loop (json, compact)",
    "batched append vs the naive loop (orjson)",
    "single appends vs plain one-row transactions",
    "8 writers total throughput vs 1 writer",
    "8 writers max latency / p50 latency",
    "verify vs plain read-and-rehash",
    "verify memory growth",
    "cold start auditlog append run / python -c pass",
    "cold start auditlog verify / python -c pass",
]


def test_append_verify_benchmark_quick_run_prints_every_ratio() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    ratio_lines = [line for line in done.stdout.splitlines() if line.lstrip().startswith("ratio ")]
    for label in EXPECTED_RATIOS:
        matching = [line for line in ratio_lines if label in line]
        assert matching, f"no ratio line for {label!r} in:\n{done.stdout}"
        assert re.search(r": \d+\.\d\dx\s", matching[0]), matching[0]
    # Every target is printed with its verdict, whatever the verdict is.
    assert sum("target" in line and ("met" in line or "MISSED" in line) for line in ratio_lines) >= 6
    assert "== summary ==" in done.stdout
    assert "Traceback" not in done.stderr
