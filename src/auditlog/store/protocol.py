"""The narrow interface every event store implements, and nothing more.

A store keeps rows: the exact bytes of each event, the hash it was stored with and
the few columns it indexes. It knows SQL (or memory), never runs or verdicts.
Writing happens inside a `transaction()`: the store serialises writers, the
transaction sees its own appends, and it commits all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from auditlog.core.events import ZERO_HASH as EMPTY_HASH  # the one all-zero hash: an empty log's head


class StoredEvent(NamedTuple):
    """One row of the events table: the exact bytes that were hashed, the hash they were stored
    with, and the columns a store indexes beside them. Read it by name; its order is the table's
    (and `auditlog.core.chain.Row`'s, which the chain scan unpacks)."""

    seq: int
    hash: str  # hex SHA-256 of `body`, as stored (verify recomputes it)
    ts: str
    type: str
    project: str
    subject: str
    body: bytes


class StoredNode(NamedTuple):
    """The stored hash of one complete Merkle subtree (see `auditlog.core.merkle`)."""

    level: int
    idx: int  # its index among the subtrees of its level (`index` is a tuple method)
    hash: bytes

    @property
    def end(self) -> int:
        """One past the last event it covers: the tree size at which it is complete."""
        return (self.idx + 1) << self.level



@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint kept beside the log: the note verbatim, and when it was made."""

    id: int
    size: int
    root: str  # hex
    note: str
    created: str


@dataclass(frozen=True)
class Tally:
    """What the database itself counts in a range of seqs, without reading the rows.

    `events`, `min_seq` and `max_seq` are over the events rows with since <= seq < until;
    `nodes` over the Merkle rows whose last covered event is in that range. A writer
    compares them with what it wrote before it reports success (rows that vanished, or
    a trigger that changed them); verify compares them with what its scan read (rows
    outside the chain, which no ordered read by seq would show).
    """

    events: int
    min_seq: int | None
    max_seq: int | None
    nodes: int


@dataclass(frozen=True)
class Head:
    """Where the log ends: its size (next seq) and the hash of its last event."""

    size: int
    hash: str = EMPTY_HASH


def continuing(head: Head, rows: Sequence[Sequence[object]]) -> list[StoredEvent]:
    """`rows` (non-empty; StoredEvents, or tuples of their shape) as StoredEvents, once they continue
    the head exactly, with contiguous seqs: stores never renumber."""
    from auditlog.errors import StorageError
    events = [row if type(row) is StoredEvent else StoredEvent._make(row) for row in rows]
    first, last = events[0].seq, events[-1].seq
    if first != head.size or last != first + len(events) - 1:
        raise StorageError(f"append must continue the log at seq {head.size} with contiguous seqs")
    return events


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting in a store's writers' queue (PostgreSQL's group sealing): validated and encoded
    by its writer before it queued, sealed by whoever holds the writers' lock next. `data` and `actor`
    are the canonical bytes of the event's payload and actor; `id` is its ticket."""

    id: int
    project: str
    subject: str
    document_sha256: str
    actor: bytes
    data: bytes


@dataclass(frozen=True)
class Settled:
    """What became of a queued run: sealed at `seq` with `hash` (`new`: added by it, not already
    there), or `refused` (why, one line, beginning "conflict: " or "invalid: "). `body`: the bytes
    of the event at `seq` as the log holds it (None: no event there), read with the outcome, for
    its writer to check before it believes it (any writer of the database can write any outcome)."""

    seq: int | None
    hash: str | None
    new: bool | None
    refused: str | None
    body: bytes | None = None


class Reader(Protocol):
    def head(self) -> Head: ...

    def get(self, seq: int) -> StoredEvent | None: ...

    def find(self, subject: str, types: Sequence[str] = ()) -> list[StoredEvent]:
        """Events about `subject` (optionally of these types), in seq order; never a row outside the
        chain's domain (seq < 0), whatever the table holds."""
        ...

    def find_many(self, subjects: Sequence[str], types: Sequence[str] = ()) -> list[StoredEvent]:
        """`find` for many subjects in one query (a batch's idempotency check), in seq order."""
        ...

    def latest(self, project: str, type_: str, before: int | None = None) -> StoredEvent | None:
        """The last event of this type about this project with seq < `before` (None: in the whole log),
        found through the (project, type) index, never by a scan of the log."""
        ...

    def rows_at(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The rows at these seqs that the log holds, in seq order, in one read (or a few): for a
        caller that confirms many events far apart. Never a row outside the chain's domain (seq < 0)."""
        ...

    def meta(self) -> dict[str, str]:
        """Facts recorded beside the events at creation: log_id, origin, genesis_hash."""
        ...

    def subtrees(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes among these (level, index) subtrees; missing ones are left out."""
        ...

    def nodes(self) -> Iterator[StoredNode]:
        """Every stored subtree hash, in the order a tree builder completes them."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Stored checkpoints, oldest first."""
        ...

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[StoredEvent]:
        """Stream rows with after < seq (< until), in seq order, in bounded memory."""
        ...

    def tally(self, since: int | None = None, until: int | None = None) -> Tally:
        """Count the rows in since <= seq < until (None: unbounded), as the database sees them."""
        ...

    def schema_problems(self) -> list[str]:
        """Every object of the log's schema that is extra, missing or not as created (a trigger
        that drops inserts, a rule, a policy that hides rows), one sentence each; [] when exact."""
        ...


class WriteTransaction(Reader, Protocol):
    def append(self, rows: Sequence[StoredEvent], nodes: Sequence[StoredNode] = ()) -> Head:
        """Append rows that continue the head exactly (first seq == head().size),
        and the subtree hashes they complete.

        Raises StorageError if they do not; the store never renumbers.
        """
        ...

    def add_checkpoint(self, size: int, root: str, note: str, created: str) -> StoredCheckpoint: ...

    def set_meta(self, values: dict[str, str]) -> None: ...


class SealingTurn(Protocol):
    """A queued writer's turn at the writers' lock: its run's outcome if the previous holder sealed it,
    else a write transaction holding every run still queued (`queued`), for this writer to seal; or,
    in a turn that does not wait for the lock, neither (`settled` and `txn` None: another writer held
    the lock, this turn waited for it to finish, and it did not seal the run)."""

    settled: Settled | None
    txn: QueueTransaction | None
    queued: list[QueuedRun]
    about: list[StoredEvent]  # every event whose subject is a queued run's id (read with the queue)


class QueueTransaction(WriteTransaction, Protocol):
    def settle(self, outcomes: dict[int, Settled], mine: int) -> None:
        """Write each queued run's outcome into its row, in this transaction; `mine` is deleted."""
        ...

    def pipelined(self) -> AbstractContextManager[None]:
        """Send the block's statements without waiting for each answer (fewer round trips)."""
        ...

    def read_ahead(self, seq: int) -> None:
        """Ask for the event at `seq` now (in a pipeline: with the block), for the next `get(seq)`."""
        ...


@runtime_checkable
class GroupSealing(Protocol):
    """A store whose writers queue their runs and the lock holder seals them all (PostgreSQL)."""

    lock_timeout: float

    def enqueue(self, run: QueuedRun, *, try_lock: bool = False) -> int:
        """Queue a run (committed at once); its ticket. `try_lock`: and try the writers' lock in the same
        round trip, for the `sealing_turn(ticket, wait=False)` that follows at once."""
        ...

    def collect(self, ticket: int, timeout: float | None = None, *, after_holder: bool = False) -> Settled | None:
        """Its outcome (the row then deleted) if a lock holder sealed it, waiting while one is sealing it
        (and, `after_holder`, for the writers' lock to be free); None while it is still waiting for one."""
        ...

    def sealing_turn(self, ticket: int, timeout: float | None = None, *,
                     wait: bool = True) -> AbstractContextManager[SealingTurn]:
        """The writers' lock, waiting for it at most `timeout`; `wait=False`: only if it is free, else
        waiting for its holder to finish and collecting the run's outcome, if it sealed it."""
        ...

    def withdraw(self, ticket: int) -> Settled | None:
        """Take a run off the queue (after a lock timeout): None if it was still waiting, which is
        then gone; its outcome if a lock holder sealed (or refused) it meanwhile."""
        ...


class EventStore(Reader, Protocol):
    location: str
    lock_timeout: float

    def file_problems(self) -> list[str]:
        """What the database's own check of its storage finds (an index that leaves out rows), one
        sentence each; [] when nothing, or when the server keeps its storage to itself. Safe to call
        from another thread than the store's (verify runs it beside the scan)."""
        ...

    def transaction(self, timeout: float) -> AbstractContextManager[WriteTransaction]:
        """Exclusive write access; raises LockTimeout after `timeout` seconds of waiting."""
        ...

    def close(self) -> None: ...
