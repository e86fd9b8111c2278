"""Reads that reflect exactly the verified chain, or fail loudly.

The verified point is what the projections' fold computed: the tree (size, root and
peaks) of every body it hashed and linked from the genesis on, recorded in their
state.json. A run is shown only from bytes that are in a tree grown from that point:

- `open_view` catches the projections up (the fold verifies every event since the
  point, and checks the log still has the tree it computed there); `verified_run` then
  reads the run's event once, through the store's index, and checks its inclusion
  in that tree (an RFC 9162 proof from the stored subtrees, against the fold's root).
- `verified_tree` does the same without the projections' tables (and so without
  pyarrow): from the point state.json records, it walks the events appended since
  (each hashed, linked and its columns checked, as the fold would) up to the head,
  growing the fold's tree from its peaks, so the root it returns covers the head and was
  computed from bytes, never read from the store. `show` checks each event it prints
  against that root. When the projections are missing, of another log or far behind
  (more than `WALK_LIMIT` events), it catches them up first, as every other read does.

docs/threat-model.md says what each proves, and against whom.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditlog.core import events as ev
from auditlog.core.chain import Row, envelope_matches
from auditlog.core.events import SealedEvent, check_event_bytes
from auditlog.core.merkle import TreeBuilder, leaf_hash
from auditlog.core.verify_proof import verify_inclusion
from auditlog.errors import AuditLogError, IntegrityError, InvalidInput, ProofError, RunNotFound
from auditlog.services.log import AuditLog

WALK_LIMIT = 50_000  # events past the projections' point that `verified_tree` hashes itself; beyond, it catches up


@dataclass(frozen=True)
class VerifiedTree:
    """The first `size` events hash to `root`, computed from their bytes (by the fold, then by the walk)."""

    size: int
    root: bytes


def projections_directory(log: AuditLog, log_path: str | os.PathLike[str], directory: str | None = None) -> str:
    """--projections, else the default for this log (beside a log file; the cache for a URL)."""
    from projections.disk import default_directory
    return directory or default_directory(log_path, log.info().get("log_id"))


def open_view(log: AuditLog, log_path: str | os.PathLike[str], directory: str | None = None) -> Any:
    """The log's projections, caught up (which verifies every event since the last verified point)."""
    import projections
    return projections.open(log, projections_directory(log, log_path, directory))


def view_tree(view: Any) -> VerifiedTree:
    """The tree a caught-up View folded."""
    return VerifiedTree(view.size, bytes.fromhex(view.state.root))


def verified_tree(log: AuditLog, log_path: str | os.PathLike[str], directory: str | None = None) -> VerifiedTree:
    """The verified tree up to the log's head, from the projections' point without reading their tables
    (see the module's docstring); catches them up first when that point is missing or far behind."""
    from projections.state import read_state
    where = projections_directory(log, log_path, directory)
    try:
        state = read_state(Path(where))
    except (InvalidInput, AuditLogError):
        state = None  # damaged: the catch-up says what is wrong, or rebuilds
    head = log.head()
    usable = (state is not None and len(state.peaks) > 0 and state.log_id == log.info().get("log_id")
              and 0 <= head.size - (state.seq + 1) <= WALK_LIMIT)
    if not usable:
        return view_tree(open_view(log, log_path, directory))
    assert state is not None  # usable
    tree = TreeBuilder.from_peaks(state.seq + 1, [bytes.fromhex(p) for p in state.peaks])
    if tree.root().hex() != state.root:
        return view_tree(open_view(log, log_path, directory))  # inconsistent state.json: the catch-up decides
    saved = log.store.get(state.seq)
    if saved is None or saved.hash != state.hash or hashlib.sha256(saved.body).hexdigest() != state.hash:
        raise IntegrityError(state.seq, f"the log was rewritten under the projections: the event at seq {state.seq} "
                                        f"is not the one they were verified up to (hash {state.hash}); check the log "
                                        "with `auditlog verify`")
    leaves = [leaf_hash(e.body) for e in log.linked_events(after=state.seq, until=head.size)]
    tree.extend(leaves)
    if tree.size != head.size:
        raise IntegrityError(tree.size, f"the log's head says {head.size} events, but only {tree.size} could be "
                                        "read: check the log with `auditlog verify`")
    return VerifiedTree(tree.size, tree.root())


