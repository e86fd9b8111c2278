"""The Writer: the appends of one write transaction, all or nothing.

It validates each document, checks idempotency against the log and the batch so far
(only from stored bytes that hash to their stored hash), links and seals each event,
buffers rows for the store, and before the transaction commits confirms that the
database holds exactly what was written.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import Event, SealedEvent, check_envelope, envelope_tail, event_hash, seal
from auditlog.core.merkle import leaf_hash
from auditlog.errors import Conflict, IntegrityError, InvalidInput, NotFound, RunNotFound
from auditlog.evals.canonical import canonical_object
from auditlog.evals.runs import VERDICTS, check_identifier, check_tags, normalize_verdict, prepare_run
from auditlog.services import tree
from auditlog.services.clock import utc_now
from auditlog.services.environment import capture_actor, capture_environment
from auditlog.store import EventStore, Head
from auditlog.store.protocol import StoredEvent, StoredNode, WriteTransaction

_FLUSH_EVERY = 2000


@dataclass(frozen=True)
class Receipt:
    """What an append did: the event now at `seq`, and whether this call added it."""

    seq: int
    hash: str
    type: str
    subject: str
    new: bool

    def describe(self) -> str:
        what = "recorded" if self.new else "already recorded"
        return f"{self.type} {self.subject} {what} at seq {self.seq} ({self.hash[:12]})".replace("  ", " ")


@contextmanager
def transaction(store: EventStore) -> Iterator[Writer]:
    """One write transaction on `store`, as a Writer: leaving the block flushes what was buffered,
    confirms the database kept it, and commits; an exception anywhere commits nothing."""
    with store.transaction(store.lock_timeout) as txn:
        head = txn.head()
        if head.size == 0:
            raise NotFound(f"{store.location} has no genesis event: open it with AuditLog.open")
        writer = Writer(txn, head)
        try:
            yield writer
            writer.flush()
            writer.confirm()
        finally:
            writer.closed = True


class Writer:
    """The appends of one write transaction (see `transaction`): validated, checked for
    idempotency against the log and the batch so far, linked, sealed and buffered."""

    def __init__(self, txn: WriteTransaction, head: Head) -> None:
        self._txn = txn
        self._head = head
        self._first = head.size  # the seq of this transaction's first append
        self._tree = tree.builder_at(txn, head.size)
        self._pending: list[StoredEvent] = []
        self._nodes: list[StoredNode] = []
        self._written_nodes = 0
        self._recorded: dict[tuple[str, str], list[tuple[str, Receipt]]] = {}  # (type, subject) -> batch
        self.closed = False

    # -- the event types -----------------------------------------------------

    def record_run(self, doc: Mapping[str, Any], *, source: Mapping[str, Any] | None = None) -> Receipt:
        """`source`: where the run was read from (auditlog.ingest.source_provenance), kept in the
        event beside the run and outside it: the same run read from another file is a retry."""
        environment = None if (isinstance(doc, Mapping) and "environment" in doc) else capture_environment()
        prepared = prepare_run(doc, environment=environment)
        run, submitted = prepared.run, prepared.document_sha256
        run_id = run["run_id"]
        existing = self._existing(ev.RUN_RECORDED, run_id)
        if existing:
            sha, receipt = existing[0]
            if sha == submitted:
                return receipt
            raise Conflict(f"run {run_id!r} is already recorded at seq {receipt.seq} with other content "
                           "(a correction is a new run and `auditlog supersede`)")
        data: dict[str, Any] = {"document_sha256": submitted, "run": run}
        members = {"document_sha256": b'"%s"' % submitted.encode(), "run": prepared.canonical}
        if source is not None:
            if not isinstance(source, Mapping):
                raise InvalidInput("source", "must be an object")
            data["source"] = dict(source)
            members["source"] = canonical_bytes(data["source"])
        encoded = canonical_object(members)
        return self._append(ev.RUN_RECORDED, run["project_id"], run_id, data, submitted, encoded)

    def record_verdict(self, doc: Mapping[str, Any]) -> Receipt:
        verdict, submitted = normalize_verdict(doc)
        project = self._project_of(verdict["run_id"], "$.run_id")
        if verdict["baseline_run_id"] is not None:  # null: a verdict without a baseline (evals.runs)
            self._project_of(verdict["baseline_run_id"], "$.baseline_run_id")
        for sha, receipt in self._existing(ev.VERDICT_RECORDED, verdict["run_id"]):
            if sha == submitted:
                return receipt
        data = {"document_sha256": submitted, "verdict": verdict}
        return self._append(ev.VERDICT_RECORDED, project, verdict["run_id"], data, submitted)

    def supersede(self, old_run_id: str, by: str, reason: str) -> Receipt:
        if old_run_id == by:
            raise InvalidInput("--by", "a run cannot supersede itself")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("--reason", "say why the run is superseded")
        project = self._project_of(old_run_id, "RUN_ID")
        self._project_of(by, "--by")
        data = {"by": by, "reason": reason}
        for _sha, receipt in self._existing(ev.RUN_SUPERSEDED, old_run_id):
            previous = self._data(receipt)
            if previous == data:
                return receipt
            raise Conflict(f"run {old_run_id!r} is already superseded by {previous['by']!r} at seq {receipt.seq}")
        return self._append(ev.RUN_SUPERSEDED, project, old_run_id, data, "")

    def annotate(self, run_id: str, *, tags: Mapping[str, str] | None = None, note: str | None = None) -> Receipt:
        if not tags and not note:
            raise InvalidInput("--tag/--note", "an annotation needs at least a tag or a note")
        data: dict[str, Any] = {}
        if tags:
            data["tags"] = check_tags(tags, "--tag")
        if note:
            if not isinstance(note, str):
                raise InvalidInput("--note", "must be a string")
            data["note"] = note
        project = self._project_of(run_id, "RUN_ID")
        return self._append(ev.RUN_ANNOTATED, project, run_id, data, "")

    def override_verdict(self, verdict_seq: int, to: str, reason: str) -> Receipt:
        """A person overrules a verdict: a new event; the original verdict stays as it was."""
        row = self._row_at(verdict_seq) if type(verdict_seq) is int and verdict_seq >= 0 else None
        if row is None:
            raise NotFound(f"VERDICT_SEQ: no event at seq {verdict_seq!r}")
        if row.type != ev.VERDICT_RECORDED:
            raise InvalidInput("VERDICT_SEQ", f"seq {verdict_seq} is a {row.type} event, not a verdict")
        if to not in VERDICTS:
            raise InvalidInput("--to", f"must be one of {', '.join(VERDICTS)}, not {to!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("--reason", "say why the verdict is overridden")
        original = checked_row(row).event.data["verdict"]["verdict"]
        data = {"verdict_seq": verdict_seq, "from": original, "to": to, "reason": reason}
        return self._append(ev.VERDICT_OVERRIDDEN, row.project, row.subject, data, "")

    def pin_baseline(self, run_id: str, *, project: str, model: str | None = None,
                     reason: str | None = None) -> Receipt:
        """Name the run that gates of this project (and model) compare against from now on."""
        row = self._run_row(run_id, "RUN_ID")
        run = checked_row(row).event.data["run"]
        if run["project_id"] != project:
            raise InvalidInput("--project", f"run {run_id!r} belongs to project {run['project_id']!r}")
        if model is not None and run["model_id"] != model:
            raise InvalidInput("--model", f"run {run_id!r} is of model {run['model_id']!r}")
        data: dict[str, Any] = {"run_id": run_id, "model_id": model}
        if reason:
            data["reason"] = reason
        return self._append(ev.BASELINE_PINNED, project, run_id, data, "")

    # -- the machinery -------------------------------------------------------

    def _existing(self, type_: str, subject: str) -> list[tuple[str, Receipt]]:
        """Events of this type about this subject: in the batch so far, else in the log."""
        known = self._recorded.get((type_, subject))
        if known is None:
            known = self._recorded[(type_, subject)] = []
            for row in self._txn.find(subject, (type_,)):
                data = checked_row(row).event.data
                known.append((data.get("document_sha256", ""), Receipt(row.seq, row.hash, type_, subject, new=False)))
        return known

    def _project_of(self, run_id: Any, field: str) -> str:
        return self._run_row(run_id, field).project

    def _run_row(self, run_id: Any, field: str) -> StoredEvent:
        """The run.recorded row of `run_id`; NotFound naming `field` when there is none."""
        check_identifier(run_id, field)
        runs = self._existing(ev.RUN_RECORDED, run_id)
        if not runs:
            raise RunNotFound(run_id, field=field)
        return self._known_row(runs[0][1].seq)

    def _row_at(self, seq: int) -> StoredEvent | None:
        """A row of this transaction: buffered (contiguous, so found by offset) or already in the store."""
        if self._pending and seq >= self._pending[0].seq:
            offset = seq - self._pending[0].seq
            return self._pending[offset] if offset < len(self._pending) else None
        return self._txn.get(seq)

    def _known_row(self, seq: int) -> StoredEvent:
        """The row of a receipt of this log (it exists: the receipt was read or written here)."""
        row = self._row_at(seq)
        assert row is not None, f"no row at seq {seq}, which this transaction has seen"
        return row

    def _data(self, receipt: Receipt) -> dict[str, Any]:
        return checked_row(self._known_row(receipt.seq)).event.data

    def _append(self, type_: str, project: str, subject: str, data: dict[str, Any], sha: str,
                encoded_data: bytes | None = None) -> Receipt:
        """Link, seal and buffer one event; `encoded_data`, when given, is canonical_bytes(data)."""
        if self.closed:
            raise RuntimeError("the writer's transaction has ended: append inside `with log.writer() as w:`")
        actor = capture_actor()
        event = Event(self._head.size, utc_now(), type_, project, subject, actor, data, self._head.hash)
        if encoded_data is None:
            sealed = seal(event)
        else:
            sealed = seal_encoded(event, _encoded_actor(), encoded_data)
        self._pending.append(StoredEvent(sealed.seq, sealed.hash, event.ts, type_, project, subject, sealed.body))
        self._nodes += [StoredNode(*node) for node in self._tree.extend([leaf_hash(sealed.body)], tree.STORED_LEVEL)]
        self._head = Head(sealed.seq + 1, sealed.hash)
        receipt = Receipt(sealed.seq, sealed.hash, type_, subject, new=True)
        self._existing(type_, subject).append((sha, receipt))
        if len(self._pending) >= _FLUSH_EVERY:
            self.flush()
        return receipt

    def flush(self) -> None:
        """Hand the buffered rows to the store (inside the transaction)."""
        if self._pending:
            self._txn.append(self._pending, self._nodes)
            self._written_nodes += len(self._nodes)
            self._pending, self._nodes = [], []

    def confirm(self) -> None:
        """Before success is reported: the database holds, in this transaction, exactly what was
        written (a trigger or rule that drops or changes inserts is caught here, not by a later verify)."""
        first, head = self._first, self._head
        if head.size == first:
            return
        tally = self._txn.tally(since=first)
        last = self._txn.get(head.size - 1)
        expected = (head.size - first, first, head.size - 1, self._written_nodes)
        if ((tally.events, tally.min_seq, tally.max_seq, tally.nodes) != expected or last is None
                or last.hash != head.hash or hashlib.sha256(last.body).hexdigest() != head.hash):
            raise IntegrityError(first, f"the database did not keep what was written (asked for events {first}.."
                                        f"{head.size - 1} and {self._written_nodes} Merkle rows; it holds "
                                        f"{tally.events} events from seq {tally.min_seq} to {tally.max_seq} and "
                                        f"{tally.nodes} Merkle rows, head {'ok' if last and last.hash == head.hash else 'wrong'}): "
                                        "something in the database drops or changes inserts (a trigger or rule "
                                        "auditlog did not make?); nothing was written; run `auditlog verify`")


def checked_row(row: StoredEvent) -> SealedEvent:
    """The stored event of a row, once its bytes hash to its stored hash; IntegrityError otherwise.
    A decision (already recorded? which project?) is never made from bytes the chain does not vouch for."""
    return checked(SealedEvent(row.seq, row.hash, row.body))


def checked(sealed: SealedEvent) -> SealedEvent:
    if hashlib.sha256(sealed.body).hexdigest() != sealed.hash:
        raise IntegrityError(sealed.seq, "the stored event's bytes do not hash to its stored hash: the log was "
                                         "altered; nothing was written; check it with `auditlog verify`")
    return sealed


@functools.lru_cache(maxsize=1)
def _encoded_actor() -> bytes:
    return canonical_bytes(capture_actor())


def seal_encoded(event: Event, actor: bytes, data: bytes) -> SealedEvent:
    """`core.events.seal`, for an event whose actor and data are already canonical bytes.

    The caller guarantees actor == canonical_bytes(event.actor) and likewise data:
    a large payload is then encoded once, not again inside the envelope. RFC 8785
    orders the envelope's keys actor, data, prev, project, seq, subject, ts, type, v,
    so the body is those two values followed by the envelope's tail. What it writes is
    checked as any event is (verify parses and re-encodes every body).
    """
    check_envelope(event)
    body = (b'{"actor":' + actor + b',"data":' + data
            + envelope_tail(event.prev, event.project, event.seq, event.subject, event.ts, event.type))
    sealed = SealedEvent(event.seq, event_hash(body), body)
    sealed.__dict__["event"] = event
    return sealed


def as_row(sealed: SealedEvent) -> StoredEvent:
    e = sealed.event
    return StoredEvent(sealed.seq, sealed.hash, e.ts, e.type, e.project, e.subject, sealed.body)
