"""Copy a log between any two stores, verifying it on the way: same bytes, same hashes, same root.

The source streams through the chain scan that `auditlog verify` runs (hashes, links,
seqs, columns, genesis, every stored Merkle subtree, every stored checkpoint's root), and
what the scan has passed goes to the destination as it was stored: the event rows, the
subtree hashes, the meta and the signed checkpoints, verbatim. The destination gets it
all in one write transaction that commits only once the scan has found nothing wrong, so
a source that fails verification leaves no log behind: a SQLite file this copy created is
removed again, and any other destination is left as empty as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from auditlog.core.chain import ChainScan
from auditlog.core.checkpoint import parse_checkpoint
from auditlog.core.note import unverified_note
from auditlog.errors import AuditLogError, IntegrityError, InvalidInput, NotFound, StorageError, UnexpectedLog
from auditlog.render import plural
from auditlog.services import tree
from auditlog.store import EventStore, open_store
from auditlog.store.protocol import StoredCheckpoint, StoredEvent, StoredNode, WriteTransaction

CHUNK = 2048  # rows handed to the destination at a time


@dataclass(frozen=True)
class CopyReport:
    source: str
    destination: str
    size: int
    head: str
    root: str
    checkpoints: int

    def describe(self) -> str:
        return (f"copied {plural(self.size, 'event')} and {plural(self.checkpoints, 'checkpoint')} from {self.source} to "
                f"{self.destination}: internally consistent (as `auditlog verify` checks it; the checkpoints' "
                f"signatures not checked), root {self.root}, head {self.head}")

    def to_json(self) -> dict[str, object]:
        return {"ok": True, "source": self.source, "destination": self.destination, "size": self.size,
                "head": self.head, "root": self.root, "checkpoints": self.checkpoints}


def copy_log(source: str | os.PathLike[str], destination: str | os.PathLike[str], *, lock_timeout: float = 30.0,
             progress: Callable[[int, int], None] | None = None, expect_log_id: str | None = None) -> CopyReport:
    """Copy the log at `source` into `destination`, which must hold no log yet; `progress(done, total)`
    is called as events are copied.

    Raises IntegrityError (naming the source's first bad seq) if the source does not
    verify, InvalidInput if the destination is not empty, UnexpectedLog if the source is not
    the log `expect_log_id` (default $AUDITLOG_EXPECT_LOG_ID) names; nothing is copied then.
    """
    from auditlog.services.log import check_log_id, expected_log_id
    expected = expected_log_id(expect_log_id)
    src_text, dst_text = os.fspath(source), os.fspath(destination)
    if src_text == dst_text:
        raise InvalidInput("DST", "is the source itself")
    new_file = _is_file(dst_text) and not Path(dst_text).exists()
    try:
        src = open_store(src_text, create=False, lock_timeout=lock_timeout)
    except NotFound:
        if expected is None:
            raise
        raise UnexpectedLog(src_text, expected, None) from None
    try:
        check_log_id(src, expected)
        dst = open_store(dst_text, create=True, lock_timeout=lock_timeout)
        try:
            report = _copy(src, dst, lock_timeout, progress)
        except BaseException:
            dst.close()
            if new_file:
                _remove_sqlite(dst_text)
            raise
        dst.close()
        return report
    finally:
        src.close()


def _copy(src: EventStore, dst: EventStore, lock_timeout: float,
          progress: Callable[[int, int], None] | None) -> CopyReport:
    meta = src.meta()
    stored = src.checkpoints()  # read once: what is checked is what is copied
    anchors = _anchors(stored, meta.get("origin"))
    with dst.transaction(lock_timeout) as txn:
        _refuse_non_empty(txn, dst.location)
        copier = _Copier(txn, progress)
        # One bound for the rows and the subtrees, taken after the checkpoints: what a writer commits
        # between the two cursors' snapshots is neither a missing nor an extra subtree.
        size = src.head().size
        copier.total = size
        beyond: list[StoredNode] = []
        scan = ChainScan(meta.get("genesis_hash"), anchors=anchors,
                         nodes=copier.carry_nodes(tree.nodes_within(src.nodes(), size, beyond)),
                         stored_level=tree.STORED_LEVEL)
        for problem in scan.scan(copier.carry_rows(src.rows(until=size))):
            raise IntegrityError(problem.seq, f"the source fails verification ({problem.kind}: {problem.detail}): "
                                              "nothing was copied")
        for level, index, _ in tree.orphans(src, beyond):
            raise IntegrityError(size, f"the source fails verification (merkle: a Merkle subtree (level {level}, "
                                       f"index {index}) is stored for events the log does not have): nothing was copied")
        copier.flush()
        txn.set_meta(meta)
        for cp in stored:
            txn.add_checkpoint(cp.size, cp.root, cp.note, cp.created)
        head = txn.head()
        if head.size != scan.size or head.hash != scan.head or tree.root(txn, scan.size) != scan.root:
            raise StorageError(f"the copy in {dst.location} does not match its source (size, head or root): "
                               "nothing was copied")
    return CopyReport(src.location, dst.location, scan.size, scan.head, scan.root.hex(), len(stored))


class _Copier:
    """Tees the scan's input into the destination: rows once the scan has passed them."""

    def __init__(self, txn: WriteTransaction, progress: Callable[[int, int], None] | None) -> None:
        self._txn = txn
        self._progress = progress
        self.total = 0  # events to copy, once known
        self._rows: list[StoredEvent] = []
        self._nodes: list[StoredNode] = []
        self._done = 0

    def carry_rows(self, rows: Iterator[StoredEvent]) -> Iterator[StoredEvent]:
        for row in rows:
            yield row
            # Resumed only when the scan wants the next row: it has passed this one.
            self._rows.append(row)
            if len(self._rows) > CHUNK:
                self.flush(keep=1)

    def carry_nodes(self, nodes: Iterator[StoredNode]) -> Iterator[StoredNode]:
        """Each one is checked against the events by the scan; a wrong one stops the copy."""
        for node in nodes:
            self._nodes.append(node)
            yield node

    def flush(self, keep: int = 0) -> None:
        """Hand over the rows (but the last `keep`) and the subtrees read so far that cover only them.

        The scan checks subtrees lazily, up to 4,096 rows late, and reads the next stored one
        ahead of the tree; a store takes a subtree hash only with or after the rows it covers
        (its schema refuses one over events it does not have). Keeping a row back leaves some
        rows to carry the last subtrees.
        """
        rows = self._rows[:len(self._rows) - keep]
        if rows:
            size = rows[-1].seq + 1
            ready = [node for node in self._nodes if node.end <= size]
            self._txn.append(rows, ready)
            self._done += len(rows)
            self._rows = self._rows[len(rows):]
            self._nodes = [node for node in self._nodes if node.end > size]
            if self._progress is not None:
                self._progress(self._done, max(self.total, self._done))


def _anchors(stored: list[StoredCheckpoint], origin: str | None) -> dict[int, list[tuple[str, bytes]]]:
    """What each stored checkpoint claims (size -> root), for the scan to check, as verify does;
    a checkpoint that cannot even make that claim stops the copy here."""
    anchors: dict[int, list[tuple[str, bytes]]] = {}
    for cp in stored:
        label = f"stored checkpoint #{cp.id} (size {cp.size})"
        try:
            checkpoint = parse_checkpoint(unverified_note(cp.note)[0])
        except AuditLogError as exc:
            problem = f"{label} is not a valid checkpoint note: {exc}"
        else:
            if checkpoint.size != cp.size or checkpoint.root.hex() != cp.root:
                problem = f"{label}: its columns disagree with its note"
            elif checkpoint.origin != origin:
                problem = f"{label} is for origin {checkpoint.origin!r}, the log is {origin!r}"
            else:
                if checkpoint.size:
                    anchors.setdefault(checkpoint.size, []).append((label, checkpoint.root))
                continue
        raise IntegrityError(0, f"the source fails verification (checkpoint: {problem}): nothing was copied")
    return anchors


def _refuse_non_empty(txn: WriteTransaction, location: str) -> None:
    size = txn.head().size
    if size or txn.meta() or txn.checkpoints():
        raise InvalidInput("DST", f"{location} already holds a log ({size} events): copy only into an empty "
                                  "store (a new file, or a PostgreSQL schema without a log)")


def _is_file(location: str) -> bool:
    return location != ":memory:" and not location.startswith(("postgresql://", "postgres://"))


def _remove_sqlite(path: str) -> None:
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}.lock"):
        try:
            os.remove(name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"the copy failed and {name} could not be removed: {exc.strerror or exc}") from None