def checked_event(log: AuditLog, tree: VerifiedTree, row: Row) -> SealedEvent:
    """The stored event of `row` once everything about it is checked: its bytes hash to its stored hash,
    are one canonical event whose indexed columns are the envelope's, and are included at their seq in
    the verified tree. IntegrityError otherwise."""
    seq, stored, ts, type_, project, subject, body = row  # a store's StoredEvent
    sealed = SealedEvent(seq, stored, body)
    if hashlib.sha256(body).hexdigest() != stored:
        raise IntegrityError(seq, "the stored event's bytes do not hash to its stored hash: the log was altered; "
                                      "check it with `auditlog verify`")
    try:
        check_event_bytes(body)
    except InvalidInput as exc:
        raise IntegrityError(seq, f"the stored bytes are not a canonical event ({exc}): check the log "
                                      "with `auditlog verify`") from None
    event = sealed.event
    if not envelope_matches(body, event.prev, seq, ts, type_, project, subject):
        raise IntegrityError(seq, "the event's indexed columns disagree with its bytes: check the log with "
                                      "`auditlog verify`")
    check_included(log, tree, sealed)
    return sealed


def check_included(log: AuditLog, tree: VerifiedTree, sealed: SealedEvent) -> None:
    """IntegrityError unless `sealed` is in the verified tree at its seq."""
    if not 0 <= sealed.seq < tree.size:
        raise IntegrityError(sealed.seq, f"the event is not in the verified tree of {tree.size} events")
    try:
        verify_inclusion(leaf_hash(sealed.body), sealed.seq, tree.size, log.inclusion_proof(sealed.seq, tree.size),
                         tree.root)
    except ProofError as exc:
        raise IntegrityError(sealed.seq, f"the event is not included in the verified tree of {tree.size} events "
                                         f"({exc.reason}): the log was changed; check it with `auditlog verify`") from None


def verified_about(log: AuditLog, tree: VerifiedTree, run_id: str) -> tuple[SealedEvent, list[SealedEvent]]:
    """The run.recorded event of `run_id` and every event about it (oldest first) in the verified tree,
    each read once through the store's subject index and checked (`checked_event`). An event about it
    appended after the tree was verified is left out. NotFound when the tree has no such run."""
    about = [checked_event(log, tree, row) for row in log.store.find(run_id) if row.seq < tree.size]
    recorded = next((e for e in about if e.event.type == ev.RUN_RECORDED), None)
    if recorded is None:
        raise RunNotFound(run_id)
    return recorded, about


def verified_run(log: AuditLog, view: Any, run_id: str) -> tuple[SealedEvent, dict[str, Any]]:
    """The run.recorded event of `run_id` and its run document, from bytes the fold verified and the
    verified tree includes, read once; the projections' row of the run must be that event (the one
    folded). NotFound when the log has no such run."""
    tree = view_tree(view)
    found = [row for row in log.store.find(run_id, (ev.RUN_RECORDED,)) if row.seq < tree.size]
    if not found:
        raise RunNotFound(run_id)
    sealed = checked_event(log, tree, found[0])
    folded = _folded(view, run_id)
    if folded is None or folded != (sealed.seq, sealed.hash):
        raise IntegrityError(sealed.seq, f"the projections place run {run_id!r} at {folded!r}, but the log records it "
                                         f"at seq {sealed.seq} (hash {sealed.hash}): rebuild them with "
                                         "`auditlog projections rebuild`")
    return sealed, sealed.event.data["run"]


def _folded(view: Any, run_id: str) -> tuple[int, str] | None:
    """(seq, event hash) of the projections' row of `run_id`, or None."""
    import pyarrow.compute as pc
    runs = view.runs
    found = runs.filter(pc.equal(runs.column("run_id"), run_id)).select(["seq", "event_hash"])
    if found.num_rows == 0:
        return None
    return found.column("seq")[0].as_py(), found.column("event_hash")[0].as_py()
