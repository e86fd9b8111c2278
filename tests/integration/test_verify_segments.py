"""Verify on several processes (auditlog.services.segments): the same report as one process.

A log of 200 events cut for two workers is 7 segments of 32 events (2^5) and one of 8: the
workers check everything inside their segments (stored subtrees of levels 4 and 5), the join
checks the subtrees of levels 6 and 7, the root and the checkpoints. A damaged log is verified
again in one process, so its report is exactly the sequential one.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.services import segments, tree
from auditlog.services.segments import Segment
from tests.tampering import as_holder

from . import cli_support as s

SIZE = 200


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("segments") / "template.db"
    with AuditLog.open(db, origin="example.org/segments") as log, log.writer() as w:
        for i in range(SIZE - 1):
            w.record_run(s.run_doc(f"run-{i}", n_items=1, seed=i))
    return db


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "log.db"
    shutil.copy(template, copy)
    return copy


def joined(location: str, log: AuditLog, anchors: dict[int, list[tuple[str, bytes]]] | None = None) -> object:
    size = log.head().size
    return segments.verify_segments(location, size, log.store.meta()["genesis_hash"], anchors or {},
                                    tree.nodes_within(log.store.nodes(), size, []), tree.STORED_LEVEL, None, 2)


def test_the_plan_cuts_at_powers_of_two() -> None:
    plan = segments.plan(SIZE, 8)
    assert [(p.begin, p.end) for p in plan] == [(i * 32, min(i * 32 + 32, SIZE)) for i in range(7)]
    assert {p.level for p in plan} == {5}


def test_the_join_gives_the_root_the_head_and_each_checkpoint(db: Path) -> None:
    with AuditLog.open(db, create=False) as log:
        result = joined(str(db), log, {n: [(f"cp{n}", log.root(n))] for n in (1, 31, 32, 50, 64, 100, 192, SIZE)})
        assert isinstance(result, segments.Joined)
        assert (result.size, result.head, result.root) == (SIZE, log.head().hash, log.root())
        wrong = joined(str(db), log, {100: [("cp", log.root(99))]})
        assert wrong is None  # a checkpoint inside a segment that the events do not give
        assert joined(str(db), log, {SIZE + 1: [("cp", log.root())]}) is None  # one beyond the log: truncated


def test_a_clean_log_gets_the_same_report_on_two_processes(db: Path) -> None:
    with AuditLog.open(db, create=False) as log:
        seen: list[int] = []
        parallel = log.verify(processes=2, progress=seen.append).to_json()
        assert parallel == log.verify(processes=1).to_json()
        assert parallel["ok"] and seen[-1] == SIZE and seen == sorted(seen)


def _alter_body(conn, seq: int) -> None:  # noqa: ANN001
    (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()
    altered = body.replace(b'"run-', b'"RUN-')
    assert altered != body
    conn.execute("UPDATE events SET body = ? WHERE seq = ?", (altered, seq))


def test_tampering_in_two_segments_reports_the_first_by_seq(db: Path) -> None:
    with as_holder(db) as conn:
        _alter_body(conn, 150)  # segment 4
        _alter_body(conn, 40)  # segment 1
    with AuditLog.open(db, create=False) as log:
        assert joined(str(db), log) is None
        parallel, sequential = log.verify(processes=2), log.verify(processes=1)
    assert parallel.to_json() == sequential.to_json()
    assert parallel.first is not None and parallel.first.seq == 40


def test_an_altered_subtree_above_the_segments_is_found(db: Path) -> None:
    with as_holder(db) as conn:
        changed = conn.execute("UPDATE merkle SET hash = ? WHERE level = 6 AND idx = 1",
                               (hashlib.sha256(b"forged").digest(),)).rowcount
        assert changed == 1
    with AuditLog.open(db, create=False) as log:
        assert joined(str(db), log) is None
        parallel, sequential = log.verify(processes=2), log.verify(processes=1)
    assert parallel.to_json() == sequential.to_json()
    assert parallel.first is not None and parallel.first.kind == "merkle" and parallel.first.seq == 127


def test_a_segment_worker_returns_a_bounded_result(db: Path) -> None:
    """Memory flat in the log's size: a worker streams its rows and hands back only its peaks
    (at most one per level), whatever the segment's length."""
    with AuditLog.open(db, create=False) as log:
        genesis = log.store.meta()["genesis_hash"]
    for segment in (Segment(0, 128, 7), Segment(128, SIZE, 7)):
        result = segments._verify_segment((str(db), segment, SIZE, genesis, [], tree.STORED_LEVEL))
        assert result.clean and result.leaves == segment.end - segment.begin
        assert len(result.peaks) <= segment.level + 1
        assert len(pickle.dumps(result)) < 2048


def test_postgresql_segments_join_to_the_same_root(pg_url: str, template: Path) -> None:
    from auditlog.services.copy import copy_log
    copy_log(template, pg_url)
    with AuditLog.open(pg_url, create=False) as log:
        assert log.head().size == SIZE
        result = joined(pg_url, log)
        assert isinstance(result, segments.Joined) and result.root == log.root()
        assert log.verify(processes=2).to_json() == log.verify(processes=1).to_json()


@pytest.mark.parametrize(("change", "seq"), [("body", 32), ("body", 31), ("hash", 31), ("hash", 63), ("delete", 32),
                                             ("delete", 31), ("delete", SIZE - 2), ("column", 64), ("subtree", 5),
                                             ("subtree", -1)])
def test_tampering_at_a_segment_boundary(db: Path, change: str, seq: int) -> None:
    """The link into a segment is checked from the bytes of the event before it, and a mismatch on a
    segment's last event is told apart (altered bytes or altered hash) by the event after it."""
    with as_holder(db) as conn:
        if change == "body":
            _alter_body(conn, seq)
        elif change == "hash":
            conn.execute("UPDATE events SET hash = ? WHERE seq = ?", ("0" * 64, seq))
        elif change == "subtree":  # a stored subtree no tree has: below the stored level, or before seq 0
            conn.execute("INSERT INTO merkle (level, idx, hash) VALUES (?, ?, ?)",
                         (3 if seq > 0 else 4, seq, hashlib.sha256(b"junk").digest()))
        elif change == "column":
            conn.execute("UPDATE events SET project = 'elsewhere' WHERE seq = ?", (seq,))
        else:
            conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
    with AuditLog.open(db, create=False) as log:
        assert joined(str(db), log) is None
        parallel, sequential = log.verify(processes=2), log.verify(processes=1)
    assert not sequential.ok
    assert parallel.to_json() == sequential.to_json()
