"""One run's current state, folded from its own events: what `show` prints without the projections.

`show` reads a run's events through the store's subject index (app/verified.py checks
each of them), so it need not open the Parquet tables (and pay for pyarrow) to say what
the run's status, verdict, tags and notes are now. This is the same fold the projections
make for every run (projections.fold: `apply_changes` is theirs, used here as is), over the
events about one run: the record it returns has the fields and values of the runs table's
row, as `projections.load_run(...).header` gives them (a test holds the two together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import SealedEvent
from auditlog.evals.scopes import projected

_CHANGES = (ev.RUN_ANNOTATED, ev.RUN_SUPERSEDED, ev.VERDICT_RECORDED, ev.VERDICT_OVERRIDDEN)


def current_state(recorded: SealedEvent, about: Sequence[SealedEvent], violations: Sequence[str] = ()) -> dict[str, Any]:
    """The run's row as the projections hold it: figures from its run.recorded event (`recorded`),
    then every annotation, supersession, verdict and override among `about` (its events, in seq
    order) applied as the fold applies them."""
    from projections.fold import Change, apply_changes, normalize_ts

    event = recorded.event
    run = event.data["run"]
    items = run.get("items") or []
    n = len(items)
    n_passed = [i["passed"] for i in items].count(True)
    dataset = run.get("dataset") or {}
    experiment = run.get("experiment") or {}
    scoped_metrics, scope_status, scope_reason, headline_scopes = projected(run)
    row: dict[str, Any] = {
        "run_id": run["run_id"], "project_id": run["project_id"], "model_id": run["model_id"],
        "model_version": run.get("model_version"), "dataset_name": dataset.get("name"),
        "dataset_version": dataset.get("version"), "dataset_sha256": dataset.get("sha256"),
        "experiment_id": experiment.get("id"), "experiment_group": experiment.get("group"),
        "experiment_version": experiment.get("version"), "config_fingerprint": run.get("config_fingerprint"),
        "started_at": normalize_ts(run.get("started_at")), "finished_at": normalize_ts(run.get("finished_at")),
        "recorded_at": event.ts, "n_items": n, "n_passed": n_passed,
        "pass_rate": n_passed / n if n else None,
        "mean_score": math.fsum(i["score"] for i in items) / n if n else None,
        "metrics": {k: float(v) for k, v in (run.get("metrics") or {}).items()},
        "scoped_metrics": scoped_metrics, "scope_status": scope_status, "scope_reason": scope_reason,
        "headline_scopes": headline_scopes,
        "tags": dict(run.get("tags") or {}), "notes": [], "status": "active", "superseded_by": None,
        "superseded_reason": None, "verdict": None, "verdict_seq": None, "override_seq": None,
        "verdict_computed_by": None,
        "document_sha256": event.data.get("document_sha256"), "config_seq": event.data.get("config_seq"),
        "violations": list(violations),
        "seq": recorded.seq, "event_hash": recorded.hash,
    }
    changes = [Change(e.seq, e.event.type, e.event.subject, e.event.data) for e in about
               if e.seq > recorded.seq and e.event.type in _CHANGES]
    apply_changes({row["run_id"]: row}, changes)
    return row


def item_records(recorded: SealedEvent, failed_only: bool = False) -> list[dict[str, Any]]:
    """The run's items as the items table's rows (document order), from its run.recorded event."""
    run = recorded.event.data["run"]
    records = []
    for item in run.get("items") or []:
        if failed_only and item["passed"]:
            continue
        extra = item.get("extra")
        records.append({
            "run_id": run["run_id"], "seq": recorded.seq, "item_id": item["item_id"], "score": float(item["score"]),
            "passed": item["passed"], "latency_ms": _float(item.get("latency_ms")), "tokens": item.get("tokens"),
            "cost_usd": _float(item.get("cost_usd")), "error": item.get("error"),
            "extra": None if extra is None else canonical_bytes(extra).decode("utf-8"),
        })
    return records


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
