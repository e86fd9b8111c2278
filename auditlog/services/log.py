"""AuditLog: the one place where the pure core meets a store.

Every write goes through a `Writer`, which holds the store's write transaction:
it validates each document, checks idempotency against the log and the batch so
far, links and seals the event, and buffers rows for the store. Leaving the block
commits everything; an exception anywhere commits nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes, canonical_object
from auditlog.core.events import Event, SealedEvent, seal, seal_encoded
from auditlog.core.merkle import leaf_hash
from auditlog.evals.runs import VERDICTS, check_identifier, check_tags, normalize_verdict, prepare_run
from auditlog.errors import Conflict, IntegrityError, InvalidInput, NotFound
from auditlog.services import tree
from auditlog.services.clock import utc_now
from auditlog.services.environment import capture_actor, capture_environment
from auditlog.store import EventStore, Head, open_store
from auditlog.store.protocol import Row, WriteTransaction

if TYPE_CHECKING:
    from auditlog.core.checkpoint import Checkpoint
    from auditlog.core.note import Signer, Verifier
    from auditlog.services.verify import VerifyReport

DEFAULT_LOG = "auditlog.db"
_FLUSH_EVERY = 2000


def default_location() -> str:
    """`$AUDITLOG_DB`, else ./auditlog.db."""
    return os.environ.get("AUDITLOG_DB") or DEFAULT_LOG


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


class AuditLog:
    """A hash-chained log of eval runs and verdicts on any EventStore."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    @classmethod
    def open(cls, location: str | os.PathLike[str] | None = None, *, create: bool = True,
             origin: str | None = None, lock_timeout: float = 30.0, synchronous: str = "FULL") -> AuditLog:
        """Open a log, creating it (with its genesis event) when `create` and it does not exist."""
        store = open_store(location or default_location(), create=create, lock_timeout=lock_timeout,
                           synchronous=synchronous)
        log = cls(store)
        if store.head().size == 0:
            log._create_genesis(origin)
        return log

    def _create_genesis(self, origin: str | None) -> None:
        with self.store.transaction(self._lock_timeout) as txn:
            if txn.head().size:
                return  # another process made it while we waited
            log_id = uuid.uuid4().hex
            origin = origin or f"auditlog.local/{log_id}"
            check_identifier(origin, "--origin")
            if any(c.isspace() for c in origin):
                raise InvalidInput("--origin", "must not contain white space (it is a checkpoint's first line)")
            created = utc_now()
            data = {"log_id": log_id, "created": created, "format": ev.FORMAT, "origin": origin}
            sealed = seal(Event(0, created, ev.LOG_CREATED, "", "", capture_actor(), data, ev.ZERO_HASH))
            txn.append([_row(sealed)])  # a single leaf completes no stored subtree
            txn.set_meta({"log_id": log_id, "origin": origin, "genesis_hash": sealed.hash, "created": created})

    @property
    def _lock_timeout(self) -> float:
        return self.store.lock_timeout

    # -- reading -----------------------------------------------------------------

    def head(self) -> Head:
        return self.store.head()

    def info(self) -> dict[str, str]:
        """log_id, origin, genesis_hash and creation time, as recorded beside the events."""
        return self.store.meta()

    def events(self, after: int = -1, until: int | None = None) -> Iterator[SealedEvent]:
        """Events with after < seq (< until), in order: the read API projections use."""
        for seq, hash_, _ts, _type, _project, _subject, body in self.store.rows(after, until):
            yield SealedEvent(seq, hash_, body)

    def linked_events(self, after: int = -1, until: int | None = None) -> Iterator[SealedEvent]:
        """`events`, each checked as it is read: its bytes hash to its stored hash, and they end with
        the envelope its columns and the previous event's hash give (so it links to the one before).
        IntegrityError at the first that does not: what is handed out is the chain, or nothing more."""
        prev = ev.ZERO_HASH
        if after >= 0:
            before = self.store.get(after)
            if before is None:
                return
            prev = _sealed(before).hash
        expected = after + 1
        for seq, hash_, ts, type_, project, subject, body in self.store.rows(after, until):
            if seq != expected:
                raise IntegrityError(expected, "the log has no event at this seq (events were removed): check it "
                                               "with `auditlog verify`")
            _checked(SealedEvent(seq, hash_, body))
            try:
                linked = body.endswith(ev.envelope_tail(prev, project, seq, subject, ts, type_))
            except TypeError:  # a column that is not text
                linked = False
            if not linked:
                raise IntegrityError(seq, "the event does not link to the one before it, or its columns disagree "
                                          "with its bytes: check the log with `auditlog verify`")
            prev, expected = hash_, seq + 1
            yield SealedEvent(seq, hash_, body)

    def event(self, seq: int) -> SealedEvent:
        row = self.store.get(seq)
        if row is None:
            raise NotFound(f"no event at seq {seq} (the log has {self.head().size})")
        return _sealed(row)

    def about(self, subject: str, *types: str) -> list[SealedEvent]:
        """Every event whose subject is `subject` (a run id), oldest first."""
        return [_sealed(r) for r in self.store.find(subject, types)]

    def run(self, run_id: str) -> dict[str, Any]:
        """The run document as recorded; NotFound when the log has no such run."""
        found = self.store.find(run_id, (ev.RUN_RECORDED,))
        if not found:
            raise NotFound(f"no run {run_id!r} in {self.store.location}")
        return _sealed(found[0]).event.data["run"]

    # -- writing -----------------------------------------------------------------

    def writer(self) -> Writer:
        """A batch: `with log.writer() as w: w.record_run(doc)`; all or nothing on exit."""
        return Writer(self)

    def record_run(self, doc: Mapping[str, Any]) -> Receipt:
        with self.writer() as w:
            return w.record_run(doc)

    def record_verdict(self, doc: Mapping[str, Any]) -> Receipt:
        with self.writer() as w:
            return w.record_verdict(doc)

    def supersede(self, old_run_id: str, by: str, reason: str) -> Receipt:
        with self.writer() as w:
            return w.supersede(old_run_id, by, reason)

    def annotate(self, run_id: str, *, tags: Mapping[str, str] | None = None, note: str | None = None) -> Receipt:
        with self.writer() as w:
            return w.annotate(run_id, tags=tags, note=note)

    def override_verdict(self, verdict_seq: int, to: str, reason: str) -> Receipt:
        with self.writer() as w:
            return w.override_verdict(verdict_seq, to, reason)

    def pin_baseline(self, run_id: str, *, project: str, model: str | None = None,
                     reason: str | None = None) -> Receipt:
        with self.writer() as w:
            return w.pin_baseline(run_id, project=project, model=model, reason=reason)

    def verify(self, progress: Callable[[int], None] | None = None, checkpoints: Sequence[tuple[str, Checkpoint]] = (),
               verifiers: Sequence[Verifier] = ()) -> VerifyReport:
        """A VerifyReport; `checkpoints` are (label, Checkpoint) pairs already signature-checked;
        stored checkpoints signed by one of `verifiers` (trusted keys) count as anchors too."""
        from auditlog.services.verify import verify_log
        return verify_log(self, progress=progress, checkpoints=checkpoints, verifiers=verifiers)

    # -- the Merkle tree -----------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """RFC 9162 root of the first `size` events (default: all)."""
        return tree.root(self.store, self.head().size if size is None else size)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of event `seq` in the tree of `size` events (default: all)."""
        return tree.inclusion_proof(self.store, seq, self.head().size if size is None else size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 proof that the tree of `size1` events is a prefix of the tree of `size2`."""
        return tree.consistency_proof(self.store, size1, self.head().size if size2 is None else size2)

    def checkpoint(self, signer: Signer) -> str:
        """Sign the current tree as a C2SP checkpoint, keep it in the log, return the note."""
        from auditlog.services.checkpoints import make_checkpoint
        return make_checkpoint(self, signer)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Writer:
    """One write transaction. Use as a context manager; see AuditLog.writer."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log
        self._transaction = ExitStack()
        self._txn: WriteTransaction | None = None
        self._pending: list[Row] = []
        self._nodes: list[tuple[int, int, bytes]] = []
        self._recorded: dict[tuple[str, str], list[tuple[str, Receipt]]] = {}  # (type, subject) -> batch
        self._head = Head(0)
        self._first = 0  # the seq of this transaction's first append
        self._written_nodes = 0

    def __enter__(self) -> Writer:
        with ExitStack() as stack:  # anything raised here leaves the transaction, rolled back
            self._txn = stack.enter_context(self._log.store.transaction(self._log._lock_timeout))
            self._head = self._txn.head()
            self._first = self._head.size
            if self._head.size == 0:
                raise NotFound(f"{self._log.store.location} has no genesis event: open it with AuditLog.open")
            self._tree = tree.builder_at(self._txn, self._head.size)
            self._transaction = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            try:
                self._flush()
                self._confirm()
            except BaseException as error:
                self._transaction.__exit__(type(error), error, error.__traceback__)
                raise
        self._transaction.__exit__(exc_type, exc, tb)

    # -- the event types -----------------------------------------------------

    def record_run(self, doc: Mapping[str, Any]) -> Receipt:
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
        data = {"document_sha256": submitted, "run": run}
        encoded = canonical_object({"document_sha256": b'"%s"' % submitted.encode(), "run": prepared.canonical})
        return self._append(ev.RUN_RECORDED, run["project_id"], run_id, data, submitted, encoded)

    def record_verdict(self, doc: Mapping[str, Any]) -> Receipt:
        verdict, submitted = normalize_verdict(doc)
        project = self._project_of(verdict["run_id"], "$.run_id")
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
        if row[3] != ev.VERDICT_RECORDED:
            raise InvalidInput("VERDICT_SEQ", f"seq {verdict_seq} is a {row[3]} event, not a verdict")
        if to not in VERDICTS:
            raise InvalidInput("--to", f"must be one of {', '.join(VERDICTS)}, not {to!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("--reason", "say why the verdict is overridden")
        original = _sealed(row).event.data["verdict"]["verdict"]
        data = {"verdict_seq": verdict_seq, "from": original, "to": to, "reason": reason}
        return self._append(ev.VERDICT_OVERRIDDEN, row[4], row[5], data, "")

    def pin_baseline(self, run_id: str, *, project: str, model: str | None = None,
                     reason: str | None = None) -> Receipt:
        """Name the run that gates of this project (and model) compare against from now on."""
        row = self._run_row(run_id, "RUN_ID")
        run = _sealed(row).event.data["run"]
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
            for seq, hash_, _ts, _type, _project, _subject, body in self._txn.find(subject, (type_,)):
                data = _checked(SealedEvent(seq, hash_, body)).event.data
                known.append((data.get("document_sha256", ""), Receipt(seq, hash_, type_, subject, new=False)))
        return known

    def _project_of(self, run_id: Any, field: str) -> str:
        return self._run_row(run_id, field)[4]

    def _run_row(self, run_id: Any, field: str) -> Row:
        """The run.recorded row of `run_id`; NotFound naming `field` when there is none."""
        check_identifier(run_id, field)
        runs = self._existing(ev.RUN_RECORDED, run_id)
        if not runs:
            raise NotFound(f"{field}: no run {run_id!r} in the log")
        return self._row_at(runs[0][1].seq)

    def _row_at(self, seq: int) -> Row | None:
        """A row of this transaction: buffered (contiguous, so found by offset) or already in the store."""
        if self._pending and seq >= self._pending[0][0]:
            offset = seq - self._pending[0][0]
            return self._pending[offset] if offset < len(self._pending) else None
        return self._txn.get(seq)

    def _data(self, receipt: Receipt) -> dict[str, Any]:
        row = self._row_at(receipt.seq)
        return _sealed(row).event.data

    def _append(self, type_: str, project: str, subject: str, data: dict[str, Any], sha: str,
                encoded_data: bytes | None = None) -> Receipt:
        """Link, seal and buffer one event; `encoded_data`, when given, is canonical_bytes(data)."""
        if self._txn is None:
            raise RuntimeError("use the writer as a context manager: `with log.writer() as w:`")
        actor = capture_actor()
        event = Event(self._head.size, utc_now(), type_, project, subject, actor, data, self._head.hash)
        if encoded_data is None:
            sealed = seal(event)
        else:
            sealed = seal_encoded(event, _encoded_actor(), encoded_data)
        self._pending.append((sealed.seq, sealed.hash, event.ts, type_, project, subject, sealed.body))
        self._nodes += self._tree.extend([leaf_hash(sealed.body)], tree.STORED_LEVEL)
        self._head = Head(sealed.seq + 1, sealed.hash)
        receipt = Receipt(sealed.seq, sealed.hash, type_, subject, new=True)
        self._existing(type_, subject).append((sha, receipt))
        if len(self._pending) >= _FLUSH_EVERY:
            self._flush()
        return receipt

    def _flush(self) -> None:
        if self._pending:
            self._txn.append(self._pending, self._nodes)
            self._written_nodes += len(self._nodes)
            self._pending, self._nodes = [], []

    def _confirm(self) -> None:
        """Before success is reported: the database holds, in this transaction, exactly what was
        written (a trigger or rule that drops or changes inserts is caught here, not by a later verify)."""
        first, head = self._first, self._head
        if head.size == first:
            return
        tally = self._txn.tally(since=first)
        last = self._txn.get(head.size - 1)
        expected = (head.size - first, first, head.size - 1, self._written_nodes)
        if ((tally.events, tally.min_seq, tally.max_seq, tally.nodes) != expected or last is None
                or last[1] != head.hash or hashlib.sha256(last[6]).hexdigest() != head.hash):
            raise IntegrityError(first, f"the database did not keep what was written (asked for events {first}.."
                                        f"{head.size - 1} and {self._written_nodes} Merkle rows; it holds "
                                        f"{tally.events} events from seq {tally.min_seq} to {tally.max_seq} and "
                                        f"{tally.nodes} Merkle rows, head {'ok' if last and last[1] == head.hash else 'wrong'}): "
                                        "something in the database drops or changes inserts (a trigger or rule "
                                        "auditlog did not make?); nothing was written; run `auditlog verify`")


def _sealed(row: Row) -> SealedEvent:
    """The stored event of a row, once its bytes hash to its stored hash; IntegrityError otherwise.
    A decision (already recorded? which project?) is never made from bytes the chain does not vouch for."""
    return _checked(SealedEvent(row[0], row[1], row[6]))


def _checked(sealed: SealedEvent) -> SealedEvent:
    if hashlib.sha256(sealed.body).hexdigest() != sealed.hash:
        raise IntegrityError(sealed.seq, "the stored event's bytes do not hash to its stored hash: the log was "
                                         "altered; nothing was written; check it with `auditlog verify`")
    return sealed


@functools.lru_cache(maxsize=1)
def _encoded_actor() -> bytes:
    return canonical_bytes(capture_actor())


def _row(sealed: SealedEvent) -> Row:
    e = sealed.event
    return (sealed.seq, sealed.hash, e.ts, e.type, e.project, e.subject, sealed.body)


def write_run(doc: Mapping[str, Any], log: str | os.PathLike[str] | None = None) -> Receipt:
    """Record one run in the log at `log` (default: $AUDITLOG_DB, then ./auditlog.db)."""
    with AuditLog.open(log) as opened:
        return opened.record_run(doc)
