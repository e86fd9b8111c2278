"""One contract, every store: what the service relies on, checked against each backend."""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest

from auditlog.core.events import envelope_tail
from auditlog.core.merkle import TreeBuilder, leaf_hash, root_from_leaf_hashes
from auditlog.errors import LockTimeout, StorageError
from auditlog.store.memory import MemoryStore
from auditlog.store.protocol import EMPTY_HASH, Head, Tally
from auditlog.store.sqlite.store import SQLiteStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.pg_server)])
def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "log.db", lock_timeout=5)
    else:  # a fresh schema on the test server (tests/conftest.py); skips where there is none
        from auditlog.store.postgres.store import PostgresStore
        s = PostgresStore(request.getfixturevalue("pg_url"), lock_timeout=5)
    yield s
    s.close()


def make_rows(start: int, count: int, subject: str = "run-a", type_: str = "run.recorded", prev: str | None = None,
              project: str = "proj"):
    """Real chain rows: each body ends with the envelope tail of its columns and its predecessor's hash
    (as a PostgreSQL schema checks), and hashes right. `prev` is the hash before `start`; by default
    that of make_rows(0, start), so calls with the default subject and type continue each other."""
    if prev is None:
        prev = make_rows(0, start)[-1][1] if start else EMPTY_HASH
    rows = []
    for seq in range(start, start + count):
        ts = "2026-01-01T00:00:00.000000Z"
        # arbitrary bytes before the tail: stored exactly
        body = b'{"actor":{},"data":{"n":%d,"raw":"\x00\xff"}' % seq + envelope_tail(prev, project, seq, subject, ts,
                                                                                     type_)
        prev = hashlib.sha256(body).hexdigest()
        rows.append((seq, prev, ts, type_, project, subject, body))
    return rows


def chain(*parts: tuple[str | int, ...]):
    """make_rows for consecutive (count, subject, type[, project]) parts, linked to each other from seq 0."""
    rows: list = []
    for count, subject, type_, *project in parts:
        rows += make_rows(len(rows), int(count), str(subject), str(type_), prev=rows[-1][1] if rows else EMPTY_HASH,
                          project=str(project[0]) if project else "proj")
    return rows


def subtree_nodes(rows, upto: int):
    """The stored Merkle subtrees (level >= 4) over rows[:upto], in completion order."""
    return TreeBuilder().extend((leaf_hash(r[6]) for r in rows[:upto]), min_level=4)


def test_empty_store_has_empty_head(store):
    assert store.head() == Head(0, EMPTY_HASH)
    assert list(store.rows()) == []
    assert store.get(0) is None


def test_append_then_read_back_exact_bytes(store):
    rows = make_rows(0, 5)
    with store.transaction(5) as txn:
        assert txn.append(rows) == Head(5, rows[-1][1])
    assert store.head() == Head(5, rows[-1][1])
    assert [tuple(r) for r in store.rows()] == rows
    assert [tuple(r) for r in store.rows(after=1, until=4)] == rows[2:4]
    assert tuple(store.get(3)) == rows[3]
    assert all(isinstance(r[6], bytes) for r in store.rows())


def test_append_must_continue_the_head(store):
    with store.transaction(5) as txn:
        txn.append(make_rows(0, 2))
    with pytest.raises(StorageError), store.transaction(5) as txn:
        txn.append(make_rows(3, 1))  # seq 2 skipped
    with pytest.raises(StorageError), store.transaction(5) as txn:
        txn.append(make_rows(1, 1))  # seq 1 again
    assert store.head().size == 2


def test_transaction_is_all_or_nothing(store):
    with store.transaction(5) as txn:
        txn.append(make_rows(0, 1))
    with pytest.raises(RuntimeError), store.transaction(5) as txn:
        txn.append(make_rows(1, 3))
        raise RuntimeError("writer died")
    assert store.head().size == 1
    assert len(list(store.rows())) == 1


