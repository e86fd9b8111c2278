"""The Merkle tree of a real log: roots and proofs from stored subtree hashes.

Logs on both stores (in memory, and a SQLite file) are built through the public
writer, with sizes that cross the stored-subtree threshold (16 leaves) and with
batches of odd sizes, so that stored subtrees complete across transactions. Every
root is checked against a recomputation over the events' bytes, every proof against
the pure verifiers and the naive reference (merkle_reference.py), and the stored
rows against the set of complete subtrees of height >= STORED_LEVEL.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog import AuditLog, InvalidInput, NotFound, ProofError, StorageError
from auditlog.core import merkle
from auditlog.core.merkle import leaf_hash
from auditlog.core.verify_proof import verify_consistency, verify_inclusion
from auditlog.services import tree
from auditlog.store.memory import MemoryStore
from tests.tampering import as_holder

from . import merkle_reference as ref

SMALL = 70  # every size 1..70: below, at and past 16, 32 and 64 leaves
BATCHES = [1, 14, 3, 17, 31, 2, 65, 129, 7, 255, 1, 99]  # odd sizes: subtrees complete across batches
LARGE = 1 + sum(BATCHES)  # the genesis, then the batches: 625 events
STORES = ["memory", "sqlite"]


def run_doc(i: int) -> dict:
    return {"run_id": f"run-{i:04d}", "project_id": ("mmlu-pro", "gsm8k")[i % 2], "model_id": "acme-7b",
            "metrics": {"accuracy": (i % 10) / 10}, "environment": {"python": "3.11"}}


def open_log(kind: str, directory: Path) -> AuditLog:
    if kind == "memory":
        return AuditLog.open(":memory:", origin="example.org/tree")
    return AuditLog.open(directory / "log.db", origin="example.org/tree", synchronous="OFF")


def build_one_by_one(log: AuditLog, size: int) -> None:
    """One transaction per event (the run first, then annotations of it)."""
    log.record_run(run_doc(0))
    for i in range(size - 2):
        log.annotate("run-0000", tags={"i": str(i)})
    assert log.head().size == size


def build_in_batches(log: AuditLog, batches: list[int], start: int = 0) -> None:
    """Runs start, start+1, ... in one writer transaction per batch."""
    before, n = log.head().size, start
    for batch in batches:
        with log.writer() as w:
            for _ in range(batch):
                w.record_run(run_doc(n))
                n += 1
    assert log.head().size == before + sum(batches)


def leaves_of(log: AuditLog) -> list[bytes]:
    return [leaf_hash(e.body) for e in log.events()]


@pytest.fixture(scope="module", params=STORES)
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuditLog, list[bytes]]]:
    log = open_log(request.param, tmp_path_factory.mktemp("small"))
    build_one_by_one(log, SMALL)
    yield log, leaves_of(log)
    log.close()


@pytest.fixture(scope="module", params=STORES)
def large(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuditLog, list[bytes]]]:
    log = open_log(request.param, tmp_path_factory.mktemp("large"))
    build_in_batches(log, BATCHES)
    yield log, leaves_of(log)
    log.close()


def expected_subtrees(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree of height >= STORED_LEVEL over these leaves, hashed naively."""
    out = {}
    level = tree.STORED_LEVEL
    while 1 << level <= len(leaves):
        width = 1 << level
        for index in range(len(leaves) // width):
            out[(level, index)] = ref.mth(leaves[index * width:(index + 1) * width])
        level += 1
    return out


# --- roots ---------------------------------------------------------------------------------


def test_root_at_every_size_small(small: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = small
    assert log.root(0) == merkle.EMPTY_ROOT
    for n in range(1, SMALL + 1):
        assert log.root(n) == merkle.root_from_leaf_hashes(leaves[:n]) == ref.mth(leaves[:n]), n
    assert log.root() == log.root(SMALL)


def test_root_at_every_size_large(large: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = large
    builder = merkle.TreeBuilder()  # the streaming recomputation, one leaf at a time
    for n, leaf in enumerate(leaves, 1):
        builder.append(leaf)
        assert log.root(n) == builder.root(), n
    assert log.root() == ref.mth(leaves) == merkle.root_from_leaf_hashes(leaves)


def test_root_is_recomputed_from_the_bytes_not_the_stored_hashes(large: tuple[AuditLog, list[bytes]]) -> None:
    """The leaves here are SHA-256(0x00 || body) of the exact stored bytes, not the event hashes."""
    log, leaves = large
    first = next(log.events())
    assert leaves[0] == merkle.leaf_hash(first.body) != bytes.fromhex(first.hash)


# --- inclusion proofs ------------------------------------------------------------------------


def test_every_inclusion_proof_small(small: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = small
    for n in range(1, SMALL + 1):
        root = ref.mth(leaves[:n])
        for i in range(n):
            proof = log.inclusion_proof(i, n)
            assert proof == ref.path(i, leaves[:n]), (i, n)
            verify_inclusion(leaves[i], i, n, proof, root)


def test_inclusion_proofs_large(large: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = large
    rng = random.Random(4)
    pairs = [(i, LARGE) for i in range(LARGE)]  # every leaf of the whole tree
    for _ in range(300):
        n = rng.randint(1, LARGE)
        pairs.append((rng.randrange(n), n))
    for n in (16, 17, 31, 32, 33, 255, 256, 257, 511, 512, 513):
        pairs += [(0, n), (n - 1, n), (n // 2, n)]
    roots: dict[int, bytes] = {}
    for i, n in pairs:
        root = roots.setdefault(n, log.root(n))
        proof = log.inclusion_proof(i, n)
        verify_inclusion(leaves[i], i, n, proof, root)
        assert proof == ref.path(i, leaves[:n]), (i, n)
    assert log.inclusion_proof(7) == log.inclusion_proof(7, LARGE)  # default: the whole log


def test_inclusion_proof_fails_for_another_leaf(large: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = large
    proof = log.inclusion_proof(100, 400)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[101], 100, 400, proof, log.root(400))
    with pytest.raises(ProofError):
        verify_inclusion(leaves[100], 101, 400, proof, log.root(400))


# --- consistency proofs ----------------------------------------------------------------------


def test_every_consistency_proof_small(small: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = small
    roots = [log.root(n) for n in range(SMALL + 1)]
    for n in range(1, SMALL + 1):
        for m in range(1, n + 1):
            proof = log.consistency_proof(m, n)
            assert proof == ref.proof(m, leaves[:n]), (m, n)
            verify_consistency(m, n, proof, roots[m], roots[n])


def test_consistency_proofs_large(large: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = large
    rng = random.Random(9)
    pairs = [(m, LARGE) for m in range(1, LARGE + 1)]
    for _ in range(300):
        n = rng.randint(1, LARGE)
        pairs.append((rng.randint(1, n), n))
    for m in (15, 16, 17, 63, 64, 65, 255, 256, 257):
        pairs += [(m, 512), (m, 513), (m, m + 1)]
    roots: dict[int, bytes] = {}
    for m, n in pairs:
        proof = log.consistency_proof(m, n)
        verify_consistency(m, n, proof, roots.setdefault(m, log.root(m)), roots.setdefault(n, log.root(n)))
        assert proof == ref.proof(m, leaves[:n]), (m, n)
    assert log.consistency_proof(100) == log.consistency_proof(100, LARGE)


# --- what is stored --------------------------------------------------------------------------


def test_stored_rows_are_exactly_the_complete_subtrees_small(small: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = small
    stored = {(level, index): h for level, index, h in log.store.nodes()}
    assert stored == expected_subtrees(leaves)
    assert sorted(stored) == [(4, 0), (4, 1), (4, 2), (4, 3), (5, 0), (5, 1), (6, 0)]


def test_stored_rows_are_exactly_the_complete_subtrees_large(large: tuple[AuditLog, list[bytes]]) -> None:
    log, leaves = large
    nodes = list(log.store.nodes())
    stored = {(level, index): h for level, index, h in nodes}
    assert len(stored) == len(nodes)
    assert stored == expected_subtrees(leaves)
    assert len(stored) == 39 + 19 + 9 + 4 + 2 + 1  # 625 leaves: 39 of 16, 19 of 32, ... one of 512
    # in completion order, as a tree builder completes them (what verify streams against)
    assert [n[:2] for n in nodes] == sorted(stored, key=lambda k: ((k[1] + 1) << k[0], k[0]))


def test_sqlite_table_holds_exactly_the_complete_subtrees(tmp_path: Path) -> None:
    """Read the SQLite file with sqlite3 itself, not through the store's reading code."""
    db = tmp_path / "log.db"
    with AuditLog.open(db, origin="example.org/tree", synchronous="OFF") as log:
        build_in_batches(log, [5, 11, 16, 1, 30, 3])
        leaves = leaves_of(log)
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT level, idx, hash FROM merkle").fetchall()
    finally:
        conn.close()
    assert {(level, idx): h for level, idx, h in rows} == expected_subtrees(leaves)
    assert len(leaves) == 67 and len(rows) == 4 + 2 + 1


def test_a_failed_batch_stores_no_subtree(tmp_path: Path) -> None:
    for log in (AuditLog.open(":memory:"), AuditLog.open(tmp_path / "log.db")):
        with log:
            build_in_batches(log, [10])
            with pytest.raises(RuntimeError), log.writer() as w:
                for i in range(100, 140):  # would complete (4, 0), (4, 1) and (5, 0)
                    w.record_run(run_doc(i))
                raise RuntimeError("abandon the batch")
            assert log.head().size == 11 and list(log.store.nodes()) == []
            build_in_batches(log, [40], start=10)
            assert log.head().size == 51
            assert {n[:2] for n in log.store.nodes()} == {(4, 0), (4, 1), (4, 2), (5, 0)}
            assert log.root() == merkle.root_from_leaf_hashes(leaves_of(log))


# --- arguments and damage --------------------------------------------------------------------


def test_sizes_and_indexes_out_of_range(small: tuple[AuditLog, list[bytes]]) -> None:
    log, _ = small
    with pytest.raises(InvalidInput, match="no tree of size 71"):
        log.root(SMALL + 1)
    with pytest.raises(InvalidInput):
        log.root(-1)
    with pytest.raises(InvalidInput):
        log.inclusion_proof(10, 10)
    with pytest.raises(InvalidInput):
        log.inclusion_proof(0, SMALL + 1)
    with pytest.raises(InvalidInput):
        log.consistency_proof(0, 10)  # a proof from the empty tree is refused
    with pytest.raises(InvalidInput):
        log.consistency_proof(11, 10)
    with pytest.raises(InvalidInput):
        log.consistency_proof(5, SMALL + 1)
    assert log.consistency_proof(10, 10) == []


def test_a_bare_memory_store_needs_its_genesis() -> None:
    """AuditLog(MemoryStore()) wraps an empty store; AuditLog.open(":memory:") creates the genesis."""
    bare = AuditLog(MemoryStore())
    assert bare.head().size == 0 and bare.root() == merkle.EMPTY_ROOT
    with pytest.raises(NotFound, match="no genesis"):
        bare.record_run(run_doc(0))
    opened = AuditLog.open(":memory:")
    assert isinstance(opened.store, MemoryStore) and opened.head().size == 1
    assert opened.root() == leaf_hash(next(opened.events()).body)


def test_a_missing_subtree_row_is_reported_not_guessed(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with AuditLog.open(db, origin="example.org/tree") as log:
        build_in_batches(log, [40])
        root = log.root(40)
    with as_holder(db) as conn:
        conn.execute("DELETE FROM merkle WHERE level = 4 AND idx = 1")
    with AuditLog.open(db, create=False) as log:
        with pytest.raises(StorageError, match=r"subtree \(4, 1\) is not stored"):
            log.inclusion_proof(3, 40)
        with pytest.raises(StorageError):
            log.consistency_proof(8, 40)
        assert log.root(40) == root  # a root needs only the peaks: (5, 0) and what is left
        report = log.verify()
        assert report.problem_count == 1, "verify must notice a subtree hash missing from the store"
        assert (report.first.seq, report.first.kind) == (31, "merkle")  # its last leaf
        assert "(level 4, index 1)" in report.first.detail


def test_a_wrong_subtree_row_is_caught_by_verify(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with AuditLog.open(db, origin="example.org/tree") as log:
        build_in_batches(log, [40])
        assert log.verify().ok
    with as_holder(db) as conn:
        conn.execute("UPDATE merkle SET hash = ? WHERE level = 5 AND idx = 0", (bytes(32),))
    with AuditLog.open(db, create=False) as log:
        report = log.verify()
        assert report.problem_count == 1
        assert (report.first.seq, report.first.kind) == (31, "merkle")
        assert "(level 5, index 0)" in report.first.detail
