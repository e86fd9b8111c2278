"""Reads that reflect exactly the verified chain, or fail loudly.

The projections' View is the verified point: its tree (size and root) was computed by the
fold from bodies it hashed and linked from the genesis on, and every catch-up checks the
log still has that tree. A run's figures are read only through it: its event must still
hash to what the fold saw (View.confirm) and be included in that tree (an RFC 9162 proof
from the log's stored subtrees, checked against the root the fold computed).
"""

from __future__ import annotations

import os
from typing import Any

from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.core.merkle import leaf_hash
from auditlog.core.verify_proof import verify_inclusion
from auditlog.errors import IntegrityError, InvalidInput, ProofError, RunNotFound
from auditlog.services.log import AuditLog


def projections_directory(log: AuditLog, log_path: str | os.PathLike[str], directory: str | None = None) -> str:
    """--projections, else the default for this log (beside a log file; the cache for a URL)."""
    import projections
    return directory or projections.default_directory(log_path, log.info().get("log_id"))


def open_view(log: AuditLog, log_path: str | os.PathLike[str], directory: str | None = None) -> Any:
    """The log's projections, caught up (which verifies every event since the last verified point)."""
    import projections
    return projections.open(log, projections_directory(log, log_path, directory))


def check_included(log: AuditLog, view: Any, sealed: SealedEvent) -> None:
    """IntegrityError unless `sealed` is in the verified tree at its seq."""
    size = view.size
    if not 0 <= sealed.seq < size:
        raise IntegrityError(sealed.seq, f"the event is not in the verified tree of {size} events")
    root = bytes.fromhex(view.state.root)
    try:
        verify_inclusion(leaf_hash(sealed.body), sealed.seq, size, log.inclusion_proof(sealed.seq, size), root)
    except ProofError as exc:
        raise IntegrityError(sealed.seq, f"the event is not included in the verified tree of {size} events "
                                         f"({exc.reason}): the log was changed; check it with `auditlog verify`") from None


def verified_run(log: AuditLog, view: Any, run_id: str) -> tuple[SealedEvent, dict[str, Any]]:
    """The run.recorded event of `run_id` and its run document, from bytes the fold verified and
    the verified tree includes. NotFound when the log has no such run."""
    row = view.run_row(run_id)  # confirms the bytes at its seq still hash to what the fold saw
    sealed = log.event(row["seq"])
    check_included(log, view, sealed)
    try:
        event = sealed.event
    except InvalidInput as exc:
        raise IntegrityError(sealed.seq, f"the stored bytes are not a canonical event ({exc}): check the log "
                                         "with `auditlog verify`") from None
    if event.type != ev.RUN_RECORDED or event.subject != run_id:
        raise IntegrityError(sealed.seq, f"the projections place run {run_id!r} at seq {sealed.seq}, which holds "
                                         f"a {event.type} event about {event.subject!r}: rebuild them with "
                                         "`auditlog projections rebuild`")
    return sealed, event.data["run"]


def verified_events_about(log: AuditLog, view: Any, run_id: str) -> list[SealedEvent]:
    """Every event about `run_id` that the verified tree includes (oldest first); an event about it
    appended after the catch-up is not verified yet, and is left out."""
    found = [e for e in log.about(run_id) if e.seq < view.size]
    for sealed in found:
        check_included(log, view, sealed)
    if not found:
        raise RunNotFound(run_id)
    return found
