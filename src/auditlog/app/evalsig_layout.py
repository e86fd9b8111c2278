"""Runs of the log in evalsig's layout: its manifest records, its Parquet rows, its store on disk.

The way back from auditlog.ingest.evalsig: a run that came from evalsig (or through the
drop-in `auditlog.evalsig`) gives back exactly what evalsig held (its `config.evalsig`, each
item's `extra.evalsig`); any other run is described as evalsig would have (the dataset name
or project as task, its first metric, the verdict mapped back: BLOCK is REJECT,
NEEDS_REVIEW is INCONCLUSIVE). Runs are read only from verified events (app/verified.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.errors import InvalidInput, StorageError
from auditlog.ingest.evalsig import TOOL, Record
from auditlog.services.log import AuditLog

EVALSIG_VERDICT_OF = {"ALLOW": "ALLOW", "BLOCK": "REJECT", "NEEDS_REVIEW": "INCONCLUSIVE"}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class EvalsigRun:
    """One run of the log as evalsig holds one: its manifest record and its Parquet rows."""

    project_id: str
    record: Record
    rows: list[dict[str, Any]]


def partition_path(run_id: str, ts: dt.datetime) -> str:
    """evalsig's place for a run's file in its project: year=YYYY/month=MM/run_id=ID.parquet."""
    return f"year={ts.year:04d}/month={ts.month:02d}/run_id={run_id}.parquet"


def parquet_schema() -> Any:
    """evalsig.io.parquet.PARQUET_SCHEMA (evalsig 0.1.2), column for column."""
    import pyarrow as pa
    return pa.schema([
        ("project_id", pa.string()), ("run_id", pa.string()), ("model_id", pa.string()), ("task_id", pa.string()),
        ("metric_name", pa.string()), ("item_id", pa.string()), ("cluster_id", pa.string()), ("epoch", pa.int32()),
        ("score", pa.float64()), ("config_hash", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
        ("metadata_json", pa.string()),
    ])


def evalsig_run(recorded: SealedEvent, about: Sequence[SealedEvent]) -> EvalsigRun:
    """The evalsig view of a verified run.recorded event and the (verified) events about its run."""
    run = recorded.event.data["run"]
    kept = (run.get("config") or {}).get(TOOL) if isinstance(run.get("config"), dict) else None
    verdicts = [e.event.data["verdict"] for e in about if e.event.type == ev.VERDICT_RECORDED]
    delta = p_value = verdict = None
    if verdicts:
        latest = verdicts[-1]
        delta, p_value = latest.get("delta"), latest.get("p_value")
        if latest.get("computed_by") == TOOL:
            verdict = (latest.get("policy") or {}).get("evalsig_verdict")
        else:
            verdict = EVALSIG_VERDICT_OF[latest["verdict"]]
    items = run.get("items") or []
    if isinstance(kept, dict):
        fields: dict[str, Any] = {k: kept.get(k) for k in ("task_id", "metric_name", "ts", "path", "config_hash", "parent_run_id")}
    else:
        when = run.get("finished_at") or run.get("started_at") or recorded.event.ts
        stamp = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        fields = {"task_id": (run.get("dataset") or {}).get("name") or run["project_id"],
                  "metric_name": next(iter(run.get("metrics") or {}), "score"), "ts": stamp.isoformat(),
                  "path": partition_path(run["run_id"], stamp), "config_hash": run.get("config_fingerprint") or "",
                  "parent_run_id": None}
    record = Record(run_id=run["run_id"], model_id=run["model_id"], n_items=len(items), delta=delta,
                    p_value=p_value, verdict=verdict, **fields)
    rows = []
    for item in items:
        own = (item.get("extra") or {}).get(TOOL) or {}
        rows.append({
            "project_id": run["project_id"], "run_id": record.run_id, "model_id": record.model_id,
            "task_id": record.task_id, "metric_name": record.metric_name,
            "item_id": own.get("item_id", item["item_id"]), "cluster_id": own.get("cluster_id"),
            "epoch": int(own.get("epoch", 0)), "score": float(item["score"]), "config_hash": record.config_hash,
            "ts": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),  # evalsig's writer leaves ts at 0 in every row
            "metadata_json": json.dumps(own.get("metadata") or {}),
        })
    return EvalsigRun(run["project_id"], record, rows)


def project_runs(log: AuditLog, log_path: str, project_id: str | None = None,
                 directory: str | None = None) -> Iterator[EvalsigRun]:
    """Every run of the project (every project when None), in log order, from verified events: the
    projections (caught up, which verifies the log) select them; each run's events are read and
    checked against the verified tree."""
    import projections
    from auditlog.app.verified import open_view, verified_about, view_tree

    view = open_view(log, log_path, directory)
    tree = view_tree(view)
    runs = projections.query_runs(view, project_id=project_id, include_superseded=True, newest_first=False,
                                  columns=["run_id"])
    for run_id in runs.column("run_id").to_pylist():
        recorded, about = verified_about(log, tree, run_id)
        yield evalsig_run(recorded, about)


def one_run(log: AuditLog, log_path: str, run_id: str, directory: str | None = None) -> EvalsigRun:
    """One run, read through the store's index and checked against the verified tree (as `show`
    reads it, without the projections' tables); RunNotFound when the log has none."""
    from auditlog.app.verified import verified_about, verified_tree

    recorded, about = verified_about(log, verified_tree(log, log_path, directory), run_id)
    return evalsig_run(recorded, about)


def write_store(runs: Sequence[EvalsigRun], out: str | Path) -> list[Path]:
    """Write `runs` as an evalsig store under `out`: {project}/manifest.json and one Parquet file per
    run at its record's path. Returns the files written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, written = Path(out), []
    places = [_inside(root, run.project_id, run.record.path) for run in runs]  # all checked before any is written
    manifests: dict[str, list[dict[str, Any]]] = {}
    try:
        for run, path in zip(runs, places):
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(run.rows, schema=parquet_schema()), str(path), compression="snappy")
            written.append(path)
            manifests.setdefault(run.project_id, []).append(run.record.to_dict())
        for project_id, records in manifests.items():
            path = _inside(root, project_id, MANIFEST)
            path.write_text(json.dumps({"project_id": project_id, "version": 1, "runs": records}, indent=2))
            written.append(path)
    except OSError as exc:  # read-only, full, not writable: one line and exit 4, not a traceback
        raise StorageError(f"cannot write the evalsig store {out}: {exc.strerror or exc}") from None
    return written


def _inside(root: Path, project_id: str, name: str) -> Path:
    """root/project_id/name, refused when an id or a recorded path would lead out of its project."""
    project = root / project_id
    path = project / name
    if (project_id in ("", ".", "..") or "/" in project_id or "\\" in project_id
            or not path.resolve().is_relative_to(project.resolve())):
        raise InvalidInput(f"run in project {project_id!r}", f"its place {name!r} in an evalsig store is outside "
                                                               "its project directory")
    return path
