"""The fixture log, and what every view of it must say, recomputed straight from the documents.

`make_corpus` writes a log of several projects, models, versions and experiments
(a few hundred runs, tens of thousands of items) through the public API, with
verdicts, annotations and supersessions, and keeps every document and receipt.
The `expected_*` functions recompute, in plain Python and without the projections
package, what the runs, items, trends and A/B summaries must be. They follow
docs/projections.md, not the code.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from auditlog import AuditLog

PROJECTS = ("mmlu-pro", "gsm8k", "humaneval", "safety")
MODELS = {"claude-x": ("1.0", "1.1", "1.2"), "gpt-y": ("2025-01", "2025-06"), "llama-z": ("3",)}
EXPERIMENTS = {"exp-ab": ("control", "treatment"), "exp-abc": ("a", "b", "c")}
TS = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass
class Corpus:
    db: Path
    now: datetime
    runs: list[dict[str, Any]] = field(default_factory=list)  # documents as submitted, in log order
    seq: dict[str, int] = field(default_factory=dict)  # run_id -> seq of its run.recorded
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> event hash
    verdicts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (seq, document)
    annotations: list[tuple[int, str, dict[str, str], str | None]] = field(default_factory=list)
    supersessions: list[tuple[int, str, str, str]] = field(default_factory=list)  # (seq, old, by, reason)
    overrides: list[tuple[int, int, str, str]] = field(default_factory=list)  # (seq, verdict seq, to, reason)
    pins: list[tuple[int, str, str, str | None]] = field(default_factory=list)  # (seq, run_id, project, model)

    def run(self, run_id: str) -> dict[str, Any]:
        return next(r for r in self.runs if r["run_id"] == run_id)


def _items(rng: random.Random, project: str, skill: float, n: int) -> list[dict[str, Any]]:
    ids = rng.sample(range(int(n * 1.2)), n)  # runs of a project share most items, not all
    items = []
    for k in sorted(ids):
        score = min(1.0, max(0.0, round(rng.gauss(skill, 0.3), 3)))
        if rng.random() < 0.05:
            score = rng.choice([0, 1])  # integral scores: JSON keeps them as ints
        item: dict[str, Any] = {"item_id": f"{project}/q{k:04d}", "score": score,
                                "passed": score >= 0.5 if rng.random() > 0.03 else score < 0.5}
        if rng.random() < 0.8:
            item["latency_ms"] = round(rng.uniform(50, 3000), 1)
            item["tokens"] = rng.randint(1, 2000)
        if rng.random() < 0.3:
            item["cost_usd"] = round(rng.uniform(0, 0.01), 6)
        if rng.random() < 0.02:
            item["error"] = rng.choice(["timeout", "refused\nto answer", "bad \x1b[31mformat"])
        if rng.random() < 0.02:
            item["extra"] = {"z": [1, 2.5, "é"], "a": {"nested": True}, "tiny": 1e-7}
        items.append(item)
    return items


def make_corpus(directory: Path, n_runs: int = 320, seed: int = 2026) -> Corpus:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    corpus = Corpus(directory / "evals.db", now)
    with AuditLog.open(corpus.db, origin="example.org/projections-tests") as log, log.writer() as w:
        for i in range(n_runs):
            project = PROJECTS[i % len(PROJECTS)]
            model = rng.choice(sorted(MODELS))
            version = rng.choice(MODELS[model])
            doc: dict[str, Any] = {
                "run_id": f"{model}::{project}::r{i:04d}", "project_id": project, "model_id": model,
                "dataset": {"name": project, "version": rng.choice(["2025.1", "2025.2"]),
                            "sha256": hashlib.sha256(project.encode()).hexdigest()},
                "config": {"temperature": rng.choice([0.0, 0.7]), "shots": rng.choice([0, 5])},
                "environment": {"python": "3.11", "platform": "test"},
                "metrics": {"accuracy": round(rng.random(), 4), "latency_ms": rng.randint(100, 900)},
                "tags": {"suite": rng.choice(["nightly", "release"]), "branch": "main"},
            }
            if rng.random() < 0.9:
                doc["model_version"] = version
            if rng.random() < 0.7:
                doc["metrics"]["f1"] = round(rng.random(), 4)
            if rng.random() < 0.85:
                started = now - timedelta(days=rng.uniform(0, 60))
                offset = rng.choice([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)])
                text = (started + offset).replace(tzinfo=timezone(offset)).isoformat()
                doc["started_at"] = text.replace("+00:00", "Z") if rng.random() < 0.5 else text
                doc["finished_at"] = (started + timedelta(minutes=rng.randint(1, 90))).isoformat()
            if rng.random() < 0.75:
                exp = rng.choice(sorted(EXPERIMENTS))
                doc["experiment"] = {"id": exp, "group": rng.choice(EXPERIMENTS[exp]), "version": str(rng.randint(1, 3))}
            n_items = 0 if i % 97 == 5 else rng.randint(40, 180)
            skill = {"claude-x": 0.6, "gpt-y": 0.55, "llama-z": 0.5}[model] + 0.02 * MODELS[model].index(version)
            doc["items"] = _items(rng, project, skill, n_items)
            receipt = w.record_run(doc)
            corpus.runs.append(doc)
            corpus.seq[doc["run_id"]] = receipt.seq
            corpus.hashes[receipt.seq] = receipt.hash

            recorded = [r["run_id"] for r in corpus.runs if r["project_id"] == project]
            if len(recorded) > 2 and rng.random() < 0.15:
                baseline = rng.choice(recorded[:-1])
                verdict = {"run_id": doc["run_id"], "baseline_run_id": baseline, "metric": "accuracy",
                           "delta": round(rng.uniform(-0.1, 0.1), 4), "p_value": round(rng.random(), 4),
                           "ci_low": -0.05, "ci_high": 0.07, "verdict": rng.choice(["ALLOW", "BLOCK", "NEEDS_REVIEW"]),
                           "policy": {"alpha": 0.05, "mode": "non-inferiority"}, "reason": "test"}
                receipt = w.record_verdict(verdict)
                corpus.verdicts.append((receipt.seq, verdict))
                corpus.hashes[receipt.seq] = receipt.hash
            if corpus.verdicts and rng.random() < 0.05:
                verdict_seq = rng.choice(corpus.verdicts)[0]  # sometimes one a later verdict replaced
                to = rng.choice(["ALLOW", "BLOCK", "NEEDS_REVIEW"])
                receipt = w.override_verdict(verdict_seq, to, f"reviewed {i}")
                corpus.overrides.append((receipt.seq, verdict_seq, to, f"reviewed {i}"))
                corpus.hashes[receipt.seq] = receipt.hash
            if rng.random() < 0.04:
                model_scope = rng.choice([None, doc["model_id"]])
                receipt = w.pin_baseline(doc["run_id"], project=project, model=model_scope,
                                         reason=None if model_scope else "project-wide")
                corpus.pins.append((receipt.seq, doc["run_id"], project, model_scope))
                corpus.hashes[receipt.seq] = receipt.hash
            if i > 10 and rng.random() < 0.1:
                target = rng.choice(corpus.runs[:-1])["run_id"]
                tags = {"reviewed": rng.choice(["yes", "no"]), "suite": "override"} if rng.random() < 0.5 else {}
                note = f"note {i}" if not tags or rng.random() < 0.5 else None
                receipt = w.annotate(target, tags=tags or None, note=note)
                corpus.annotations.append((receipt.seq, target, tags, note))
                corpus.hashes[receipt.seq] = receipt.hash
            if i > 20 and rng.random() < 0.04:
                superseded = {s[1] for s in corpus.supersessions}
                old = rng.choice([r["run_id"] for r in corpus.runs[:-1] if r["run_id"] not in superseded])
                receipt = w.supersede(old, doc["run_id"], f"rerun {i}")
                corpus.supersessions.append((receipt.seq, old, doc["run_id"], f"rerun {i}"))
                corpus.hashes[receipt.seq] = receipt.hash
        # a run that gets two verdicts: the latest (highest seq) is the one that shows
        last = corpus.runs[-1]["run_id"]
        for verdict_name in ("BLOCK", "ALLOW"):
            verdict = {"run_id": last, "baseline_run_id": corpus.runs[-2]["run_id"], "metric": "accuracy",
                       "verdict": verdict_name}
            receipt = w.record_verdict(verdict)
            corpus.verdicts.append((receipt.seq, verdict))
            corpus.hashes[receipt.seq] = receipt.hash
        # overruling the older of the two changes that verdict's row, not the run's current verdict
        receipt = w.override_verdict(corpus.verdicts[-2][0], "NEEDS_REVIEW", "second look")
        corpus.overrides.append((receipt.seq, corpus.verdicts[-2][0], "NEEDS_REVIEW", "second look"))
    return corpus


# -- what the views must say, recomputed from the documents -----------------------------------


def utc_text(value: str | None) -> str | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).strftime(TS)


def event_ts(db: Path) -> dict[int, str]:
    """seq -> ts, read with sqlite3 (not through auditlog)."""
    import sqlite3
    con = sqlite3.connect(db)
    try:
        return {seq: json.loads(body)["ts"] for seq, body in con.execute("SELECT seq, body FROM events")}
    finally:
        con.close()


def expected_runs(c: Corpus) -> dict[str, dict[str, Any]]:
    """Every run's row, as docs/projections.md defines each field."""
    ts = event_ts(c.db)
    out = {}
    for doc in c.runs:
        items = doc["items"]
        n = len(items)
        dataset, experiment = doc.get("dataset", {}), doc.get("experiment", {})
        out[doc["run_id"]] = {
            "run_id": doc["run_id"], "project_id": doc["project_id"], "model_id": doc["model_id"],
            "model_version": doc.get("model_version"),
            "dataset_name": dataset.get("name"), "dataset_version": dataset.get("version"),
            "dataset_sha256": dataset.get("sha256"),
            "experiment_id": experiment.get("id"), "experiment_group": experiment.get("group"),
            "experiment_version": experiment.get("version"),
            "config_fingerprint": hashlib.sha256(canonical(doc["config"]).encode()).hexdigest(),
            "started_at": utc_text(doc.get("started_at")), "finished_at": utc_text(doc.get("finished_at")),
            "recorded_at": ts[c.seq[doc["run_id"]]],
            "n_items": n, "n_passed": sum(1 for i in items if i["passed"]),
            "pass_rate": sum(1 for i in items if i["passed"]) / n if n else None,
            "mean_score": math.fsum(i["score"] for i in items) / n if n else None,
            "metrics": {k: float(v) for k, v in doc["metrics"].items()},
            "tags": dict(doc.get("tags", {})), "notes": [],
            "status": "active", "superseded_by": None, "superseded_reason": None,
            "verdict": None, "verdict_seq": None, "override_seq": None,
            "seq": c.seq[doc["run_id"]], "event_hash": c.hashes[c.seq[doc["run_id"]]],
        }
    changes = ([(seq, "annotate", (run_id, tags, note)) for seq, run_id, tags, note in c.annotations]
               + [(seq, "supersede", (old, by, reason)) for seq, old, by, reason in c.supersessions]
               + [(seq, "verdict", doc) for seq, doc in c.verdicts]
               + [(seq, "override", (verdict_seq, to)) for seq, verdict_seq, to, _ in c.overrides])
    run_of = {seq: doc["run_id"] for seq, doc in c.verdicts}
    for seq, kind, what in sorted(changes, key=lambda x: x[0]):
        if kind == "annotate":
            run = out[what[0]]
            run["tags"].update(what[1])
            if what[2]:
                run["notes"].append(what[2])
        elif kind == "supersede":
            out[what[0]].update(status="superseded", superseded_by=what[1], superseded_reason=what[2])
        elif kind == "verdict":
            out[what["run_id"]].update(verdict=what["verdict"], verdict_seq=seq, override_seq=None)
        elif out[run_of[what[0]]]["verdict_seq"] == what[0]:  # an override of the run's latest verdict
            out[run_of[what[0]]].update(verdict=what[1], override_seq=seq)
    return out


