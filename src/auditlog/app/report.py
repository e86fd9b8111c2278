"""The report for an auditor or a review meeting: what `auditlog report` puts in one HTML file.

`gather` asks every question first and renders nothing (report_html.py renders): the
real `verify` of the whole log (with the checkpoints and keys given), the checkpoints kept
in the log, then, only when verify found nothing wrong, the projections caught up (which
verify again what they fold) and read: the recent runs, every verdict with its override,
a trend per project and metric (a scoped metric by its address, `scope/name`, on valid headline
values only, as `auditlog trend`, with what it left out; `include_status` adds the statuses it names,
as `trend --include-status` does, and each chart counts the values it used so), the latest A/B summaries. Every run and verdict shown is
confirmed against the log (View.confirm: the event at its seq still hashes to the one folded), not its figures, which
are the projections' (docs/threat-model.md). When verify finds a problem, nothing of the
tables is read: the report then says what failed, and shows no data from the log.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auditlog.errors import AuditLogError, InvalidInput
from auditlog.evals.scopes import parse_include
from auditlog.services.checkpoints import evidence_stem
from auditlog.services.verify import VerifyReport, signed_by

if TYPE_CHECKING:
    from collections.abc import Iterable

    from auditlog.core.checkpoint import Checkpoint
    from auditlog.core.note import Verifier
    from auditlog.services.log import AuditLog

MAX_MODELS = 8  # lines per chart: one colour each


@dataclass(frozen=True)
class CheckpointRow:
    id: int
    size: int
    root: str
    created: str
    claimed_signers: list[str]  # what the note says
    checked_by: list[str]  # the trusted keys whose signature on it verified ([] if none was given or none checked)


@dataclass(frozen=True)
class TrendChart:
    """One project's metric: per value of model_version (in the order first seen), each model's average."""

    project: str
    metric: str
    versions: list[str]
    lines: dict[str, list[float | None]]  # model -> its average per version (None: no run of that version)
    points: list[dict[str, Any]]  # the trend of the whole project (projections.TrendPoint.to_json())
    # runs whose scoped value of this metric was left out (scope not valid and headline), by mark; a chart
    # with no versions is a metric recorded only in such scopes: named, not drawn
    left_out: dict[str, int] = field(default_factory=dict)
    # runs whose scoped value was used though not valid headline (include_status asked for it), by mark
    included: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunLink:
    """How to get a run's evidence: the command, and the files it writes."""

    command: str
    files: tuple[str, str]


@dataclass(frozen=True)
class ReportData:
    log: str  # the log's location, as its store shows it (a password in a URL hidden)
    generated_at: str
    verification: VerifyReport
    checkpoints: list[CheckpointRow]
    shown_size: int = 0  # events the tables were folded from (0: not read, verify failed)
    total_runs: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)  # the newest first, at most max_runs
    links: dict[str, RunLink] = field(default_factory=dict)  # run id -> its evidence
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    trends: list[TrendChart] = field(default_factory=list)
    ab: list[Any] = field(default_factory=list)  # projections.ABSummary, the latest experiment first
    include_status: tuple[str, ...] = ()  # the scope statuses charted besides valid headline (--include-status)

    @property
    def ok(self) -> bool:
        return self.verification.ok


def gather(log: AuditLog, log_path: str | os.PathLike[str], *, directory: str | None = None,
           checkpoints: list[tuple[str, Checkpoint]] | None = None, verifiers: list[Verifier] | None = None,
           projects: list[str] | None = None, max_runs: int = 200, max_experiments: int = 5,
           now: datetime | None = None, include_status: str | Iterable[str] | None = None) -> ReportData:
    """Everything the report shows (see the module's docstring). `include_status` takes the values of
    `trend --include-status` (evals.scopes.parse_include); InvalidInput before anything is read."""
    if max_runs < 0 or max_experiments < 0:
        raise InvalidInput("--runs/--experiments", "must not be negative")
    include = tuple(sorted(parse_include(include_status)))
    verifiers = list(verifiers or [])
    verification = log.verify(checkpoints=checkpoints or (), verifiers=verifiers)
    stored = [CheckpointRow(c.id, c.size, c.root, c.created, _claimed(c.note), signed_by(c.note, verifiers))
              for c in log.store.checkpoints()]
    location = log.store.location  # as the store shows it: a password in a database URL hidden
    generated = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not verification.ok:
        return ReportData(location, generated, verification, stored)

    import projections
    from auditlog.app.verified import open_view
    view = open_view(log, log_path, directory)
    all_runs = view.runs
    known = sorted(set(all_runs.column("project_id").to_pylist()))
    for project in projects or []:
        if project not in known:
            raise InvalidInput("--project", f"no run of {project!r} in this log")
    runs = projections.list_runs(view, include_superseded=True, limit=max_runs)
    links = {r["run_id"]: _link(r["run_id"], location) for r in runs}
    verdicts = projections.to_records(view.confirm(view.verdicts))
    return ReportData(location, generated, verification, stored, view.size, all_runs.num_rows, runs, links,
                      verdicts, _trends(view, projects or known, include), _latest_ab(view, max_experiments), include)


