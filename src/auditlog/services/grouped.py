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
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

import orjson

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import envelope_tail, parse_event
from auditlog.errors import Conflict, InvalidInput, LockTimeout
from auditlog.evals.runs import PreparedRun
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
    try:
        settled = None
        for _ in range(_TRIES):  # the lock if it is free (seal the queue), else wait for its holder, who may seal it
            settled = _take_turn(store, ticket, left(), wait=False)
            if settled is not None:
                break
        settled = settled or _take_turn(store, ticket, left())  # queue for the lock itself
    except LockTimeout:
        withdrawn = store.withdraw(ticket)  # None: it was still waiting, and is gone now
        if withdrawn is None:
            raise
        settled = withdrawn
    if settled is None:  # a turn that waited for the lock always settles the run
        raise LockTimeout("the queued run was neither sealed nor refused")  # pragma: no cover
    return _receipt(settled, run["run_id"])


def _take_turn(store: GroupSealing, ticket: int, timeout: float | None = None, wait: bool = True) -> Settled | None:
    """The run's outcome: the previous holder's, or this writer's after sealing the queue under the lock;
    None when `wait` is False, the lock was taken, and its holder did not seal the run."""
    with store.sealing_turn(ticket, timeout, wait=wait) as turn:
        if turn.txn is None:
            return turn.settled
        writer = Writer(turn.txn, turn.txn.head())
        with turn.txn.pipelined():  # the events, the outcomes and the confirmation in one round trip
            outcomes = seal_queue(writer, turn.queued, turn.about)
            turn.txn.settle(outcomes, ticket)
            writer.confirm()
        return outcomes.get(ticket) or Settled(None, None, None, "invalid: the run left the queue before it was sealed")


def seal_queue(writer: Writer, queued: list[QueuedRun], about: list[StoredEvent]) -> dict[int, Settled]:
    """Seal every queued run in order in `writer`'s transaction and hand the rows to the store (the caller
    confirms); each one's outcome by ticket. A run refused (already recorded with other content, or bytes
    that are not a run's) refuses only itself. `about`: every event whose subject is a queued run's id,
    read with the queue (no query of its own)."""
    writer.know_runs([run.subject for run in queued], about)
    outcomes: dict[int, Settled] = {}
    for run in queued:
        size = writer.head.size
        try:
            receipt = writer.record_queued(run, functools.partial(_check_queued, run))
        except Conflict as exc:
            outcomes[run.id] = Settled(None, None, None, f"conflict: {exc}")
            continue
        except InvalidInput as exc:
            outcomes[run.id] = Settled(None, None, None, f"invalid: {exc}")
            continue
        outcomes[run.id] = Settled(receipt.seq, receipt.hash, receipt.seq >= size, None)
    writer.flush()
    return outcomes


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


def _receipt(settled: Settled, run_id: str) -> Receipt:
    if settled.refused is not None:
        kind, _, why = settled.refused.partition(": ")
        if kind == "conflict":
            raise Conflict(why)
        field, named, reason = why.partition(": ")
        if named and field.startswith("$."):  # the run's own field (its configuration refused it): name it
            raise InvalidInput(field, reason)
        raise InvalidInput("queue", why)
    assert settled.seq is not None and settled.hash is not None
    return Receipt(settled.seq, settled.hash, ev.RUN_RECORDED, run_id, new=bool(settled.new))
