"""The Writer: the appends of one write transaction, all or nothing.

It validates each document, checks idempotency against the log and the batch so far
(only from stored bytes that hash to their stored hash), links and seals each event,
buffers rows for the store, and before the transaction commits confirms that the
database holds exactly what was written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import Event, SealedEvent, envelope_tail, seal
from auditlog.errors import Conflict, IntegrityError, InvalidInput, NotFound, RunNotFound
from auditlog.evals import runs as documents
from auditlog.evals.config import ProjectConfig
from auditlog.evals.runs import VERDICTS, PreparedRun, check_identifier, check_tags, normalize_verdict, prepare_run
from auditlog.services import tree
from auditlog.services.clock import utc_now
from auditlog.services.configuration import Configurations, InForce, with_config_seq
from auditlog.services.environment import capture_actor, capture_environment
from auditlog.store import EventStore, Head
from auditlog.store.protocol import QueuedRun, StoredEvent, StoredNode, WriteTransaction

_FLUSH_EVERY = 2000
_sha256 = hashlib.sha256


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
        self._size, self._hash = head.size, head.hash  # the head as the appends so far moved it
        self._first = head.size  # the seq of this transaction's first append
        self._tree = tree.builder_at(txn, head.size)
        self._pending: list[StoredEvent] = []
        self._nodes: list[StoredNode] = []
        self._written_nodes = 0
        self._recorded: dict[tuple[str, str], list[tuple[str, Receipt]]] = {}  # (type, subject) -> batch
        self._runs: dict[str, Mapping[str, Any]] = {}  # run id -> the run document its first run.recorded holds
        self._actor = capture_actor()  # one per transaction: every event of it names the same actor
        self._actor_bytes = canonical_bytes(self._actor)
        self._configs = Configurations(txn)  # the configuration in force per project, as appends change it
        self.closed = False

    # -- the event types -----------------------------------------------------

    def record_run(self, doc: Mapping[str, Any], *, source: Mapping[str, Any] | None = None,
                   environment: Mapping[str, Any] | None = None) -> Receipt:
        """`source`: where the run was read from (auditlog.ingest.source_provenance), kept in the
        event beside the run and outside it: the same run read from another file is a retry.
        `environment`: see prepare_document."""
        return self.record_prepared(prepare_document(doc, environment), source=source)

    def record_runs(self, docs: Iterable[Mapping[str, Any]]) -> list[Receipt]:
        """Many runs, in order: every document validated and encoded first (InvalidInput names the first
        bad one's field, and nothing is written), their ids looked up in the log in one query, then sealed."""
        prepared = [prepare_document(doc) for doc in docs]
        self._look_up(ev.RUN_RECORDED, [run.run["run_id"] for run in prepared])
        return [self.record_prepared(run) for run in prepared]

    def record_prepared(self, prepared: PreparedRun, *, source: Mapping[str, Any] | None = None) -> Receipt:
        """A run already validated and encoded (`prepare_document`): outside any lock, when many
        writers share one (PostgreSQL's group sealing)."""
        run, submitted = prepared.run, prepared.document_sha256
        run_id = run["run_id"]
        existing = self._existing(ev.RUN_RECORDED, run_id)
        if existing:
            return self._already(run_id, existing[0], submitted, run)
        data = with_config_seq(encoded_run(prepared, source), self._configs.check(run))  # refused: InvalidInput
        self._runs[run_id] = run
        return self._append_encoded(ev.RUN_RECORDED, run["project_id"], run_id, data, submitted)

    def _already(self, run_id: str, existing: tuple[str, Receipt], submitted: str, run: Mapping[str, Any]) -> Receipt:
        """The receipt of a run recorded before from the same document; Conflict if it was another one, or
        claims this document's hash but holds other content (evals.runs.same_submission)."""
        sha, receipt = existing
        if sha != submitted:
            raise Conflict(f"run {run_id!r} is already recorded at seq {receipt.seq} with other content "
                           "(a correction is a new run and `auditlog supersede`)")
        recorded = self._runs.get(run_id)
        if recorded is not None and not documents.same_submission(recorded, run):
            raise Conflict(f"run {run_id!r} is recorded at seq {receipt.seq} under this document's hash, but with "
                           "other content: it was not recorded from this document (check the log with `auditlog "
                           "verify`; a correction is a new run and `auditlog supersede`)")
        return receipt

    def record_queued(self, run: QueuedRun, check: Callable[[], Mapping[str, Any]]) -> Receipt:
        """A run another writer queued (services.grouped): already recorded, a Conflict, or sealed with
        its own actor and bytes once `check` passed (it raises InvalidInput, or returns the run document
        the bytes carry, which the project's configuration is checked against)."""
        existing = self._existing(ev.RUN_RECORDED, run.subject)
        if existing:
            return self._already(run.subject, existing[0], run.document_sha256, check())
        document = check()
        self._runs[run.subject] = document
        data = run.data
        if self._configs.of(run.project) is not None:
            data = with_config_seq(data, self._configs.check(document))
        return self._append_encoded(ev.RUN_RECORDED, run.project, run.subject, data, run.document_sha256,
                                    actor=run.actor)

    @property
    def head(self) -> Head:
        return Head(self._size, self._hash)

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
        if any(self._data(r)["by"] == old_run_id for _sha, r in self._existing(ev.RUN_SUPERSEDED, by)):
            raise InvalidInput("--by", f"{by!r} is itself superseded by {old_run_id!r}: neither would be active")
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

    def configure(self, project: str, config: ProjectConfig) -> Receipt | None:
        """Make `config` the whole configuration of `project` from now on. Appends nothing when it is the
        configuration in force already (its receipt, not new), or when it is empty and the project has
        none (None)."""
        check_identifier(project, "PROJECT")
        current = self._configs.of(project)
        if current is None and config.empty:
            return None
        if current is not None and canonical_bytes(current.config.to_data()) == canonical_bytes(config.to_data()):
            return Receipt(current.seq, current.hash, ev.PROJECT_CONFIGURED, "", new=False)
        receipt = self._append(ev.PROJECT_CONFIGURED, project, "", config.to_data(), "")
        self._configs.appended(InForce(project, receipt.seq, receipt.hash, config))
        return receipt

    def configuration(self, project: str) -> InForce | None:
        """The configuration of `project` in force in this transaction, or None."""
        return self._configs.of(project)

    # -- the machinery -------------------------------------------------------

    def _existing(self, type_: str, subject: str) -> list[tuple[str, Receipt]]:
        """Events of this type about this subject: in the batch so far, else in the log."""
        known = self._recorded.get((type_, subject))
        if known is None:
            self._look_up(type_, [subject])
            known = self._recorded[(type_, subject)]
        return known

    def _look_up(self, type_: str, subjects: Sequence[str]) -> None:
        """Read, in one query, the events of this type about those of `subjects` not yet known here."""
        wanted = [subject for subject in dict.fromkeys(subjects) if (type_, subject) not in self._recorded]
        if wanted:
            self._know(type_, wanted, self._txn.find(wanted[0], (type_,)) if len(wanted) == 1
                       else self._txn.find_many(wanted, (type_,)))

    def know_runs(self, run_ids: Sequence[str], rows: Sequence[StoredEvent]) -> None:
        """What the log holds about these runs, from rows read already in this transaction (every event
        about them), ahead of recording them: no query of its own."""
        wanted = [run_id for run_id in dict.fromkeys(run_ids) if (ev.RUN_RECORDED, run_id) not in self._recorded]
        self._know(ev.RUN_RECORDED, wanted, [row for row in rows if row.type == ev.RUN_RECORDED])

    def _know(self, type_: str, wanted: Sequence[str], rows: Sequence[StoredEvent]) -> None:
        for subject in wanted:
            self._recorded[(type_, subject)] = []
        fresh = set(wanted)
        for row in rows:
            if row.subject not in fresh:
                continue
            data = checked_row(row).event.data
            if type_ == ev.RUN_RECORDED and isinstance(data.get("run"), Mapping):
                self._runs.setdefault(row.subject, data["run"])
            self._recorded[(type_, row.subject)].append(
                (data.get("document_sha256", ""), Receipt(row.seq, row.hash, type_, row.subject, new=False)))

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

    def _append(self, type_: str, project: str, subject: str, data: dict[str, Any], sha: str) -> Receipt:
        """Link, seal (the envelope checked, `data` encoded) and buffer one event."""
        self._check_open()
        event = Event(self._size, utc_now(), type_, project, subject, self._actor, data, self._hash)
        sealed = seal(event)
        return self._buffer(StoredEvent(sealed.seq, sealed.hash, event.ts, type_, project, subject, sealed.body), sha)

    def _append_encoded(self, type_: str, project: str, subject: str, data: bytes, sha: str,
                        actor: bytes | None = None) -> Receipt:
        """`_append` for a payload already encoded as canonical bytes (a run, validated by prepare_run).

        RFC 8785 orders the envelope's keys actor, data, prev, project, seq, subject, ts, type, v,
        so the body is the two encoded values followed by the envelope's tail. Its envelope is not
        re-checked: the type is ours, project and subject are the document's validated ids, ts is
        our clock's, seq and prev are the head's. verify parses and re-encodes every body all the
        same (and PostgreSQL's trigger checks each tail as it is inserted)."""
        self._check_open()
        seq, ts = self._size, utc_now()
        body = b'{"actor":%s,"data":%s%s' % (self._actor_bytes if actor is None else actor, data,
                                            envelope_tail(self._hash, project, seq, subject, ts, type_))
        return self._buffer(StoredEvent(seq, _sha256(body).hexdigest(), ts, type_, project, subject, body), sha)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the writer's transaction has ended: append inside `with log.writer() as w:`")

    def _buffer(self, row: StoredEvent, sha: str) -> Receipt:
        """Buffer a sealed row, extend the Merkle tree over it, move the head; its receipt."""
        self._pending.append(row)
        completed = self._tree.extend((_sha256(b"\x00" + row.body).digest(),), tree.STORED_LEVEL)  # its leaf hash
        if completed:
            self._nodes += [StoredNode(*node) for node in completed]
        self._size, self._hash = row.seq + 1, row.hash
        receipt = Receipt(row.seq, row.hash, row.type, row.subject, new=True)
        self._existing(row.type, row.subject).append((sha, receipt))  # looked up already, but for annotations
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
        first, head = self._first, self.head
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


def encoded_run(prepared: PreparedRun, source: Mapping[str, Any] | None = None) -> bytes:
    """The canonical bytes of a run event's data: {"document_sha256": ..., "run": ...[, "source": ...]}
    (RFC 8785 orders those three keys so); `source` is where the run was read from, outside the run."""
    head = b'{"document_sha256":"%s","run":%s' % (prepared.document_sha256.encode(), prepared.canonical)
    if source is None:
        return head + b"}"
    if not isinstance(source, Mapping):
        raise InvalidInput("source", "must be an object")
    return head + b',"source":%s}' % canonical_bytes(dict(source))


def prepare_document(doc: Mapping[str, Any], environment: Mapping[str, Any] | None = None) -> PreparedRun:
    """A run document validated and encoded once (evals.runs.prepare_run). When it has no environment,
    `environment` is recorded (what the file it was read from says), else this machine's is captured:
    either way filled in, so not part of the submitted document that makes retries idempotent."""
    if isinstance(doc, Mapping) and "environment" in doc:
        return prepare_run(doc)
    return prepare_run(doc, environment=capture_environment() if environment is None else environment)


def as_row(sealed: SealedEvent) -> StoredEvent:
    e = sealed.event
    return StoredEvent(sealed.seq, sealed.hash, e.ts, e.type, e.project, e.subject, sealed.body)
