"""State is a fold over events: the latest view of every run, with its history.

`RunsFold.apply` takes events in seq order and keeps one summary per run:
its figures, its current tags (annotations merged in), its status (active or
superseded, and by which run) and its latest verdict. Nothing here reads a store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from auditlog.core import events as ev
from auditlog.core.events import SealedEvent


class EventSource(Protocol):
    def events(self, after: int = -1) -> Iterable[SealedEvent]: ...


def summarize_run(run: dict[str, Any]) -> dict[str, Any]:
    """The flat, per-run figures a history line shows."""
    items = run.get("items") or []
    n = len(items)
    return {
        "run_id": run["run_id"],
        "project_id": run["project_id"],
        "model_id": run["model_id"],
        "model_version": run.get("model_version"),
        "dataset": (run.get("dataset") or {}).get("name"),
        "experiment": (run.get("experiment") or {}).get("id"),
        "started_at": run.get("started_at"),
        "n_items": n,
        "pass_rate": sum(1 for i in items if i["passed"]) / n if n else None,
        "mean_score": sum(i["score"] for i in items) / n if n else None,
        "metrics": dict(run.get("metrics") or {}),
        "tags": dict(run.get("tags") or {}),
    }


class RunsFold:
    """Runs by id, in the order they were recorded."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.verdicts: list[dict[str, Any]] = []
        self.position = -1

    def apply(self, sealed: SealedEvent) -> None:
        event = sealed.event
        self.position = sealed.seq
        if event.type == ev.RUN_RECORDED:
            summary = summarize_run(event.data["run"])
            summary.update(status="active", superseded_by=None, verdict=None, notes=[],
                           recorded_at=event.ts, seq=sealed.seq, event_hash=sealed.hash)
            self.runs[summary["run_id"]] = summary
        elif event.type == ev.RUN_ANNOTATED and event.subject in self.runs:
            run = self.runs[event.subject]
            run["tags"].update(event.data.get("tags", {}))
            if "note" in event.data:
                run["notes"].append(event.data["note"])
        elif event.type == ev.RUN_SUPERSEDED and event.subject in self.runs:
            self.runs[event.subject].update(status="superseded", superseded_by=event.data["by"])
        elif event.type == ev.VERDICT_RECORDED:
            verdict = dict(event.data["verdict"], seq=sealed.seq, recorded_at=event.ts)
            self.verdicts.append(verdict)
            if event.subject in self.runs:
                self.runs[event.subject]["verdict"] = verdict["verdict"]

    def apply_all(self, source: EventSource) -> RunsFold:
        for sealed in source.events(after=self.position):
            self.apply(sealed)
        return self


def history(source: EventSource, *, project: str | None = None, model: str | None = None,
            verdict: str | None = None, include_superseded: bool = False) -> list[dict[str, Any]]:
    """Runs, newest first, filtered; superseded runs only when asked for."""
    fold = RunsFold().apply_all(source)
    runs = [
        r for r in fold.runs.values()
        if (project is None or r["project_id"] == project)
        and (model is None or r["model_id"] == model)
        and (verdict is None or r["verdict"] == verdict)
        and (include_superseded or r["status"] == "active")
    ]
    runs.sort(key=lambda r: r["seq"], reverse=True)
    return runs
