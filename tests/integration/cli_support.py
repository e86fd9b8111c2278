"""Shared helpers for the integration tests: the CLI (tests.support.cli, re-exported), documents,
a log's fingerprint.

Not a conftest: plain functions, imported by the test modules.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from tests.support.cli import (  # noqa: F401 - re-exported
    TIMEOUT,
    Result,
    clean_env,
    cli,
    interruptible,
    ok,
    one_line_error,
    run_process,
)


def fingerprint(db: Path) -> dict[str, str | None]:
    """SHA-256 of the database file and of its WAL (None when absent): equal means byte-for-byte unchanged."""
    out: dict[str, str | None] = {}
    for suffix in ("", "-wal"):
        path = Path(f"{db}{suffix}")
        out[suffix or "db"] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    return out


def parse_events_jsonl(raw: bytes) -> list[tuple[int, str, bytes]]:
    """Split `auditlog events` output into (seq, hash, exact event bytes), checking the line framing."""
    out = []
    for line in raw.splitlines():
        head = json.loads(line)  # the whole line is JSON too
        prefix = b'{"seq":%d,"hash":"%s","event":' % (head["seq"], head["hash"].encode())
        assert line.startswith(prefix) and line.endswith(b"}"), line[:200]
        out.append((head["seq"], head["hash"], line[len(prefix):-1]))
    return out


def run_doc(run_id: str, project: str = "mmlu-pro", model: str = "acme-7b", *, n_items: int = 4,
            version: str = "1.0", seed: int = 0, **extra: Any) -> dict[str, Any]:
    """A small, valid run document with deterministic items."""
    items = []
    for i in range(n_items):
        score = ((i * 7 + seed * 3) % 10) / 10
        items.append({"item_id": f"q{i}", "score": score, "passed": score >= 0.5,
                      "latency_ms": 10.5 + i, "tokens": 100 + i})
    doc: dict[str, Any] = {
        "run_id": run_id, "project_id": project, "model_id": model, "model_version": version,
        "dataset": {"name": project, "version": "2024-06", "sha256": hashlib.sha256(project.encode()).hexdigest()},
        "started_at": "2024-06-01T12:00:00Z", "finished_at": "2024-06-01T12:30:00.5+00:00",
        "metrics": {"accuracy": sum(it["score"] for it in items) / max(n_items, 1), "n": n_items},
        "items": items, "tags": {"suite": "nightly"},
        "environment": {"python": "3.11", "ci": {"provider": "test"}},
    }
    doc.update(extra)
    return doc


def verdict_doc(run_id: str, baseline: str, verdict: str = "ALLOW", **extra: Any) -> dict[str, Any]:
    doc = {"run_id": run_id, "baseline_run_id": baseline, "metric": "accuracy", "delta": 0.0125,
           "p_value": 0.03, "ci_low": -0.01, "ci_high": 0.04, "verdict": verdict,
           "policy": {"alpha": 0.05, "min_delta": -0.02}, "reason": "within tolerance"}
    doc.update(extra)
    return doc


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def deep(doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(doc)