def test_transaction_sees_its_own_writes(store):
    with store.transaction(5) as txn:
        txn.append(make_rows(0, 2, subject="s1"))
        assert txn.head().size == 2
        assert [r[0] for r in txn.find("s1")] == [0, 1]
        assert tuple(txn.get(1)) == make_rows(0, 2, subject="s1")[1]


def test_find_by_subject_and_type(store):
    with store.transaction(5) as txn:
        txn.append(chain((2, "a", "run.recorded"), (1, "b", "run.annotated"), (1, "a", "verdict.recorded")))
    assert [r[0] for r in store.find("a")] == [0, 1, 3]
    assert [r[0] for r in store.find("a", ("verdict.recorded",))] == [3]
    assert [r[0] for r in store.find("b", ("run.recorded", "run.annotated"))] == [2]
    assert store.find("nobody") == []


def test_find_many_is_find_for_many_subjects_in_one_query(store):
    with store.transaction(5) as txn:
        txn.append(chain((2, "a", "run.recorded"), (1, "b", "run.annotated"), (1, "a", "verdict.recorded"),
                         (1, "c", "run.recorded")))
        assert [r[0] for r in txn.find_many(["c", "a"], ("run.recorded",))] == [0, 1, 4]  # its own appends too
    assert [r[0] for r in store.find_many(["a", "b", "nobody"])] == [0, 1, 2, 3]
    assert [tuple(r) for r in store.find_many(["b", "c"], ("run.annotated", "run.recorded"))] == [
        tuple(store.get(2)), tuple(store.get(4))]
    assert store.find_many(["nobody", "else"], ("run.recorded",)) == []
    many = [f"s{i}" for i in range(1200)] + ["c"]  # more than one statement's worth of parameters
    assert [r[0] for r in store.find_many(many, ("run.recorded",))] == [4]


def test_latest_is_the_last_event_of_a_project_and_type_before_a_seq(store):
    configured = "project.configured"
    with store.transaction(5) as txn:
        txn.append(chain((1, "", configured, "p"), (2, "r", "run.recorded", "p"), (1, "", configured, "q"),
                         (1, "", configured, "p"), (1, "r2", "run.recorded", "p")))
        assert txn.latest("p", configured).seq == 4  # its own appends too
    assert tuple(store.latest("p", configured)) == tuple(store.get(4))
    assert store.latest("p", configured, before=4).seq == 0
    assert store.latest("p", configured, before=5).seq == 4
    assert store.latest("p", configured, before=10**6).seq == 4
    assert store.latest("p", configured, before=0) is None
    assert store.latest("p", configured, before=-3) is None
    assert store.latest("q", configured).seq == 3
    assert store.latest("q", configured, before=3) is None
    assert store.latest("p", "run.recorded").seq == 5
    assert store.latest("nobody", configured) is None
    assert store.latest("r", configured) is None  # a subject is not a project


def test_sqlite_finds_the_latest_through_the_project_index(tmp_path):
    """No scan of the log: SQLite's plan searches events_by_project (whose entries carry the seq)."""
    s = SQLiteStore(tmp_path / "log.db", lock_timeout=5)
    statements: list[str] = []
    try:
        s._conn.set_trace_callback(statements.append)  # the statement the store runs, its values bound
        assert s.latest("p", "project.configured", before=10) is None
        s._conn.set_trace_callback(None)
        (query,) = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
        plan = " ".join(str(row[-1]) for row in s._conn.execute("EXPLAIN QUERY PLAN " + query))
    finally:
        s.close()
    assert "USING" in plan and "INDEX events_by_project" in plan and "TEMP B-TREE" not in plan, plan


def test_meta_is_written_once(store):
    with store.transaction(5) as txn:
        txn.set_meta({"log_id": "abc", "origin": "example.org/log"})
    assert store.meta() == {"log_id": "abc", "origin": "example.org/log"}
    with pytest.raises(StorageError), store.transaction(5) as txn:
        txn.set_meta({"log_id": "other"})
    assert store.meta()["log_id"] == "abc"


