"""scripts/bench/run_all.py: it runs benchmarks, collects their ratio lines, writes JSON and markdown.

The smoke run is `--quick` on the two fastest benchmarks (the others have smoke tests of
their own; all of them with --quick take ~35 s here), run once for this test and the proofs
and encoding smoke tests together (tests/support/bench.py). The parser is checked on one line
of every format the benchmarks print. No figure is asserted: timings depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bench import SCRIPTS, load_run_all

SCRIPT = SCRIPTS / "run_all.py"
run_all = load_run_all()  # by path: scripts/bench on sys.path would shadow the `projections` package


@pytest.mark.bench
def test_run_all_quick_writes_json_and_markdown(quick_runs) -> None:  # noqa: ANN001
    out = quick_runs.out
    done = quick_runs.run_all
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"wrote {out / 'bench-results.json'}" in done.stdout
    results = json.loads((out / "bench-results.json").read_text())
    assert results["quick"] is True
    assert [b["benchmark"] for b in results["benchmarks"]] == ["encoding", "proofs"]
    proofs = results["benchmarks"][1]
    assert proofs["returncode"] == 0 and len(proofs["ratios"]) >= 3
    for figure in proofs["ratios"]:
        assert figure["target"] == ">= 100x" and figure["status"] in ("met", "missed") and figure["ratio"] > 0
    table = (out / "bench-results.md").read_text()
    assert "| benchmark | figure | ratio | target | met? |" in table
    assert "inclusion proof vs full root recomputation" in table


def test_unknown_benchmark_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no benchmark nope" in done.stderr


def test_every_ratio_format_parses() -> None:
    lines = {
        "  ratio 8 writers max latency / p50 latency: 4.76x   (target <= 20x (fair queueing): met)":
            ("8 writers max latency / p50 latency", 4.76, "x", "<= 20x (fair queueing)", "met"),
        "  ratio verify memory growth 10,000 / 2,000 events: 1.43x   (target flat: <= 1.5x or within 4 MiB: met)":
            ("verify memory growth 10,000 / 2,000 events", 1.43, "x", "flat: <= 1.5x or within 4 MiB", "met"),
        "ratio rebuild vs plain write (from_pylist): 6.44x  (0.171s vs 0.027s)  (target <= 2x: MISSED)":
            ("rebuild vs plain write (from_pylist)", 6.44, "x", "<= 2x", "missed"),
        "  ratio inclusion proof vs full root recomputation: 75.9x faster   (target >= 100x: MISSED)":
            ("inclusion proof vs full root recomputation", 75.9, "x faster", ">= 100x", "missed"),
        "ratio TUI rows shown vs (a) bare DataTable: 0.74x (1.3 times faster)":
            ("TUI rows shown vs (a) bare DataTable", 0.74, "x", None, "no target"),
        "  ratio single appends vs plain one-row transactions: 0.21x   (no target)":
            ("single appends vs plain one-row transactions", 0.21, "x", None, "no target"),
        "  ratio sqlite 16 writer(s) appends vs plain INSERTs: 1.03x": ("sqlite 16 writer(s) appends vs plain INSERTs",
                                                                        1.03, "x", None, "no target"),
    }
    for line, expected in lines.items():
        [figure] = run_all.parse_ratios(line)
        assert (figure["label"], figure["ratio"], figure["unit"], figure["target"], figure["status"]) == expected
    assert run_all.parse_ratios("  batched append  12,000 runs/s\n== summary ==") == []
