"""`auditlog import evalsig STORE`: every run of an evalsig store into the log, as evidence.

The store is read here (manifests, Parquet files, their SHA-256); auditlog.ingest.evalsig turns
what was read into documents. Each run is recorded with the store's state beside it (the
event's `source`: the run's file and the manifest, by name and SHA-256), and the gate result
evalsig gave it as a verdict computed elsewhere. Importing the same store again appends
nothing (every document is the same, so every append is an idempotent retry); a run that
evalsig overwrote since (same run id, other content) is not recorded, and reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditlog.core import events as ev
from auditlog.errors import InvalidInput, NotFound
from auditlog.evals.runs import normalize_run
from auditlog.ingest.common import SourceFile
from auditlog.ingest.evalsig import Record, parse_manifest, run_document, verdict_document
from auditlog.services.log import AuditLog

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StoreRun:
    """One run as the store holds it now: its documents and where they were read from."""

    project_id: str
    record: Record
    run: dict[str, Any]
    verdict: dict[str, Any] | None
    source: dict[str, Any]


@dataclass(frozen=True)
class RunOutcome:
    """What the import did with one run: `recorded`, `unchanged` (already in the log as it is),
    `verdict recorded` (the run unchanged, its gate result in the store new), or `changed` (the log
    holds other content under its id: not recorded; `detail` says what differs)."""

    project_id: str
    run_id: str
    status: str
    seq: int | None
    verdict_seq: int | None
    detail: str


@dataclass(frozen=True)
class ImportReport:
    store: str
    runs: list[RunOutcome]

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r.status == status)

    @property
    def changed(self) -> list[RunOutcome]:
        return [r for r in self.runs if r.status == "changed"]


def read_store(root: str | Path) -> list[StoreRun]:
    """Every run of the store at `root` (an evalsig root holding project directories, or one
    project directory), projects by name, runs in their manifest's order."""
    base = Path(root)
    if not base.is_dir():
        raise NotFound(f"{root}: no such evalsig store (a directory)")
    projects = [base] if (base / MANIFEST).is_file() else sorted(p for p in base.iterdir() if (p / MANIFEST).is_file())
    if not projects:
        raise InvalidInput(str(root), f"is not an evalsig store: no {MANIFEST} in it or in its directories")
    found: list[StoreRun] = []
    for project in projects:
        found += _read_project(base, project)
    return found


def _read_project(base: Path, project: Path) -> list[StoreRun]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = SourceFile(_name(base, project / MANIFEST), (project / MANIFEST).read_bytes())
    project_id, records = parse_manifest(manifest)
    runs = []
    for record in records:
        path = project / record.path
        name = _name(base, path)
        if not path.resolve().is_relative_to(project.resolve()):
            raise InvalidInput(f"{manifest.name} run {record.run_id!r} path", "points outside the project directory")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{name}: the file of run {record.run_id!r} ({manifest.name}) is missing") from None
        try:
            rows = pq.read_table(pa.BufferReader(data)).to_pylist()
        except (pa.ArrowException, OSError) as error:
            raise InvalidInput(name, f"is not a readable Parquet file: {error}") from None
        source = {"files": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()}],
                  "evalsig": {"manifest": {"name": manifest.name, "sha256": manifest.sha256},
                              "record": record.to_dict()}}
        runs.append(StoreRun(project_id, record, run_document(project_id, record, rows, file=name),
                             verdict_document(record), source))
    return runs


def import_store(log: AuditLog, root: str | Path) -> ImportReport:
    """Record every run of the store that the log does not hold yet (see import_runs)."""
    return import_runs(log, root, read_store(root))


def import_runs(log: AuditLog, root: str | Path, runs: list[StoreRun]) -> ImportReport:
    """Record the runs read from the store at `root` that the log does not hold yet, in one transaction
    (all or nothing); the runs the log holds with other content are reported, not recorded."""
    differences = {run.record.run_id: _difference(log, run) for run in runs}
    outcomes: dict[str, RunOutcome] = {}
    with log.writer() as writer:  # a run changed meanwhile by another writer is a Conflict: nothing written
        for run in runs:
            run_id = run.record.run_id
            changed = differences[run_id]
            if changed is not None:
                outcomes[run_id] = RunOutcome(run.project_id, run_id, "changed", changed[0], None, changed[1])
                continue
            receipt = writer.record_run(run.run, source=run.source)
            verdict = None if run.verdict is None else writer.record_verdict(run.verdict)
            status = "recorded" if receipt.new else "verdict recorded" if verdict and verdict.new else "unchanged"
            detail = "the run is unchanged; evalsig's gate result for it is new" if status == "verdict recorded" else ""
            outcomes[run_id] = RunOutcome(run.project_id, run_id, status, receipt.seq,
                                          None if verdict is None else verdict.seq, detail)
    return ImportReport(str(root), list(outcomes.values()))


def _difference(log: AuditLog, run: StoreRun) -> tuple[int, str] | None:
    """(seq, what differs) when the log records this run id with other content, else None."""
    found = log.about(run.record.run_id, ev.RUN_RECORDED)
    if not found:
        return None
    data = found[0].event.data
    if data.get("document_sha256") == normalize_run(run.run)[1]:
        return None
    was, now = data["run"], run.run
    keys = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
    detail = f"differs in {', '.join(keys)}"
    files = (data.get("source") or {}).get("files") or []
    if files and files[0].get("sha256") != run.source["files"][0]["sha256"]:
        detail += f"; file sha256 {files[0].get('sha256', '?')[:12]} when imported, {run.source['files'][0]['sha256'][:12]} now"
    return found[0].seq, detail


def _name(base: Path, path: Path) -> str:
    """A file's name relative to the store, with / (names in events do not depend on the machine)."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
