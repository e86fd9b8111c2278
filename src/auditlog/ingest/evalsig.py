"""evalsig's run store, read as run and verdict documents (docs/import.md).

evalsig keeps, per project, a `manifest.json` (one record per run: ids, time, the path of
the run's Parquet file, and the gate result it was given: delta, p-value, verdict) and one
Parquet file per run (one row per item and epoch). This module is the pure half of
`auditlog import evalsig`: the manifest's bytes and a run's rows in, documents out. The
caller reads the files (Parquet needs pyarrow, which parsers do not import).

Everything evalsig knew about a run is kept, so that the run can be given back in its
layout (`auditlog export-evalsig`, `auditlog.evalsig`): the record's fields in
`config.evalsig`, each item's own id, epoch, cluster and metadata in its `extra.evalsig`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.evals.runs import normalize_run
from auditlog.ingest.common import SourceFile, fail, load_json

TOOL = "evalsig"
# evalsig's GateVerdict, as auditlog's verdicts; any other string a store holds is NEEDS_REVIEW
VERDICT_OF = {"ALLOW": "ALLOW", "REJECT": "BLOCK", "INCONCLUSIVE": "NEEDS_REVIEW"}
ENVIRONMENT = {"recorded_by": TOOL, "note": "evalsig does not record the environment a run was made in"}


@dataclass
class Record:
    """One run of an evalsig manifest: evalsig.store.manifest.RunRecord, field for field, and mutable as
    that one is; the drop-in `auditlog.evalsig` hands it out under that name."""

    run_id: str
    model_id: str
    task_id: str
    metric_name: str
    ts: str
    path: str
    n_items: int
    config_hash: str = ""
    delta: float | None = None
    p_value: float | None = None
    verdict: str | None = None
    parent_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STRINGS = ("run_id", "model_id", "task_id", "metric_name", "ts", "path")


def parse_manifest(source: SourceFile) -> tuple[str, list[Record]]:
    """The project id and the run records of an evalsig `manifest.json`, in the order it lists them.
    A record evalsig could not have written is refused, naming the file and its JSON path."""
    doc = load_json(source)
    if not isinstance(doc, dict) or not isinstance(doc.get("project_id"), str):
        raise fail(source, "$.project_id", "is not an evalsig manifest: a project_id string is required")
    runs = doc.get("runs", [])
    if not isinstance(runs, list):
        raise fail(source, "$.runs", "must be a list of run records")
    records, seen = [], set()
    for i, raw in enumerate(runs):
        where = f"$.runs[{i}]"
        if not isinstance(raw, dict):
            raise fail(source, where, "must be an object")
        unknown = sorted(set(raw) - set(Record.__dataclass_fields__))
        if unknown:
            raise fail(source, f"{where}.{unknown[0]}", "is not a field of an evalsig run record")
        for name in _STRINGS:
            if not isinstance(raw.get(name), str):
                raise fail(source, f"{where}.{name}", "is required and must be a string")
        if type(raw.get("n_items")) is not int:
            raise fail(source, f"{where}.n_items", "is required and must be an integer")
        for name in ("delta", "p_value"):
            value = raw.get(name)
            if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
                raise fail(source, f"{where}.{name}", f"must be a finite number or null, not {value!r}")
        for name in ("config_hash", "verdict", "parent_run_id"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise fail(source, f"{where}.{name}", "must be a string or null")
        if raw["run_id"] in seen:
            raise fail(source, f"{where}.run_id", f"run id {raw['run_id']!r} is listed twice")
        seen.add(raw["run_id"])
        records.append(Record(**{**raw, "config_hash": raw.get("config_hash") or ""}))
    return doc["project_id"], records


def run_document(project_id: str, record: Record, rows: Sequence[Mapping[str, Any]], *, file: str) -> dict[str, Any]:
    """The run document of one evalsig run: `rows` are its Parquet file's rows (PARQUET_SCHEMA's
    columns), `file` names that file in messages. Scores must be in [0, 1], as every item score
    in auditlog (evalsig allows any number: such a run is refused, naming the row)."""
    items, ids, scores = [], set(), []
    several_epochs = len({row.get("item_id") for row in rows}) != len(rows)
    for i, row in enumerate(rows):
        where = f"{file} row {i}"
        if row.get("run_id") != record.run_id:
            raise InvalidInput(where, f"holds run {row.get('run_id')!r}, but the manifest says {record.run_id!r}")
        score: Any = row.get("score")
        if type(score) not in (int, float) or not math.isfinite(score) or not 0 <= score <= 1:
            raise InvalidInput(f"{where} score", f"is {score!r}: auditlog item scores are numbers in [0, 1]")
        item_id, epoch = row.get("item_id"), int(row.get("epoch") or 0)
        if not isinstance(item_id, str):
            raise InvalidInput(f"{where} item_id", "must be a string")
        own_id = f"{item_id}#{epoch}" if several_epochs else item_id
        if own_id in ids:
            raise InvalidInput(f"{where} item_id", f"item {item_id!r} epoch {epoch} appears twice")
        ids.add(own_id)
        try:
            metadata = json.loads(row.get("metadata_json") or "{}")
        except json.JSONDecodeError as error:
            raise InvalidInput(f"{where} metadata_json", f"is not JSON: {error.msg}") from None
        scores.append(float(score))
        extra = {"item_id": item_id, "epoch": epoch, "cluster_id": row.get("cluster_id"), "metadata": metadata}
        items.append({"item_id": own_id, "score": float(score), "passed": score >= 1, "extra": {TOOL: extra}})
    if len(rows) != record.n_items:
        raise InvalidInput(file, f"holds {len(rows)} rows, but the manifest says n_items {record.n_items}")
    doc: dict[str, Any] = {
        "run_id": record.run_id, "project_id": project_id, "model_id": record.model_id,
        "dataset": {"name": record.task_id},
        "config": {TOOL: {k: v for k, v in record.to_dict().items() if k not in ("delta", "p_value", "verdict")}},
        "environment": dict(ENVIRONMENT),
        "items": items,
    }
    if scores:
        doc["metrics"] = {record.metric_name: math.fsum(scores) / len(scores)}
    if record.config_hash:
        doc["config_fingerprint"] = record.config_hash
    if _aware(record.ts):
        doc["finished_at"] = record.ts
    try:
        normalize_run(doc)
    except InvalidInput as error:
        raise InvalidInput(f"{file} (as a run document, {error.field})", error.reason) from None
    return doc


def verdict_document(record: Record) -> dict[str, Any] | None:
    """The gate result evalsig recorded for the run, as a verdict computed elsewhere (no baseline
    run id; delta and p-value as evalsig gave them); None when the record holds none."""
    if record.delta is None and record.p_value is None and record.verdict is None:
        return None
    said = "no verdict" if record.verdict is None else record.verdict
    return {
        "run_id": record.run_id, "baseline_run_id": None, "metric": record.metric_name,
        "verdict": VERDICT_OF.get(record.verdict or "", "NEEDS_REVIEW"),
        "delta": record.delta, "p_value": record.p_value, "computed_by": TOOL,
        "policy": {"evalsig_verdict": record.verdict, "parent_run_id": record.parent_run_id},
        "reason": f"gate computed by evalsig: {said}",
    }


def _aware(ts: str) -> bool:
    """Whether evalsig's ts (datetime.isoformat of what its caller gave) carries a time zone."""
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False
