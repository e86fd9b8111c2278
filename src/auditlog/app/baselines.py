"""Which run a gate compares with, decided from the log's verified events, not from the projections.

The projections are files beside the log that whoever can write that directory can forge: a
pin row changed, or the right baseline marked superseded, and a gate would compare with a weak
run and record ALLOW. So the choice is read from the log itself, through the store's indexes
(events by project and type, events by subject), every event read checked as `show` checks it
(`checked_event`: hashed, canonical, its columns its envelope's, included in the verified tree),
and each candidate's current state (status, tags) folded from its own events as the projections
fold it (`run_state.current_state`). Pins and the runs between a candidate and its baseline are
few, so this reads a handful of events, not the history. The gate also asks the projections and
refuses when the two disagree (app.gating): a row hidden from the index by a changed column is
caught there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from auditlog.app.run_state import current_state
from auditlog.app.verified import VerifiedTree, checked_event, verified_about
from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.services.log import AuditLog


def pinned_run(log: AuditLog, tree: VerifiedTree, project: str, model: str | None) -> str | None:
    """The run pinned as the baseline of `project` and `model` (the latest pin naming that model), else
    the latest project-wide pin (naming no model); None when nothing is pinned."""
    project_wide = None
    for sealed in _newest_first(log, tree, project, ev.BASELINE_PINNED, before=tree.size):
        named = sealed.event.data.get("model_id")
        if model is not None and named == model:
            return str(sealed.event.data["run_id"])
        if named is None and project_wide is None:
            project_wide = str(sealed.event.data["run_id"])
    return project_wide


def latest_run(log: AuditLog, tree: VerifiedTree, project: str, model: str, *, before: int,
               accept: Callable[[Mapping[str, Any]], bool] = lambda row: True) -> str | None:
    """The latest run of `project` and `model` recorded before seq `before` that is still active and that
    `accept` takes (given its current row: tags, status, ...); None when there is none."""
    for sealed in _newest_first(log, tree, project, ev.RUN_RECORDED, before=before):
        run = sealed.event.data["run"]
        if run.get("model_id") != model:
            continue
        recorded, about = verified_about(log, tree, run["run_id"])
        if recorded.seq != sealed.seq:
            continue  # a second record of a run id: the first one counts, as in the projections
        row = current_state(recorded, about)
        if row["status"] == "active" and accept(row):
            return str(run["run_id"])
    return None


def _newest_first(log: AuditLog, tree: VerifiedTree, project: str, type_: str, before: int) -> Iterator[SealedEvent]:
    """The events of `type_` about `project` before seq `before` (within the verified tree), newest first,
    each checked."""
    row = log.store.latest(project, type_, before=min(before, tree.size))
    while row is not None:
        yield checked_event(log, tree, row)
        row = log.store.latest(project, type_, before=row.seq)
