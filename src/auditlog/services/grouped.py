"""Group sealing: many writers of one log (PostgreSQL), one lock holder sealing for all of them.

Learnt from transparency-dev/tessera (storage/internal/queue.go, integrate.go), where writers
add entries to a queue and one integrator sequences a whole batch at once; our writers are
separate processes, so the queue is a table of the log's database and the integrator is
whichever writer holds the writers' lock next. A writer:

1. validates and encodes its run outside any lock (`writer.prepare_document`), and queues
   those bytes (one committed INSERT into an UNLOGGED table: no WAL flush), trying the writers'
   lock in the same round trip without waiting for it (FOR UPDATE SKIP LOCKED);
2. if another writer holds the lock, it waits for that holder to finish (a shared lock on the
   lock row, which waiters do not refuse each other) and on its own queue row (the holder
   locks the rows it takes), and deletes the row if it holds an outcome, in one round trip:
   the writers of a group all wake at its COMMIT, none of them queueing for the lock. If that
   holder did not take the run, it tries again; after three tries it queues for the lock;
3. with the lock, it seals every run still queued, its own included, in one transaction (one
   round trip reads the head, the queue and the events about the queued runs; one pipeline
   sends the events, each run's outcome into its row, and the confirmation's reads; one
   COMMIT, so one WAL flush for the group): an outcome is visible exactly when its event is.

Each caller still gets its own receipt (seq, hash, new), and "already recorded" stays exact
(the idempotency check runs under the lock, against the log and the group so far). A queued
run is checked before it is sealed (its bytes are canonical JSON naming its own run id,
project and document hash), so a writer that queued anything else gets it refused, not
sealed. A writer killed after queueing may still have its run sealed by the next holder, as
a COMMIT whose acknowledgement was lost; appending it again is idempotent.

Every writer of the database may write every queue row (the holder writes the others'
outcomes), so nothing read back from the queue is believed: the holder seals its own run from
the bytes it holds in memory, not from its row, and no writer returns a receipt before it
checked the event the receipt names, read from the events table (which no writer can change)
in the round trip that brought the outcome: that event must be this run (`_checked_receipt`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import envelope_tail, parse_event
from auditlog.errors import Conflict, InvalidInput, LockTimeout, VerificationError
from auditlog.evals.runs import PreparedRun, same_submission
from auditlog.services.configuration import with_config_seq
from auditlog.services.writer import Receipt, Writer, encoded_run
from auditlog.store.protocol import GroupSealing, QueuedRun, Settled, StoredEvent

# Times a writer whose run nobody took tries for a free lock, each time waiting for the holder
# it found (who may take the run) rather than queueing behind it, before it queues for the lock.
_TRIES = 3


def record_run(store: GroupSealing, prepared: PreparedRun, actor: bytes,
               source: Mapping[str, Any] | None = None) -> Receipt:
    """Queue one prepared run, and return its receipt once a lock holder (maybe this writer) sealed it."""
    run = prepared.run
    queued = QueuedRun(0, run["project_id"], run["run_id"], prepared.document_sha256, actor,
                       encoded_run(prepared, source))
    deadline = time.monotonic() + store.lock_timeout  # the whole wait, however many steps it takes

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    ticket = store.enqueue(queued, try_lock=True)  # and, in the same round trip, the lock if it is free
    mine = Mine(dataclasses.replace(queued, id=ticket), run)
    try:
        settled = None
        for _ in range(_TRIES):  # the lock if it is free (seal the queue), else wait for its holder, who may seal it
            settled = _take_turn(store, mine, left(), wait=False)
            if settled is not None:
                break
        settled = settled or _take_turn(store, mine, left())  # queue for the lock itself
    except LockTimeout:
        withdrawn = store.withdraw(ticket)  # None: it was still waiting, and is gone now
        if withdrawn is None:
            raise
        settled = withdrawn
    if settled is None:  # a turn that waited for the lock always settles the run
        raise LockTimeout("the queued run was neither sealed nor refused")  # pragma: no cover
    return _checked_receipt(settled, mine)


@dataclasses.dataclass(frozen=True)
class Mine:
    """This writer's run as it queued it (`run.id`: its ticket) and the run document its bytes carry:
    what it seals when it holds the lock, and what every outcome it is handed is checked against."""

    run: QueuedRun
    document: Mapping[str, Any]


def _take_turn(store: GroupSealing, mine: Mine, timeout: float | None = None, wait: bool = True) -> Settled | None:
    """The run's outcome: the previous holder's, or this writer's after sealing the queue under the lock;
    None when `wait` is False, the lock was taken, and its holder did not seal the run."""
    ticket = mine.run.id
    with store.sealing_turn(ticket, timeout, wait=wait) as turn:
        if turn.txn is None:
            return turn.settled
        writer = Writer(turn.txn, turn.txn.head())
        with turn.txn.pipelined():  # the events, the outcomes, its own event and the confirmation in one round trip
            outcomes = seal_queue(writer, turn.queued, turn.about, mine)
            turn.txn.settle(outcomes, ticket)
            own = outcomes.get(ticket)
            if own is not None and own.seq is not None:
                turn.txn.read_ahead(own.seq)
            writer.confirm()
            if own is not None and own.seq is not None:  # the event its receipt names, as the log holds it
                row = turn.txn.get(own.seq)
                own = dataclasses.replace(own, body=None if row is None else row.body)
        return own or Settled(None, None, None, "invalid: the run left the queue before it was sealed")


def seal_queue(writer: Writer, queued: list[QueuedRun], about: list[StoredEvent],
               mine: Mine | None = None) -> dict[int, Settled]:
    """Seal every queued run in order in `writer`'s transaction and hand the rows to the store (the caller
    confirms); each one's outcome by ticket. A run refused (already recorded with other content, or bytes
    that are not a run's) refuses only itself. `about`: every event whose subject is a queued run's id,
    read with the queue (no query of its own). `mine`: the sealing writer's own run, sealed from its
    own bytes wherever its ticket's row is in the queue, whatever that row holds now (any writer may
    have changed it)."""
    writer.know_runs([run.subject for run in queued], about)  # the rows as read: what `about` covers
    outcomes: dict[int, Settled] = {}
    for row in queued:
        size = writer.head.size
        run: QueuedRun = row
        check: Callable[[], Mapping[str, Any]] = functools.partial(_check_queued, row)
        if mine is not None and row.id == mine.run.id:  # validated before it queued: nothing to parse back
            run, check = mine.run, functools.partial(_as_is, mine.document)
        try:
            receipt = writer.record_queued(run, check)
        except Conflict as exc:
            outcomes[run.id] = Settled(None, None, None, f"conflict: {exc}")
            continue
        except InvalidInput as exc:
            outcomes[run.id] = Settled(None, None, None, f"invalid: {exc}")
            continue
        outcomes[run.id] = Settled(receipt.seq, receipt.hash, receipt.seq >= size, None)
    writer.flush()
    return outcomes


def _as_is(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return document


def _check_queued(run: QueuedRun) -> dict[str, Any]:
    """The run document the queued bytes carry, when they are what `record_run` queues: canonical JSON,
    an object for the actor, and {"document_sha256", "run"[, "source" (an object)]} naming this row's
    hash, run id and project. InvalidInput otherwise."""
    try:
        actor, data = orjson.loads(run.actor), orjson.loads(run.data)
        if canonical_bytes(actor) != run.actor or canonical_bytes(data) != run.data:
            raise ValueError
    except (ValueError, InvalidInput):
        # The reference decides (an integral float beyond 2**53 parses back as an int in orjson), on the
        # bytes in an envelope of their own (any seq but 0, any prev but the genesis's all-zero one).
        body = b'{"actor":%s,"data":%s%s' % (run.actor, run.data,
                                            envelope_tail("f" * 64, run.project, 1, run.subject,
                                                          "2000-01-01T00:00:00.000000Z", ev.RUN_RECORDED))
        try:
            event = parse_event(body)
        except InvalidInput:
            raise InvalidInput("queue", "the queued run is not canonical JSON: it was not queued by auditlog") from None
        actor, data = event.actor, event.data
    run_doc: Any = data.get("run") if type(data) is dict else None
    if (type(actor) is not dict or type(data) is not dict
            or set(data) - {"source"} != {"document_sha256", "run"} or type(data.get("source", {})) is not dict
            or data["document_sha256"] != run.document_sha256 or type(run_doc) is not dict
            or run_doc.get("run_id") != run.subject or run_doc.get("project_id") != run.project):
        raise InvalidInput("queue", "the queued run does not match its row: it was not queued by auditlog")
    return run_doc


def _checked_receipt(settled: Settled, mine: Mine) -> Receipt:
    """The receipt of an outcome, once the event it names (`settled.body`, read from the events table with
    the outcome) is this run: VerificationError otherwise; a refusal raised as what it says."""
    if settled.refused is not None:
        kind, _, why = settled.refused.partition(": ")
        if kind == "conflict":
            raise Conflict(why)
        field, named, reason = why.partition(": ")
        if named and field.startswith("$."):  # the run's own field (its configuration refused it): name it
            raise InvalidInput(field, reason)
        raise InvalidInput("queue", why)
    run, seq, hash_ = mine.run, settled.seq, settled.hash
    if seq is None or hash_ is None or type(seq) is not int or seq < 0:
        raise VerificationError(f"not recorded: the queue's outcome names no event (seq {seq}) (another writer "
                                "of this database altered the queue)")
    body = settled.body
    if body is None:
        raise VerificationError(f"not recorded: the queue's outcome names seq {seq}, which the log does not hold "
                                "(another writer of this database altered the queue)")
    if not (hashlib.sha256(body).hexdigest() == hash_ and
            (_is_sealed_from(body, seq, run) if settled.new else _records_document(body, seq, mine))):
        raise VerificationError(f"not recorded: the queue's outcome names seq {seq}, which holds another event "
                                "(another writer of this database altered the queue)")
    return Receipt(seq, hash_, ev.RUN_RECORDED, run.subject, new=bool(settled.new))


# The tail of a run event's body after its data, up to the two values only the sealing knew (prev, ts).
_TAIL = re.compile(rb',"prev":"([0-9a-f]{64})",.*,"ts":("[^"\\]*"),"type":"run\.recorded","v":1\}', re.DOTALL)
_CONFIG_SEQ = re.compile(rb'\{"config_seq":(0|[1-9][0-9]{0,18}),')


def _is_sealed_from(body: bytes, seq: int, run: QueuedRun) -> bool:
    """`body` is the run.recorded event at `seq` that sealing `run` makes, byte for byte: its actor and its
    data (with the configuration's seq, if one was in force), then the envelope of its project, run id and
    seq. Only the link (prev) and the time (ts) are the sealer's to choose."""
    prefix = b'{"actor":%s,"data":' % run.actor
    if not body.startswith(prefix):
        return False
    rest = body[len(prefix):]
    config = _CONFIG_SEQ.match(rest)
    data = with_config_seq(run.data, int(config[1])) if config else run.data
    tail = _TAIL.fullmatch(rest, len(data)) if rest.startswith(data) else None
    return tail is not None and rest[len(data):] == envelope_tail(
        tail[1].decode(), run.project, seq, run.subject, orjson.loads(tail[2]), ev.RUN_RECORDED)


def _records_document(body: bytes, seq: int, mine: Mine) -> bool:
    """`body` is a run.recorded event at `seq` of this run's project and id, whose document hash is this
    run's and whose run is this one but for what a retry fills in again: what "already recorded" means
    (the idempotency check's own rule, evals.runs.same_submission)."""
    run = mine.run
    try:
        event = parse_event(body)
    except InvalidInput:
        return False
    data = event.data
    return (event.type == ev.RUN_RECORDED and event.seq == seq and event.project == run.project
            and event.subject == run.subject and type(data) is dict
            and data.get("document_sha256") == run.document_sha256 and isinstance(data.get("run"), dict)
            and same_submission(data["run"], mine.document))