def test_a_second_writer_times_out(store):
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction(5):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(5)
        with pytest.raises(LockTimeout), store.transaction(0.2):
            pass
    finally:
        release.set()
        holder.join()
    with store.transaction(5) as txn:  # free again once the holder is done
        txn.append(make_rows(0, 1))
    assert store.head().size == 1


def test_subtree_hashes_round_trip_in_completion_order(store):
    rows = make_rows(0, 33)
    nodes = subtree_nodes(rows, 32)
    assert [(level, idx) for level, idx, _ in nodes] == [(4, 0), (4, 1), (5, 0)]
    with store.transaction(5) as txn:
        txn.append(rows[:32], nodes)
    assert store.subtrees([(4, 0), (5, 0), (6, 0)]) == {(4, 0): nodes[0][2], (5, 0): nodes[2][2]}
    assert store.subtrees([]) == {}
    assert [tuple(n) for n in store.nodes()] == nodes  # by last leaf covered, then level
    with pytest.raises(StorageError), store.transaction(5) as txn:
        txn.append(rows[32:], [(4, 0, nodes[1][2])])  # a stored subtree is never replaced
    assert store.head().size == 32 and store.subtrees([(4, 0)]) == {(4, 0): nodes[0][2]}


def _note(origin: str, size: int, root: bytes, signature: str) -> str:
    """A checkpoint note: the C2SP tlog-checkpoint body (origin, size, base64 root), then a signature line."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n\n{signature}\n"


def test_checkpoints_round_trip_oldest_first(store):
    rows = make_rows(0, 3)
    roots = {size: root_from_leaf_hashes(leaf_hash(r[6]) for r in rows[:size]) for size in (2, 3)}
    with store.transaction(5) as txn:
        txn.append(rows)
        txn.set_meta({"origin": "example.org/log"})
        first = txn.add_checkpoint(2, roots[2].hex(), _note("example.org/log", 2, roots[2], "note one"),
                                   "2026-01-01T00:00:00.000000Z")
        second = txn.add_checkpoint(3, roots[3].hex(), _note("example.org/log", 3, roots[3], "note two"),
                                    "2026-01-02T00:00:00.000000Z")
    assert first.id < second.id
    assert store.checkpoints() == [first, second]
    assert (second.size, second.root, second.note) == (3, roots[3].hex(), _note("example.org/log", 3, roots[3],
                                                                                "note two"))


def test_tally_counts_what_the_store_holds(store):
    rows = make_rows(0, 40)
    with store.transaction(5) as txn:
        txn.append(rows, subtree_nodes(rows, 40))
    assert store.tally() == Tally(40, 0, 39, 3)
    assert store.tally(16, 32) == Tally(16, 16, 31, 2)  # (4, 1) and (5, 0) end at seq 31
    assert store.tally(40) == Tally(0, None, None, 0)
    assert store.schema_problems() == []


def test_rows_stream_long_logs_completely_in_order(store):
    rows = make_rows(0, 5000)  # more than any store's page
    with store.transaction(5) as txn:
        txn.append(rows)
    assert [tuple(r) for r in store.rows()] == rows
    assert [r[0] for r in store.rows(after=4990)] == list(range(4991, 5000))
    assert [r[0] for r in store.rows(after=2040, until=2050)] == list(range(2041, 2050))
    assert list(store.rows(after=4999)) == []


def test_rows_at_reads_many_seqs_at_once_in_order(store):
    rows = make_rows(0, 1500)  # more seqs than SQLite takes as parameters at once
    with store.transaction(5) as txn:
        txn.append(rows)
    wanted = [1499, 3, 700, 3, 0, 1200, *range(100, 1300, 2)]
    assert [tuple(r) for r in store.rows_at(wanted)] == [rows[seq] for seq in sorted(set(wanted))]
    assert [r.seq for r in store.rows_at([-1, 5, 1500, 99999])] == [5]  # none outside 0..size-1
    assert store.rows_at([]) == []
