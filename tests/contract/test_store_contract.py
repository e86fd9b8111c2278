"""One contract, every store: what the service relies on, checked against each backend."""

from __future__ import annotations

import hashlib
import threading

import pytest

from auditlog.errors import LockTimeout, StorageError
from auditlog.store.memory import MemoryStore
from auditlog.store.protocol import EMPTY_HASH, Head
from auditlog.store.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.pg_server)])
def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "log.db", lock_timeout=5)
    else:  # a fresh schema on the test server (tests/conftest.py); skips where there is none
        from auditlog.store.postgres import PostgresStore
        s = PostgresStore(request.getfixturevalue("pg_url"), lock_timeout=5)
    yield s
    s.close()


def make_rows(start: int, count: int, subject: str = "run-a", type_: str = "run.recorded"):
    rows = []
    for seq in range(start, start + count):
        body = b'{"n":%d,"raw":"\x00\xff"}' % seq  # arbitrary bytes: stored exactly
        rows.append((seq, hashlib.sha256(body).hexdigest(), "2026-01-01T00:00:00.000000Z", type_,
                     "proj", subject, body))
    return rows


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
        txn.append(make_rows(0, 2, subject="a") + make_rows(2, 1, subject="b", type_="run.annotated")
                   + make_rows(3, 1, subject="a", type_="verdict.recorded"))
    assert [r[0] for r in store.find("a")] == [0, 1, 3]
    assert [r[0] for r in store.find("a", ("verdict.recorded",))] == [3]
    assert [r[0] for r in store.find("b", ("run.recorded", "run.annotated"))] == [2]
    assert store.find("nobody") == []


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
    nodes = [(4, 0, b"\x00" * 32), (4, 1, b"\x01" * 32), (5, 0, b"\xff" * 32)]
    with store.transaction(5) as txn:
        txn.append(make_rows(0, 32), nodes)
    assert store.subtrees([(4, 0), (5, 0), (6, 0)]) == {(4, 0): b"\x00" * 32, (5, 0): b"\xff" * 32}
    assert store.subtrees([]) == {}
    assert [tuple(n) for n in store.nodes()] == nodes  # by last leaf covered, then level
    with pytest.raises(StorageError), store.transaction(5) as txn:
        txn.append(make_rows(32, 1), [(4, 0, b"\x02" * 32)])  # a stored subtree is never replaced
    assert store.head().size == 32 and store.subtrees([(4, 0)]) == {(4, 0): b"\x00" * 32}


def test_checkpoints_round_trip_oldest_first(store):
    with store.transaction(5) as txn:
        txn.append(make_rows(0, 3))
        first = txn.add_checkpoint(2, "ab" * 32, "note one\n", "2026-01-01T00:00:00.000000Z")
        second = txn.add_checkpoint(3, "cd" * 32, "note two\n", "2026-01-02T00:00:00.000000Z")
    assert first.id < second.id
    assert store.checkpoints() == [first, second]
    assert (second.size, second.root, second.note) == (3, "cd" * 32, "note two\n")


def test_rows_stream_long_logs_completely_in_order(store):
    rows = make_rows(0, 5000)  # more than any store's page
    with store.transaction(5) as txn:
        txn.append(rows)
    assert [tuple(r) for r in store.rows()] == rows
    assert [r[0] for r in store.rows(after=4990)] == list(range(4991, 5000))
    assert [r[0] for r in store.rows(after=2040, until=2050)] == list(range(2041, 2050))
    assert list(store.rows(after=4999)) == []
