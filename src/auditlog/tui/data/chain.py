"""The raw log, a page at a time, and its full verification.

Pages are read with `AuditLog.events(after, until)`: one bounded read per page, so a
log of any length opens at once. Each row carries what makes the chain visible: does
the event's `prev` name the hash of the event before it, and do its bytes hash to its
stored hash. Verification runs `AuditLog.verify` on a connection of its own (it is
meant for a worker thread), reports progress, and stops when asked to.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditlog.core.events import ZERO_HASH
from auditlog.core.note import unverified_note
from auditlog.errors import AuditLogError
from auditlog.services.log import AuditLog


@dataclass(frozen=True)
class EventRow:
    seq: int
    ts: str
    type: str
    project: str
    subject: str
    hash: str
    prev: str
    intact: bool  # sha256(bytes) == the stored hash
    linked: bool | None  # prev == the hash of the event before (None for the first row read)


def event_rows(log: AuditLog, start: int, stop: int) -> list[EventRow]:
    """Events start <= seq < stop, each checked against the one before it."""
    rows: list[EventRow] = []
    before: str | None = None
    for sealed in log.events(after=max(start - 2, -1), until=stop):
        row = _row(sealed, before)
        before = sealed.hash
        if sealed.seq >= start:
            rows.append(row)
    if start == 0 and rows:
        rows[0] = _replace_link(rows[0], rows[0].prev == ZERO_HASH)
    return rows


def _row(sealed: Any, before: str | None) -> EventRow:
    intact = hashlib.sha256(sealed.body).hexdigest() == sealed.hash
    try:
        envelope = json.loads(sealed.body)
        fields = [str(envelope.get(k, "")) for k in ("ts", "type", "project", "subject", "prev")]
    except (ValueError, AttributeError):
        fields = ["?", "(unreadable bytes)", "", "", "?"]
    ts, type_, project, subject, prev = fields
    linked = None if before is None else prev == before
    return EventRow(sealed.seq, ts, type_, project, subject, sealed.hash, prev, intact, linked)


def _replace_link(row: EventRow, linked: bool) -> EventRow:
    return EventRow(row.seq, row.ts, row.type, row.project, row.subject, row.hash, row.prev, row.intact, linked)


def pretty_body(body: bytes) -> str:
    """An event's bytes as indented JSON for reading (the stored bytes are the canonical form)."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return body.decode("utf-8", "replace")


class Cancelled(Exception):
    """Verification was stopped on request; `done` events had been checked."""

    def __init__(self, done: int) -> None:
        super().__init__(f"cancelled after {done} events")
        self.done = done


@dataclass(frozen=True)
class Trust:
    """Checkpoints (label, Checkpoint) whose signatures were checked, and trusted verifier keys."""

    checkpoints: tuple[Any, ...] = ()
    verifiers: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Checkpoints:
    count: int
    signers: tuple[str, ...]  # key names on the stored notes (signatures need the verifier keys to check)
    latest_size: int | None


@dataclass(frozen=True)
class Verification:
    report: Any  # auditlog.services.verify.VerifyReport
    checkpoints: Checkpoints
    around: list[EventRow]  # the events around the first bad seq, when there is one


def verify(location: str | os.PathLike[str], progress: Callable[[int, int], None],
           cancelled: Callable[[], bool], trust: Trust | None = None) -> Verification:
    """Verify the log at `location` on a connection of its own. `progress(done, total)` is
    called as events are checked; when `cancelled()` turns true, raise Cancelled. `trust`
    holds what the user brought from outside the log (checkpoints, verifier keys), as
    `auditlog verify --checkpoint --vkey` takes them."""
    trust = trust or Trust()
    with AuditLog.open(location, create=False) as log:
        total = log.head().size
        progress(0, total)

        def tick(done: int) -> None:
            if cancelled():
                raise Cancelled(done)
            progress(done, total)

        report = log.verify(progress=tick, checkpoints=trust.checkpoints, verifiers=trust.verifiers)
        if cancelled():
            raise Cancelled(report.size)
        progress(report.size, max(total, report.size))
        around: list[EventRow] = []
        if report.first is not None:
            first = report.first.seq
            try:
                around = event_rows(log, max(first - 2, 0), first + 3)
            except AuditLogError:
                around = []
        return Verification(report, stored_checkpoints(log), around)


def stored_checkpoints(log: AuditLog) -> Checkpoints:
    stored = log.store.checkpoints()
    names: dict[str, None] = {}
    for checkpoint in stored:
        try:
            names.update(dict.fromkeys(s.name for s in unverified_note(checkpoint.note)[1]))
        except AuditLogError:
            continue  # verify reports a malformed note as a problem
    return Checkpoints(len(stored), tuple(names), stored[-1].size if stored else None)
