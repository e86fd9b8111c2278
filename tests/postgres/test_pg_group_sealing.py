"""Group sealing on PostgreSQL (services/grouped.py): writers queue their runs, validated and encoded,
and whoever holds the writers' lock next seals every queued run in one transaction.

Deterministic: runs are queued with the store's own `enqueue` (what `record_run` does before it
asks for the lock), then one writer takes its turn; no timers. The many-process case is
tests/postgres/test_pg_concurrency.py, kills are tests/postgres/test_pg_kill.py.
"""

from __future__ import annotations

import hashlib

import pytest

from auditlog.core.encoding import canonical_bytes
from auditlog.errors import Conflict, InvalidInput, LockTimeout
from auditlog.services.log import AuditLog
from auditlog.services.writer import encoded_run, prepare_document
from auditlog.store.protocol import QueuedRun

from . import pg_support as s

pytestmark = pytest.mark.pg_server
ACTOR = canonical_bytes({"user": "queued-elsewhere"})


def _queue(log: AuditLog, doc: dict, actor: bytes = ACTOR) -> int:
    """Queue a run as another writer's record_run does before it waits for the lock; its ticket."""
    prepared = prepare_document(doc)
    run = prepared.run
    return log.store.enqueue(QueuedRun(0, run["project_id"], run["run_id"], prepared.document_sha256, actor,
                                       encoded_run(prepared)))


def _collect(log: AuditLog, ticket: int):  # noqa: ANN202 - the Settled the queued writer finds
    with log.store.sealing_turn(ticket) as turn:
        assert turn.txn is None, "the run was sealed by the lock holder before this turn"
        return turn.settled


def _queue_rows(pg_admin, url: str) -> int:  # noqa: ANN001
    return pg_admin.execute(f'SELECT count(*) FROM "{s.schema_of(url)}".auditlog_queue').fetchone()[0]