def expected_verdicts(c: Corpus) -> list[tuple]:
    """(seq, run_id, baseline, metric, delta, p_value, verdict, policy text, reason, overridden_to, override
    reason, override seq) per verdict, in seq order; the latest override of a verdict counts."""
    overrides = {verdict_seq: (to, reason, seq) for seq, verdict_seq, to, reason in sorted(c.overrides)}
    return [(seq, v["run_id"], v["baseline_run_id"], v["metric"], v.get("delta"), v.get("p_value"), v["verdict"],
             canonical(v["policy"]) if "policy" in v else None, v.get("reason"), *overrides.get(seq, (None,) * 3))
            for seq, v in c.verdicts]


def run_time(run: dict[str, Any]) -> str:
    return run["started_at"] or run["recorded_at"]


def expected_trend(runs: dict[str, dict[str, Any]], project: str, metric: str, by: str, group: str | None = None,
                   since: str | None = None) -> list[dict[str, Any]]:
    column = {"model_version": "model_version", "experiment.version": "experiment_version", "model_id": "model_id"}[by]
    points: dict[Any, list[dict[str, Any]]] = {}
    for run in sorted(runs.values(), key=lambda r: r["seq"]):
        if run["project_id"] != project or run["status"] != "active":
            continue
        if group is not None and run["experiment_group"] != group:
            continue
        if since is not None and run_time(run) < since:
            continue
        value = run[metric] if metric in ("pass_rate", "mean_score") else run["metrics"].get(metric)
        if value is not None:
            points.setdefault(run[column], []).append((value, run))
    return [{"key": key, "samples": len(v), "avg": math.fsum(x for x, _ in v) / len(v), "min": min(x for x, _ in v),
             "max": max(x for x, _ in v), "last": v[-1][0], "last_run_id": v[-1][1]["run_id"],
             "last_recorded_at": v[-1][1]["recorded_at"]} for key, v in points.items()]


