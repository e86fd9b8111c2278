"""Project configurations as the reads show them: each one from bytes included in the verified tree.

`show` and `history` print the configuration each run was recorded under (the `config_seq` its
event names); `compare` and `ab` use the configuration in force now (which metrics are better
when lower). A run whose event names a configuration that was not the one in force, or that it
does not obey, was not recorded through auditlog's Writer: `run_config` says so rather than
showing it as checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditlog.app.verified import VerifiedTree, checked_event
from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.errors import IntegrityError, InvalidInput
from auditlog.evals.config import from_data, violations
from auditlog.services.configuration import InForce
from auditlog.services.log import AuditLog


@dataclass(frozen=True)
class RunConfig:
    """The configuration a run was recorded under, and what is wrong with that, if anything."""

    in_force: InForce | None  # the configuration its event names (None: it names none)
    violations: tuple[str, ...] = ()  # as the runs table's `violations` (evals.config.violations)

    @property
    def problem(self) -> str | None:
        """None: the run names the configuration in force then, and obeys it."""
        return "; ".join(self.violations) or None

    def describe(self) -> str:
        shown = "none" if self.in_force is None else f"seq {self.in_force.seq}: {self.in_force.config.describe()}"
        return shown if self.problem is None else f"{shown} (NOT CHECKED: {self.problem})"


def _verified_config(log: AuditLog, tree: VerifiedTree, row: Any) -> InForce:
    sealed = checked_event(log, tree, row)
    if sealed.event.type != ev.PROJECT_CONFIGURED:
        raise IntegrityError(sealed.seq, f"a {sealed.event.type} event where a project.configured event was expected")
    try:
        config = from_data(sealed.event.data)
    except InvalidInput as exc:
        raise IntegrityError(sealed.seq, f"not a valid project.configured event ({exc})") from None
    return InForce(sealed.event.project, sealed.seq, sealed.hash, config)


def configuration_now(log: AuditLog, tree: VerifiedTree, project: str) -> InForce | None:
    """The configuration of `project` in force at the verified tree's end, or None."""
    row = log.store.latest(project, ev.PROJECT_CONFIGURED, tree.size)
    return None if row is None else _verified_config(log, tree, row)


def configurations(log: AuditLog, tree: VerifiedTree, seqs: Iterable[int]) -> dict[int, InForce]:
    """The project.configured events at these seqs (runs' config_seq), in one read; IntegrityError
    when one is missing or not a configuration."""
    wanted = sorted({seq for seq in seqs if type(seq) is int})
    found = {row.seq: _verified_config(log, tree, row) for row in log.store.rows_at(wanted) if row.seq < tree.size}
    missing = [seq for seq in wanted if seq not in found]
    if missing:
        raise IntegrityError(missing[0], "a run names this seq as its configuration, and the verified log has no "
                                         "event there")
    return found


def run_config(log: AuditLog, tree: VerifiedTree, recorded: SealedEvent) -> RunConfig:
    """The configuration a run's event names, checked against the one in force before it."""
    event = recorded.event
    run, named = event.data["run"], event.data.get("config_seq")
    row = log.store.latest(event.project, ev.PROJECT_CONFIGURED, recorded.seq)
    in_force = None if row is None else _verified_config(log, tree, row)
    shown = in_force if in_force is not None and named == in_force.seq else \
        (configurations(log, tree, [named])[named] if type(named) is int else None)
    found = violations(run, named, None if in_force is None else (in_force.seq, in_force.config))
    return RunConfig(shown, tuple(found))
