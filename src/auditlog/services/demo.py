"""A small, realistic demo log: what `auditlog demo` builds.

Deterministic (fixed seed, fixed times, fixed ids), so running the demo twice
appends nothing the second time: every document is already recorded.
"""

from __future__ import annotations

import random
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.evals.gate import GatePolicy, gate, verdict_document
from auditlog.services.log import AuditLog
from auditlog.services.writer import Receipt

PROJECTS = {"mmlu-pro": 60, "humaneval-lite": 40, "safety-refusals": 30}
MODELS = {"claude-x": ["1.0", "1.1", "1.2"], "gpt-y": ["2025-01", "2025-06"]}
DEMO_ORIGIN = "demo.auditlog.local/evals"  # what marks a demo log: its origin, set in its genesis


def demo_runs() -> list[dict[str, Any]]:
    rng = random.Random(2026)
    runs = []
    day = 1
    for project, n_items in PROJECTS.items():
        for model, versions in MODELS.items():
            skill = 0.55 if model == "claude-x" else 0.5
            for version in versions:
                skill += 0.04
                day += 1
                items: list[dict[str, Any]] = []
                for i in range(n_items):
                    score = min(1.0, max(0.0, rng.gauss(skill, 0.25)))
                    items.append({"item_id": f"{project}/{i:04d}", "score": round(score, 4), "passed": score >= 0.5,
                                  "latency_ms": round(rng.uniform(200, 2400), 1), "tokens": rng.randint(50, 900)})
                passed = sum(i["passed"] for i in items) / n_items
                runs.append({
                    "run_id": f"{model}::{project}::v{version}",
                    "project_id": project, "model_id": model, "model_version": version,
                    "dataset": {"name": project, "version": "2025.1"},
                    "experiment": {"id": "exp-demo-001", "group": model, "version": version},
                    "config": {"temperature": 0.0, "max_tokens": 1024, "n_shot": 5},
                    "environment": {"python": "3.11", "platform": "demo"},
                    "started_at": f"2026-01-{day:02d}T09:00:00Z", "finished_at": f"2026-01-{day:02d}T09:42:00Z",
                    "metrics": {"accuracy": round(passed, 6), "mean_latency_ms": round(
                        sum(i["latency_ms"] for i in items) / n_items, 3)},
                    "items": items,
                    "tags": {"branch": "main", "suite": "nightly"},
                })
    return runs


def check_demo_log(log: AuditLog, location: str) -> None:
    """InvalidInput unless `log` is a demo log (its origin is DEMO_ORIGIN): `auditlog demo` never
    adds its made-up runs to a real history."""
    origin = log.info().get("origin")
    if origin != DEMO_ORIGIN:
        raise InvalidInput("--log", f"{location} is not a demo log (its origin is {origin!r}, not {DEMO_ORIGIN!r}): "
                                    "the demo adds its made-up runs only to a log of its own; give another --log")


def build_demo(log: AuditLog) -> list[Receipt]:
    """Append the demo's runs, verdicts and supersession to `log` (`auditlog demo` checks first
    that it is a demo log: check_demo_log)."""
    runs = demo_runs()
    by_id = {r["run_id"]: r for r in runs}
    receipts = []
    with log.writer() as w:
        receipts += [w.record_run(run) for run in runs]
        for project in PROJECTS:
            candidate = by_id[f"claude-x::{project}::v1.2"]
            baseline = by_id[f"claude-x::{project}::v1.1"]
            result = gate(candidate, baseline, GatePolicy(tolerance=0.02))
            receipts.append(w.record_verdict(verdict_document(result, run_id=candidate["run_id"],
                                                              baseline_run_id=baseline["run_id"])))
        rerun = dict(by_id["gpt-y::safety-refusals::v2025-06"], run_id="gpt-y::safety-refusals::v2025-06-rerun",
                     config={"temperature": 0.0, "max_tokens": 2048, "n_shot": 5})
        receipts.append(w.record_run(rerun))
        receipts.append(w.supersede("gpt-y::safety-refusals::v2025-06", rerun["run_id"],
                                    "max_tokens was too low: answers were cut off"))
    return receipts
