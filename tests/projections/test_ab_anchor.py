"""`ab` reports like code-chef's summary: accuracy +18.5%, latency reduction +24.2%, cost reduction +13.7%.

Two tasks, a baseline group and a code-chef group, with figures chosen so that the per-task
improvements are round (accuracy +20% and +17%, latency -25% and -23.4%, cost -15% and -12.4%)
and their averages over the tasks are code-chef's anchor figures; the arithmetic is checked by hand.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from auditlog import AuditLog
from tests.support.cli import ok

# task -> group -> (accuracy of each run, p95_latency_ms, item latency, tokens, cost, item scores)
PLAN: dict[str, dict[str, tuple[list[float], float, list[float], int, float, list[float]]]] = {
    "feature-dev": {
        "baseline": ([0.60], 3000.0, [1800.0, 2200.0, 2000.0, 2000.0], 1000, 0.010, [0.5, 0.5, 0.5, 0.5]),
        "code-chef": ([0.70, 0.74], 2400.0, [1400.0, 1600.0, 1500.0, 1500.0], 800, 0.0085, [1.0, 0.5, 0.0, 1.0]),
    },
    "code-review": {
        "baseline": ([0.80], 3000.0, [1000.0] * 4, 1000, 0.020, [0.5, 0.5, 0.5, 0.5]),
        "code-chef": ([0.936], 2400.0, [766.0] * 4, 900, 0.01752, [1.0, 0.5, 0.0, 1.0]),
    },
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ab") / "evals.db"
    with AuditLog.open(path) as log:
        for task, groups in PLAN.items():
            for group, (accuracies, p95, latencies, tokens, cost, scores) in groups.items():
                for k, accuracy in enumerate(accuracies):
                    log.record_run({
                        "project_id": task, "model_id": group, "run_id": f"{group}::{task}::{k}",
                        "experiment": {"id": "chef-2025", "group": group},
                        "metrics": {"accuracy": accuracy, "p95_latency_ms": p95},
                        "items": [{"item_id": f"q{i}", "score": s, "passed": s >= 0.5, "latency_ms": lat,
                                   "tokens": tokens, "cost_usd": cost}
                                  for i, (s, lat) in enumerate(zip(scores, latencies))]})
    return path


def figures(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in row["figures"]}


def test_per_task_and_overall_figures(db: Path) -> None:
    summary = json.loads(ok("ab", "--log", db, "--experiment", "chef-2025", "-o", "json").out)
    assert summary["baseline"] == "baseline" and summary["groups"] == ["baseline", "code-chef"]
    review, dev = summary["rows"]
    assert (dev["task"], dev["runs"], dev["baseline_runs"]) == ("feature-dev", 2, 1)
    for row in (review, dev):
        assert (row["items"], row["wins"], row["losses"], row["ties"]) == (4, 2, 1, 1)
    d, r = figures(dev), figures(review)
    assert d["metrics.accuracy"]["value"] == pytest.approx(0.72) and not d["metrics.accuracy"]["lower_is_better"]
    assert d["metrics.accuracy"]["improvement_pct"] == pytest.approx(20.0)
    assert r["metrics.accuracy"]["improvement_pct"] == pytest.approx(17.0)
    assert d["latency_ms"]["lower_is_better"] and d["latency_ms"]["improvement"] == pytest.approx(500.0)
    assert d["latency_ms"]["improvement_pct"] == pytest.approx(25.0)
    assert r["latency_ms"]["improvement_pct"] == pytest.approx(23.4)
    assert d["cost_usd"]["improvement_pct"] == pytest.approx(15.0)
    assert r["cost_usd"]["improvement_pct"] == pytest.approx(12.4)
    assert d["tokens"]["improvement"] == 200 and r["tokens"]["improvement_pct"] == pytest.approx(10.0)
    assert d["metrics.p95_latency_ms"]["lower_is_better"] and d["metrics.p95_latency_ms"]["improvement_pct"] == \
        pytest.approx(20.0)
    assert dev["improvement"]["metrics.p95_latency_ms"] == -600.0, "the plain difference is kept as it was"

    (overall,) = summary["overall"]
    assert overall["task"] is None and overall["group"] == "code-chef"
    assert (overall["runs"], overall["baseline_runs"], overall["items"]) == (3, 2, 8)
    assert (overall["wins"], overall["losses"], overall["ties"]) == (4, 2, 2)
    o = figures(overall)
    assert o["metrics.accuracy"]["improvement_pct"] == pytest.approx(18.5)      # (20 + 17) / 2
    assert o["metrics.accuracy"]["improvement"] == pytest.approx(0.128)         # (0.12 + 0.136) / 2
    assert o["latency_ms"]["improvement_pct"] == pytest.approx(24.2)            # (25 + 23.4) / 2
    assert o["latency_ms"]["improvement"] == pytest.approx(367.0)               # (500 + 234) / 2
    assert o["cost_usd"]["improvement_pct"] == pytest.approx(13.7)             # (15 + 12.4) / 2
    assert o["tokens"]["improvement_pct"] == pytest.approx(15.0)


def test_the_table_reads_like_code_chefs_summary(db: Path) -> None:
    lines = ok("ab", "--log", db, "--experiment", "chef-2025").out.splitlines()
    overall = [line.split() for line in lines if line.startswith("(all tasks)")]
    assert overall[0][2:5] == ["code-chef", "baseline", "3"]
    by_figure = {" ".join(parts[3:-4]): parts[-1] for parts in overall[1:]}
    assert by_figure["metrics.accuracy"] == "+18.5%"
    assert by_figure["latency_ms reduction"] == "+24.2%"
    assert by_figure["cost_usd reduction"] == "+13.7%"
    assert by_figure["tokens reduction"] == "+15.0%"


def test_figure_records_and_declared_metrics(db: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(ok("ab", "--log", db, "--experiment", "chef-2025", "--figures",
                                              "--lower-is-better", "", "-o", "csv").out)))
    p95 = [r for r in rows if r["figure"] == "metrics.p95_latency_ms"]
    assert [(r["task"], r["lower_is_better"], float(r["improvement_pct"])) for r in p95] == \
        [("code-review", "false", pytest.approx(-20.0)), ("feature-dev", "false", pytest.approx(-20.0)),
         ("", "false", pytest.approx(-20.0))]
    assert {r["lower_is_better"] for r in rows if r["figure"] == "latency_ms"} == {"true"}, "items' latency: always"
    declared = json.loads(ok("ab", "--log", db, "--experiment", "chef-2025", "--lower-is-better", "accuracy",
                             "-o", "json").out)
    acc = figures(declared["overall"][0])["metrics.accuracy"]
    assert acc["lower_is_better"] and acc["improvement_pct"] == pytest.approx(-18.5)
    wide = list(csv.DictReader(io.StringIO(ok("ab", "--log", db, "--experiment", "chef-2025", "-o", "csv").out)))
    assert [r["task"] for r in wide] == ["code-review", "feature-dev", ""]
    assert float(wide[1]["improvement.metrics.accuracy"]) == pytest.approx(0.12)