def expected_ab(c: Corpus, runs: dict[str, dict[str, Any]], experiment: str, baseline: str | None = None) -> list[dict]:
    docs = {d["run_id"]: d for d in c.runs}
    members = [r for r in sorted(runs.values(), key=lambda r: r["seq"])
               if r["experiment_id"] == experiment and r["status"] == "active" and r["experiment_group"] is not None]
    groups = sorted({r["experiment_group"] for r in members})
    baseline = baseline or groups[0]
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in members:
        cells[(r["project_id"], r["experiment_group"])].append(r)

    def item_means(cell: list[dict[str, Any]]) -> dict[str, float]:
        scores: dict[str, list[float]] = defaultdict(list)
        for r in cell:
            for item in docs[r["run_id"]]["items"]:
                scores[item["item_id"]].append(item["score"])
        return {k: math.fsum(v) / len(v) for k, v in scores.items()}

    def figures(cell: list[dict[str, Any]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for r in cell:
            for name in ("pass_rate", "mean_score"):
                if r[name] is not None:
                    out[name].append(r[name])
            for name, value in r["metrics"].items():
                out[f"metrics.{name}"].append(value)
        return out

    def item_figures(cell: list[dict[str, Any]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for r in cell:
            for item in docs[r["run_id"]]["items"]:
                for name in ITEM_FIGURES:
                    if item.get(name) is not None:
                        out[name].append(item[name])
        return out

    rows = []
    for task in sorted({t for t, _ in cells}):
        base_cell = cells.get((task, baseline), [])
        for group in groups:
            mine = cells.get((task, group), [])
            if group == baseline or not (mine or base_cell):
                continue
            a, b = item_means(mine), item_means(base_cell)
            common = a.keys() & b.keys()
            fa, fb = figures(mine), figures(base_cell)
            names = ["pass_rate", "mean_score"] + sorted(n for n in fa.keys() | fb.keys() if n.startswith("metrics."))
            ia, ib = item_figures(mine), item_figures(base_cell)
            rows.append({
                "task": task, "group": group, "baseline": baseline, "runs": len(mine), "baseline_runs": len(base_cell),
                "items": len(common), "wins": sum(a[i] > b[i] for i in common),
                "losses": sum(a[i] < b[i] for i in common), "ties": sum(a[i] == b[i] for i in common),
                "improvement": {n: (math.fsum(fa[n]) / len(fa[n]) - math.fsum(fb[n]) / len(fb[n]))
                                if fa.get(n) and fb.get(n) else None for n in names},
                "figures": [ab_figure(n, {**fb, **ib}.get(n), {**fa, **ia}.get(n))
                            for n in [*names, *(f for f in ITEM_FIGURES if ia.get(f) or ib.get(f))]],
            })
    return rows


ITEM_FIGURES = ("latency_ms", "tokens", "cost_usd")


def ab_figure(name: str, base: list[float] | None, mine: list[float] | None) -> dict[str, Any]:
    """A figure of an A/B row as docs/projections.md defines it: lower is better for the items' latency,
    tokens and cost, and for metrics whose name says latency, cost, token, duration, seconds, error or loss."""
    lower = name in ITEM_FIGURES or (name.startswith("metrics.") and any(
        w in name.lower() for w in ("latency", "cost", "token", "duration", "seconds", "error", "loss")))
    b = math.fsum(base) / len(base) if base else None
    v = math.fsum(mine) / len(mine) if mine else None
    improvement = None if b is None or v is None else (b - v if lower else v - b)
    pct = None if improvement is None or b == 0 else improvement / abs(b) * 100
    return {"name": name, "lower_is_better": lower, "baseline": b, "value": v, "improvement": improvement,
            "improvement_pct": pct}


def expected_pinned(c: Corpus, project: str, model: str | None) -> str | None:
    """The latest pin for (project, model), else the latest project-wide one (docs/projections.md)."""
    for scope in ([model] if model else []) + [None]:
        found = [run_id for seq, run_id, p, m in sorted(c.pins) if p == project and m == scope]
        if found:
            return found[-1]
    return None


def canonical(value: Any) -> str:
    """RFC 8785 text, from the test extra `rfc8785` (an implementation that is not ours)."""
    import rfc8785
    return rfc8785.dumps(value).decode("utf-8")


def expected_items(c: Corpus, run_id: str) -> list[dict[str, Any]]:
    doc = c.run(run_id)
    return [{"run_id": run_id, "seq": c.seq[run_id], "item_id": i["item_id"], "score": float(i["score"]),
             "passed": i["passed"], "latency_ms": i.get("latency_ms"), "tokens": i.get("tokens"),
             "cost_usd": i.get("cost_usd"), "error": i.get("error"),
             "extra": canonical(i["extra"]) if "extra" in i else None} for i in doc["items"]]