def test_the_lock_holder_seals_every_queued_run_and_each_writer_gets_its_own_receipt(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        waiting = [_queue(log, s.run_doc(f"queued-{i}", seed=i)) for i in range(3)]
        mine = log.record_run(s.run_doc("holder"))  # its turn seals the three queued before it, then its own
        assert (mine.seq, mine.new) == (4, True)
        outcomes = [_collect(log, ticket) for ticket in waiting]
        assert [(o.seq, o.new, o.refused) for o in outcomes] == [(1, True, None), (2, True, None), (3, True, None)]
        for outcome, i in zip(outcomes, range(3)):
            event = log.event(outcome.seq)
            assert event.hash == outcome.hash == hashlib.sha256(event.body).hexdigest()
            assert event.event.subject == f"queued-{i}" and event.event.actor == {"user": "queued-elsewhere"}
        assert log.verify().ok
    assert _queue_rows(pg_admin, pg_url) == 0  # every writer deleted its row


def test_already_recorded_and_conflicts_stay_exact_within_a_group(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        first = log.record_run(s.run_doc("r1"))
        again = _queue(log, s.run_doc("r1"))  # recorded before: already recorded
        twice = [_queue(log, s.run_doc("r2")), _queue(log, s.run_doc("r2"))]  # the same run twice in one group
        other = _queue(log, s.run_doc("r2", seed=9))  # r2 with other content
        log.record_run(s.run_doc("holder"))
        settled = _collect(log, again)
        assert (settled.seq, settled.hash, settled.new) == (first.seq, first.hash, False)
        a, b = (_collect(log, ticket) for ticket in twice)
        assert (a.new, b.new, a.seq == b.seq, a.hash == b.hash) == (True, False, True, True)
        refused = _collect(log, other)
        assert refused.seq is None and refused.refused.startswith("conflict: run 'r2' is already recorded at seq")
        assert log.head().size == 4 and log.verify().ok
        # and the writer of the refused run hears it as a Conflict, as with a writer of its own
        with pytest.raises(Conflict, match="already recorded"):
            log.record_run(s.run_doc("r2", seed=9))


def test_a_queued_run_whose_bytes_only_the_reference_parser_reads_back_is_sealed(pg_admin, pg_url) -> None:
    # 1e20 is written 100000000000000000000 (RFC 8785): orjson reads it back as an int beyond 2**53.
    with AuditLog.open(pg_url) as log:
        ticket = _queue(log, {**s.run_doc("huge"), "metrics": {"tokens": 1e20, "accuracy": 0.5}})
        log.record_run(s.run_doc("holder"))
        settled = _collect(log, ticket)
        assert (settled.seq, settled.new, settled.refused) == (1, True, None)
        assert log.run("huge")["metrics"]["tokens"] == 1e20 and log.verify().ok


def test_a_queued_row_that_is_not_what_auditlog_queues_is_refused_not_sealed(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        prepared = prepare_document(s.run_doc("honest"))
        forged = [
            QueuedRun(0, "mmlu-pro", "someone-else", prepared.document_sha256, ACTOR, encoded_run(prepared)),
            QueuedRun(0, "mmlu-pro", "honest", "0" * 64, ACTOR, encoded_run(prepared)),
            QueuedRun(0, "mmlu-pro", "honest", prepared.document_sha256, b'{ "user": 1}', encoded_run(prepared)),
            QueuedRun(0, "mmlu-pro", "honest", prepared.document_sha256, ACTOR, encoded_run(prepared)[:-1]),
        ]
        tickets = [log.store.enqueue(row) for row in forged]
        log.record_run(s.run_doc("holder"))
        for ticket in tickets:
            settled = _collect(log, ticket)
            assert settled.seq is None and settled.refused.startswith("invalid: ")
        assert log.head().size == 2 and log.verify().ok  # only the holder's own run


def test_a_writer_that_times_out_takes_its_run_off_the_queue(pg_admin, pg_url) -> None:
    AuditLog.open(pg_url).close()
    where = s.schema_of(pg_url)
    with pg_admin.transaction():  # another session holds the writers' lock
        pg_admin.execute(f'SELECT 1 FROM "{where}".auditlog_writer_lock FOR UPDATE')
        with AuditLog.open(pg_url, create=False, lock_timeout=0.3) as log, pytest.raises(LockTimeout):
            log.record_run(s.run_doc("impatient"))
        assert _queue_rows(pg_admin, pg_url) == 0  # withdrawn: nobody will seal it later
    with AuditLog.open(pg_url, create=False) as log:
        assert log.head().size == 1 and log.record_run(s.run_doc("impatient")).new


def test_bad_input_is_refused_before_anything_is_queued(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        with pytest.raises(InvalidInput, match=r"\$\.items\[0\]\.score"):
            log.record_run({**s.run_doc("bad"), "items": [{"item_id": "q", "score": 2, "passed": True}]})
    assert _queue_rows(pg_admin, pg_url) == 0


def test_a_run_queued_with_its_source_is_sealed_with_it_and_a_retry_from_another_file_is_one_run(pg_url) -> None:
    """ingest keeps the files a run was read from beside the run (data.source): through the queue too."""
    doc = {"project_id": "p", "model_id": "m", "run_id": "from-files", "environment": {},
           "items": [{"item_id": "q", "score": 1.0, "passed": True}]}
    with AuditLog.open(pg_url, create=True) as log:
        first = log.record_run(doc, source={"files": [{"name": "a.eval", "sha256": "0" * 64}]})
        again = log.record_run(doc, source={"files": [{"name": "a.json", "sha256": "1" * 64}]})
        assert (again.seq, again.new) == (first.seq, False), "the same run from another file is a retry"
        event = log.event(first.seq).event
        assert event.data["source"] == {"files": [{"name": "a.eval", "sha256": "0" * 64}]}
        assert "source" not in event.data["run"]
        assert log.verify().ok


def test_a_turn_that_does_not_wait_for_the_lock_waits_for_its_holder_and_seals_nothing(pg_admin, pg_url) -> None:
    """What a queued writer does first (`wait=False`): the lock if it is free, else it waits for the holder
    to finish (who may seal its run); it never locks the queue's rows of a group it does not hold."""
    with AuditLog.open(pg_url, create=True) as log:
        where = s.schema_of(pg_url)
        ticket = _queue(log, s.run_doc("patient"))
        with pg_admin.transaction():  # another session holds the writers' lock
            pg_admin.execute(f'SELECT 1 FROM "{where}".auditlog_writer_lock FOR UPDATE')
            with pytest.raises(LockTimeout):  # it waited for that holder (not at all: timeout 0), sealed nothing
                with log.store.sealing_turn(ticket, 0, wait=False):
                    pytest.fail("a turn without the lock has nothing to hand over")
            # the run is still queued, unsettled and not locked: the holder could take it
            taken = pg_admin.execute(f'SELECT seq, refused FROM "{where}".auditlog_queue WHERE id = %s '
                                     "FOR UPDATE NOWAIT", (ticket,)).fetchall()
            assert taken == [(None, None)]
        with log.store.sealing_turn(ticket, 5, wait=False) as turn:  # the lock is free: this turn seals the queue
            assert turn.txn is not None and [run.id for run in turn.queued] == [ticket]
        assert log.head().size == 1  # nothing sealed by that turn (it sealed nothing and committed)
        assert log.record_run(s.run_doc("patient")).seq == 1 and log.verify().ok


def test_a_group_is_sealed_in_one_pipeline_and_a_refused_run_refuses_only_itself(pg_admin, pg_url) -> None:
    """The group's events, outcomes and confirmation go in one pipeline: a run refused inside it (a
    conflict, bytes that are not a run's) leaves the others sealed, each with its own outcome."""
    with AuditLog.open(pg_url, create=True) as log:
        log.record_run(s.run_doc("taken"))
        prepared = prepare_document(s.run_doc("forged"))
        tickets = [_queue(log, s.run_doc("a", seed=1)), _queue(log, s.run_doc("taken", seed=5)),
                   log.store.enqueue(QueuedRun(0, "mmlu-pro", "forged", "0" * 64, ACTOR, encoded_run(prepared))),
                   _queue(log, s.run_doc("b", seed=2))]
        holder = log.record_run(s.run_doc("holder"))
        a, conflict, forged, b = (_collect(log, ticket) for ticket in tickets)
        assert (a.seq, b.seq, holder.seq) == (2, 3, 4) and a.new and b.new
        assert conflict.refused.startswith("conflict: ") and forged.refused.startswith("invalid: ")
        assert log.head().size == 5 and log.verify().ok


def test_a_lock_tried_with_the_enqueue_is_let_go_by_anything_else_on_the_connection(pg_admin, pg_url) -> None:
    """`enqueue(try_lock=True)` leaves its transaction open for the turn that follows; if something else
    uses the connection first, that transaction is rolled back, so the lock is never kept by mistake."""
    with AuditLog.open(pg_url, create=True) as log:
        where = s.schema_of(pg_url)
        prepared = prepare_document(s.run_doc("tried"))
        ticket = log.store.enqueue(QueuedRun(0, "mmlu-pro", "tried", prepared.document_sha256, ACTOR,
                                             encoded_run(prepared)), try_lock=True)
        with pytest.raises(Exception, match="could not obtain lock"), pg_admin.transaction():
            pg_admin.execute(f'SELECT 1 FROM "{where}".auditlog_writer_lock FOR UPDATE NOWAIT')  # it holds the lock
        assert log.head().size == 1  # something else on the connection ...
        with pg_admin.transaction():  # ... and the lock is free again
            pg_admin.execute(f'SELECT 1 FROM "{where}".auditlog_writer_lock FOR UPDATE NOWAIT')
        assert _queue_rows(pg_admin, pg_url) == 1  # the run stayed queued (committed before the try)
        with log.store.sealing_turn(ticket, 5, wait=False) as turn:  # a fresh try: the lock is free, it seals
            assert turn.txn is not None and [run.id for run in turn.queued] == [ticket]
