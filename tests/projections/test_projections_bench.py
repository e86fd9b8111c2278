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
    for label, target in (("vs plain pyarrow write of the same item rows from column lists", "<= 3x"),
                          ("catch-up of one run, 300-run log vs 30-run log", "<= 1.5x"),
                          ("history CLI (--project gsm8k --model gpt-y --limit 50), 300-run log", "<= 1.5x"),
                          ("trend CLI (--project gsm8k --metric accuracy), 300-run log", "<= 2x")):
        line = next((line for line in out.splitlines() if label in line), None)
        assert line and re.search(rf"^  ratio .*: \d+\.\d\dx   median \d+\.\d\dx, load .*\(target {re.escape(target)}: "
                                  r"(met|MISSED)\)$", line), out
