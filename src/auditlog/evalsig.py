"""A drop-in for `evalsig.store`: the same functions, the same shapes, an auditlog log underneath.

    from auditlog.evalsig import write_run, RunStoreWriter, list_runs, query_runs, load_run

`root` (evalsig's store directory) is the log: a SQLite file or a postgresql:// URL. Runs and
gate results become run.recorded and verdict.recorded events (the verdict computed elsewhere:
`computed_by: "evalsig"`, delta and p-value kept, no baseline run id), exactly as
`auditlog import evalsig` records a store; reads come from verified events only. What differs
from evalsig, on purpose, is in docs/import.md: a run id written again with other content is
refused (`auditlog.errors.Conflict`), not silently overwritten, and a writer writes at `commit`,
all or nothing. The run frames given may be evalsig's own (`evalsig.RunFrame`): only their
attributes are read.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.ingest.evalsig import Record as RunRecord

__all__ = ["ItemResult", "RunFrame", "RunHistoryRecord", "RunRecord", "RunStoreWriter", "list_runs", "load_run",
           "query_runs", "write_run"]


@dataclass(frozen=True)
class ItemResult:
    """evalsig.types.ItemResult: one item's score."""

    item_id: str
    score: float
    cluster_id: str | None = None
    epoch: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFrame:
    """evalsig.types.RunFrame: one model's run on one task."""

    run_id: str
    model_id: str
    task_id: str
    metric_name: str
    items: Sequence[ItemResult]
    config_hash: str = ""


@dataclass(frozen=True)
class RunHistoryRecord:
    """evalsig.store.reader.RunHistoryRecord. `abs_path` is the run's place in evalsig's layout under
    `root` (`auditlog export-evalsig` writes the file there); the log itself keeps no file per run."""

    record: RunRecord
    abs_path: Path


class RunStoreWriter:
    """evalsig.store.RunStoreWriter: `write` runs, then `commit` records them all in one transaction
    (a context manager commits on leaving; nothing is written when the block raises)."""

    def __init__(self, root: str | Path, project_id: str = "default") -> None:
        self.root = str(root)
        self.project_id = project_id
        self._pending: list[tuple[dict[str, Any], dict[str, Any] | None]] = []

    def __enter__(self) -> RunStoreWriter:
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is None:
            self.commit()

    def write(self, run: Any, *, ts: _dt.datetime | None = None, delta: float | None = None,
              p_value: float | None = None, verdict: str | None = None,
              parent_run_id: str | None = None) -> RunRecord:
        """Validate the run (a bad one raises InvalidInput now, naming the field) and keep it for `commit`."""
        from auditlog.app.evalsig_layout import partition_path
        from auditlog.ingest.evalsig import run_document, verdict_document

        if ts is None:
            ts = _dt.datetime.now(_dt.UTC)
        items = list(run.items)
        if not items:
            raise InvalidInput("run.items", f"RunFrame {run.run_id} has no items")
        record = RunRecord(run.run_id, run.model_id, run.task_id, run.metric_name, ts.isoformat(),
                           partition_path(run.run_id, ts), len(items), run.config_hash or "", delta, p_value,
                           verdict, parent_run_id)
        rows = [{"run_id": run.run_id, "item_id": it.item_id, "cluster_id": it.cluster_id, "epoch": it.epoch,
                 "score": it.score, "metadata_json": json.dumps(it.metadata or {})} for it in items]
        doc = run_document(self.project_id, record, rows, file=f"run {run.run_id!r}")
        self._pending.append((doc, verdict_document(record)))
        return record

    def commit(self) -> None:
        """Record every run written since the last commit, with its verdict: all or nothing."""
        from auditlog.services.log import AuditLog

        if not self._pending:
            return
        with AuditLog.open(self.root) as log, log.writer() as writer:
            for doc, verdict in self._pending:
                writer.record_run(doc)
                if verdict is not None:
                    writer.record_verdict(verdict)
        self._pending = []


def write_run(root: str | Path, run: Any, *, project_id: str = "default", **kwargs: Any) -> RunRecord:
    """evalsig.store.write_run: write one run (ts=, delta=, p_value=, verdict=, parent_run_id=) and commit."""
    with RunStoreWriter(root, project_id=project_id) as writer:
        return writer.write(run, **kwargs)


def list_runs(root: str | Path, project_id: str = "default") -> list[RunHistoryRecord]:
    """Every run of the project, in the order they were recorded."""
    return [RunHistoryRecord(r.record, Path(root) / project_id / r.record.path)
            for r in _runs(root, project_id)]


def query_runs(root: str | Path, *, project_id: str = "default", model_id: str | None = None,
               task_id: str | None = None, metric_name: str | None = None, since: str | None = None,
               until: str | None = None) -> list[RunHistoryRecord]:
    """list_runs filtered as evalsig filters: equal ids, and `ts` compared as text with since and until
    (both inclusive)."""
    out = []
    for found in list_runs(root, project_id=project_id):
        r = found.record
        if ((model_id is not None and r.model_id != model_id) or (task_id is not None and r.task_id != task_id)
                or (metric_name is not None and r.metric_name != metric_name)
                or (since is not None and r.ts < since) or (until is not None and r.ts > until)):
            continue
        out.append(found)
    return out


def load_run(root: str | Path, run_id: str, *, project_id: str = "default") -> RunFrame:
    """One run's RunFrame; KeyError, as evalsig's, when the project has no such run."""
    from auditlog.app.evalsig_layout import one_run
    from auditlog.errors import NotFound
    from auditlog.services.log import AuditLog

    missing = KeyError(f"run_id '{run_id}' not found in project '{project_id}'")
    try:
        log = AuditLog.open(str(root), create=False)
    except NotFound:
        raise missing from None
    with log:
        try:
            found = one_run(log, str(root), run_id)
        except (NotFound, InvalidInput):  # RunNotFound, or an id that cannot be one
            raise missing from None
    if found.project_id != project_id:
        raise missing
    items = [ItemResult(row["item_id"], row["score"], row["cluster_id"], row["epoch"], json.loads(row["metadata_json"]))
             for row in found.rows]
    r = found.record
    return RunFrame(r.run_id, r.model_id, r.task_id, r.metric_name, items, r.config_hash)


def _runs(root: str | Path, project_id: str) -> list[Any]:
    """The project's runs in evalsig's shapes, from verified events; none when there is no log yet."""
    from auditlog.app.evalsig_layout import project_runs
    from auditlog.errors import NotFound
    from auditlog.services.log import AuditLog

    try:
        log = AuditLog.open(str(root), create=False)
    except NotFound:
        return []  # evalsig lists an empty project for a store that does not exist yet
    with log:
        return list(project_runs(log, str(root), project_id))
