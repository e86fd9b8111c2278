"""Project configurations as the reads show them: each one from bytes included in the verified tree.

`show` and `history` print the configuration each run was recorded under (the `config_seq` its
event names); `compare` and `ab` use the configuration in force now (which metrics are better
when lower). A run whose event names a configuration that was not the one in force, or that it
does not obey, was not recorded through auditlog's Writer: `run_config` says so rather than
showing it as checked. A published log (`show --from`) answers the same questions from its
configs table, each configuration's bytes fetched from the published tiles and proven included
in the checked checkpoint's tree (`published_run_config`, `published_configurations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from auditlog.app.verified import VerifiedTree, checked_event
from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.errors import IntegrityError
from auditlog.evals.config import violations
from auditlog.services.configuration import InForce, in_force_of
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
    return in_force_of(checked_event(log, tree, row))


def configuration_now(log: AuditLog, tree: VerifiedTree, project: str) -> InForce | None:
    """The configuration of `project` in force at the verified tree's end, or None."""
    return _configuration_before(log, tree, project, tree.size)


def declared_lower_is_better(log: AuditLog, tree: VerifiedTree, project: str) -> tuple[str, ...] | None:
    """The metrics better when lower that the configuration of `project` in force now declares; None
    when it declares none (compare and ab then go by the metrics' names: projections.direction)."""
    in_force = configuration_now(log, tree, project)
    return (in_force.config.lower_is_better or None) if in_force is not None else None


def _configuration_before(log: AuditLog, tree: VerifiedTree, project: str, before: int) -> InForce | None:
    row = log.store.latest(project, ev.PROJECT_CONFIGURED, before)
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
    return _run_config(recorded, lambda project, before: _configuration_before(log, tree, project, before),
                       lambda seq: configurations(log, tree, [seq])[seq])


def published_run_config(published: Any, view: Any, recorded: SealedEvent) -> RunConfig:
    """`run_config` for a run of a published log (app.publish.published_view): the configuration in force
    before it is the latest of its project's in the published configs table, read from the proven entry."""
    rows = _config_rows(view)

    def latest(project: str, before: int) -> InForce | None:
        found = [r for r in rows if r["project_id"] == project and r["seq"] < before]
        return None if not found else _published_config(published, found[-1]["seq"], found[-1]["event_hash"])

    return _run_config(recorded, latest, lambda seq: published_configurations(published, view, [seq])[seq])


def published_configurations(published: Any, view: Any, seqs: Iterable[int]) -> dict[int, InForce]:
    """`configurations` of a published log: each from its proven entry, which must be the event its configs
    row names; IntegrityError when the table has no configuration at a seq a run names."""
    hashes = {r["seq"]: r["event_hash"] for r in _config_rows(view)}
    wanted = sorted({seq for seq in seqs if type(seq) is int})
    missing = [seq for seq in wanted if seq not in hashes]
    if missing:
        raise IntegrityError(missing[0], "a run names this seq as its configuration, and the published configs "
                                         "table has none there")
    return {seq: _published_config(published, seq, hashes[seq]) for seq in wanted}


def _config_rows(view: Any) -> list[dict[str, Any]]:
    import projections
    return projections.to_records(view.configs.select(["seq", "project_id", "event_hash"]))


def _published_config(published: Any, seq: int, event_hash: str) -> InForce:
    import hashlib
    body = published.entry(seq)  # proven included in the checked checkpoint's tree
    sealed = SealedEvent(seq, hashlib.sha256(body).hexdigest(), body)
    if sealed.hash != event_hash:
        raise IntegrityError(seq, "the published configs table names another event than the published entry")
    return in_force_of(sealed)


def _run_config(recorded: SealedEvent, latest: Callable[[str, int], InForce | None],
                at: Callable[[int], InForce]) -> RunConfig:
    """The configuration `recorded` names (`at` its seq), checked against `latest(project, before)`."""
    event = recorded.event
    run, named = event.data["run"], event.data.get("config_seq")
    in_force = latest(event.project, recorded.seq)
    shown = in_force if in_force is not None and named == in_force.seq else (at(named) if type(named) is int else None)
    found = violations(run, named, None if in_force is None else (in_force.seq, in_force.config))
    return RunConfig(shown, tuple(found))