def _claimed(note: str) -> list[str]:
    from auditlog.core.note import unverified_note
    try:
        return [s.name for s in unverified_note(note)[1]]
    except AuditLogError:  # a malformed note: verify reports it
        return []


def _link(run_id: str, location: str) -> RunLink:
    stem = evidence_stem(run_id)
    command = shlex.join(["auditlog", "prove", run_id, "--log", location, "--out", "evidence/", "--vkey", "LOG.vkey"])
    return RunLink(command, (f"evidence/{stem}.event", f"evidence/{stem}.tlog-proof"))


def _trends(view: Any, projects: list[str], include: tuple[str, ...] = ()) -> list[TrendChart]:
    """A chart per project and metric (pass_rate, mean_score, then the metrics its runs record, unscoped
    names and scoped addresses sorted together); scoped values only where valid and headline, and where
    their status is in `include`."""
    import pyarrow.compute as pc

    import projections
    charts = []
    active = view.runs.filter(pc.equal(view.runs.column("status"), "active"))
    for project in projects:
        mine = projections.to_records(active.filter(pc.equal(active.column("project_id"), project))
                                      .select(["model_id", "metrics", "scoped_metrics"]))
        models = list(dict.fromkeys(r["model_id"] for r in mine))[:MAX_MODELS]
        names = sorted({name for r in mine for column in ("metrics", "scoped_metrics") for name in r[column]})
        for metric in ["pass_rate", "mean_score", *names]:
            try:
                overall = projections.marked_trend(view, project, metric, include_status=include)
            except InvalidInput:  # no run of the project has it, or only in scopes left out
                left = _only_left_out(view, project, metric)
                if left:
                    charts.append(TrendChart(project, metric, [], {}, [], left))
                continue
            versions = [_key(p.key) for p in overall.points]
            lines = {}
            for model in models:
                try:
                    averages = {_key(p.key): p.avg for p in projections.trend(view, project, metric, model_id=model,
                                                                              include_status=include)}
                except InvalidInput:
                    continue
                lines[model] = [averages.get(v) for v in versions]
            charts.append(TrendChart(project, metric, versions, lines, [p.to_json() for p in overall.points],
                                     overall.left_out, _summed(p.included for p in overall.points)))
    return charts


def _only_left_out(view: Any, project: str, metric: str) -> dict[str, int]:
    """The runs, by mark, of a scoped metric every value of which a trend leaves out ({} for another reason)."""
    import projections
    from auditlog.evals.scopes import split
    if split(metric) is None:
        return {}
    try:
        points = projections.trend(view, project, metric, include_status="all")
    except InvalidInput:
        return {}
    return _summed(point.included for point in points)


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counted in counts:
        for status, n in counted.items():
            total[status] = total.get(status, 0) + n
    return dict(sorted(total.items()))


def _key(key: str | None) -> str:
    return "(none)" if key is None else key


def _latest_ab(view: Any, count: int) -> list[Any]:
    """The A/B summaries of the `count` experiments with two groups or more whose latest run is newest."""
    import projections
    newest: dict[str, int] = {}
    groups: dict[str, set[str]] = {}
    columns = [view.runs.column(c).to_pylist() for c in ("experiment_id", "experiment_group", "seq", "status")]
    for experiment, group, seq, status in zip(*columns):
        if experiment is None or group is None or status != "active":
            continue
        newest[experiment] = max(newest.get(experiment, -1), seq)
        groups.setdefault(experiment, set()).add(group)
    chosen = sorted((e for e in newest if len(groups[e]) > 1), key=lambda e: -newest[e])[:count]
    return [projections.ab_summary(view, experiment) for experiment in chosen]


def save(page: str, out: str | os.PathLike[str]) -> None:
    """Write the page to `out` atomically (a temporary file beside it, flushed, renamed): a reader never
    sees half a report. The temporary name is unguessable and created exclusively, so a link planted
    beside the page is never written through. StorageError when it cannot be written."""
    import secrets
    from pathlib import Path

    from auditlog.errors import StorageError
    target = Path(out)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8", newline="\n") as stream:
            stream.write(page)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):  # where it could not be written, it cannot be removed either
            temporary.unlink(missing_ok=True)
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
