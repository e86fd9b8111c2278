"""Link events into a chain and check a stored sequence, naming the first break.

A stored row is (seq, hash, ts, type, project, subject, body): the hashed bytes
plus the columns a store indexes. The scan recomputes every hash, checks every
link and seq, checks the columns against the bytes, and checks every body in full
(one canonical event: strict JSON, exactly the envelope's members), in one pass and
constant memory. It reports each problem once: a consequence of an earlier problem (the
link after altered bytes, the link after a gap) is not counted again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from auditlog.core.events import LOG_CREATED, ZERO_HASH, check_event_bytes, envelope_tail, parse_event
from auditlog.core.merkle import TreeBuilder
from auditlog.errors import InvalidInput

# The shapes the scan unpacks; a store's StoredEvent and StoredNode (auditlog.store.protocol) are these.
Row = tuple[int, str, str, str, str, str, bytes]  # (seq, hash, ts, type, project, subject, body)
Node = tuple[int, int, bytes]  # a stored complete subtree hash: (level, index, hash)
BatchCheck = Callable[[list[Row], int, str], tuple[list[str], list[bytes]] | None]  # see ChainScan


ProblemKind = Literal["bytes-altered", "hash-altered", "hash-mismatch", "link-broken", "gap", "misplaced",
                      "column-mismatch", "malformed", "genesis", "merkle", "checkpoint", "truncated",
                      "outside-chain", "schema", "metadata"]  # docs/concepts.md says what each means


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log at one position."""

    seq: int
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.detail}"


class ChainScan:
    """Scans rows in seq order; afterwards `size`, `head` and `root` describe what was read.

    `genesis_hash` is the hash the log recorded for its genesis when it was created
    (kept beside the events); a different genesis means the log was replaced.
    The scan also rebuilds the Merkle tree from the bytes: `anchors` maps tree sizes
    to (label, root) pairs that must match (checkpoints), and `nodes` streams the
    store's subtree hashes in completion order (when given): every complete subtree of
    height `stored_level` or more must be among them, with the hash the events give it.
    `batch(rows, seq and hash before them)` may vouch for 512 rows at once (`auditlog.services.batch`)
    where `scan`'s loop, the reference, would find nothing wrong: their hashes and leaf hashes, or None.
    """

    def __init__(self, genesis_hash: str | None = None, *,
                 anchors: Mapping[int, Sequence[tuple[str, bytes]]] | None = None,
                 nodes: Iterable[Node] | None = None, stored_level: int = 0, batch: BatchCheck | None = None) -> None:
        self.genesis_hash = genesis_hash
        self._stored_level = stored_level if nodes is not None else 64  # 64: no subtree is that high
        self.size = 0
        self.head = ZERO_HASH  # hash of the bytes of the last event read
        self.tree = TreeBuilder()
        self._anchors = dict(anchors or {})
        self._nodes = iter(nodes or ())
        self._next_node: Node | None = next(self._nodes, None)
        self._last_seq = -1
        self._stored_prev = ZERO_HASH  # the stored hash of the last event, which may differ from `head`
        self._batch = batch

    @property
    def root(self) -> bytes:
        return self.tree.root()

    def scan(self, rows: Iterable[Row]) -> Iterator[Problem]:
        sha256 = hashlib.sha256
        pending: tuple[int, str, str] | None = None  # (seq, stored, computed) of a hash mismatch
        leaves: list[bytes] = []  # leaf hashes not yet added to the tree: it grows in batches
        it = iter(rows)
        while batch := list(islice(it, 512 if self._batch and self._last_seq >= 0 else 1)):  # else: row by row
            vouched = self._batch(batch, self._last_seq, self.head) if self._batch and pending is None else None
            if vouched is not None:
                (*_, head), new_leaves = vouched  # the state the loop below would leave
                self._last_seq, self._stored_prev, self.head, self.size = batch[-1][0], head, head, batch[-1][0] + 1
                yield from self._add(leaves, new_leaves)
                continue
            for seq, stored, ts, type_, project, subject, body in batch:
                if type(body) is not bytes:  # a store that hands back text was written by something else
                    yield Problem(seq, "malformed", f"the stored event is {type(body).__name__}, not bytes")
                    body = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""
                computed = sha256(body).hexdigest()
                prev = self.head
                after_gap = seq != self._last_seq + 1
                if after_gap:
                    yield self._gap(seq)
                tail_ok = envelope_matches(body, prev, seq, ts, type_, project, subject)
                if pending is not None:
                    yield _mismatch(pending, body if not tail_ok else None, prev)
                    pending = None
                if not tail_ok:
                    problem = self._diagnose(seq, body, prev, (ts, type_, project, subject), after_gap)
                    if problem is not None:
                        yield problem
                else:
                    try:
                        check_event_bytes(body)
                    except InvalidInput as exc:
                        yield Problem(seq, "malformed", f"the stored bytes are not one canonical event ({exc}): "
                                                        "parsers could read them differently")
                if seq == 0:
                    problem = self._check_genesis(body, computed)
                    if problem is not None:
                        yield problem
                if stored != computed:
                    pending = (seq, stored, computed)
                self._last_seq, self._stored_prev, self.head = seq, stored, computed
                self.size = seq + 1
                yield from self._add(leaves, [sha256(b"\x00" + body).digest()])
        yield from self._grow_tree(leaves)
        if pending is not None:
            yield _mismatch(pending, None, None)
        if self._last_seq < 0:
            yield Problem(0, "genesis", "the log holds no events, not even its genesis")
        yield from self._leftovers()

    def _add(self, leaves: list[bytes], new: list[bytes]) -> Iterator[Problem]:
        """Queue leaf hashes; grow the tree at 4,096 of them, and at each anchor's size (checked there)."""
        for leaf in new:
            leaves.append(leaf)
            if len(leaves) >= 4096 or self.tree.size + len(leaves) in self._anchors:
                yield from self._grow_tree(leaves)
                leaves.clear()

    def _grow_tree(self, leaves: list[bytes]) -> Iterator[Problem]:
        """Extend the tree by these leaf hashes; check stored subtrees and anchors at the new size. Stored
        subtrees come in completion order, as the tree completes them, so the two are merged like sorted lists:
        a stored one with no counterpart is junk, a completed one with no stored counterpart is missing."""
        node = self._next_node
        for level, index, h in self.tree.extend(leaves, self._stored_level):
            end = (index + 1) << level
            while node is not None and _completion(node) < (end, level):
                stored_level, stored_index, _ = node
                yield Problem(_completion(node)[0] - 1, "merkle", f"a stored Merkle subtree (level {stored_level}, "
                                                                  f"index {stored_index}) is not one the tree has")
                node = next(self._nodes, None)
            if node is not None and _completion(node) == (end, level):  # the same subtree
                *_, stored_hash = node
                if stored_hash != h:
                    yield Problem(end - 1, "merkle", f"the stored hash of Merkle subtree (level {level}, index {index}) "
                                                     "does not match the events it covers")
                node = next(self._nodes, None)
            else:
                yield Problem(end - 1, "merkle", f"the hash of Merkle subtree (level {level}, index {index}) "
                                                 "is missing from the store")
        self._next_node = node
        for label, root in self._anchors.pop(self.tree.size, ()):
            if root != self.tree.root():
                yield Problem(self.tree.size - 1, "checkpoint",
                              f"{label} says the first {self.tree.size} events have root {root.hex()}, but they "
                              f"hash to {self.tree.root().hex()}: history was rewritten after it was checkpointed")

    def _leftovers(self) -> Iterator[Problem]:
        for size in sorted(self._anchors):
            for label, _root in self._anchors[size]:
                yield Problem(self.size, "truncated", f"{label} covers {size} events, but the log has only "
                                                      f"{self.size}: events were removed from its end")
        if self._next_node is not None:
            level, index, _ = self._next_node
            yield Problem(self.size, "merkle", f"a Merkle subtree (level {level}, index {index}) is stored "
                                               "for events the log does not have")

    def _gap(self, seq: int) -> Problem:
        first = self._last_seq + 1
        if seq < first:
            return Problem(seq, "misplaced", f"seq {seq} comes after seq {self._last_seq}")
        missing = f"seq {first}" if seq == first + 1 else f"seqs {first}..{seq - 1}"
        return Problem(first, "gap", f"{missing} missing: events were removed")

    def _diagnose(self, seq: int, body: bytes, prev: str, columns: tuple[str, str, str, str], after_gap: bool) -> Problem | None:
        """Why the fast tail comparison failed: parse the bytes and name the difference."""
        try:
            event = parse_event(body)
        except InvalidInput as exc:
            return Problem(seq, "malformed", f"the stored bytes are not a valid event ({exc})")
        if event.seq != seq:
            return Problem(seq, "misplaced", f"the event stored at seq {seq} says it is seq {event.seq} (reordered)")
        if event.prev != prev:
            explained = after_gap or event.prev == self._stored_prev or (seq == 1 and event.prev == self.genesis_hash)
            if explained:
                return None  # already reported: the event before it was altered, replaced or removed
            return Problem(seq, "link-broken", f"prev names {event.prev}, but seq {seq - 1} hashes to {prev}")
        for name, column in zip(("ts", "type", "project", "subject"), columns):
            if getattr(event, name) != column:
                return Problem(seq, "column-mismatch", f"indexed column {name}={column!r} but the bytes say {getattr(event, name)!r}")
        return Problem(seq, "malformed", "the stored bytes do not end as a canonical event does")

    def _check_genesis(self, body: bytes, computed: str) -> Problem | None:
        if self.genesis_hash is not None and computed != self.genesis_hash:
            return Problem(0, "genesis", f"genesis replaced: the log was created with genesis {self.genesis_hash}, "
                                         f"seq 0 now hashes to {computed}")
        try:
            event = parse_event(body)
        except InvalidInput:
            return None  # reported by the tail check
        if event.type != LOG_CREATED or not isinstance(event.data.get("log_id"), str):
            return Problem(0, "genesis", "seq 0 is not a log.created event with a log id")
        return None


def _completion(node: Node) -> tuple[int, int]:
    """(tree size, level) at which the tree completes a stored subtree: the order stores list them in."""
    level, index, _ = node
    return (index + 1) << level, level


def envelope_matches(body: bytes, prev: str, seq: int, ts: str, type_: str, project: str, subject: str) -> bool:
    """Whether `body` ends with the envelope its stored columns and `prev` (the previous event's hash) make,
    compared as bytes without parsing: the scan's fast check, and `AuditLog.linked_events`'s. False for a
    column that is not text (a store written by something else), which `ChainScan` then names."""
    try:
        return body.endswith(envelope_tail(prev, project, seq, subject, ts, type_))
    except TypeError:  # envelope_tail escapes only str
        return False


def _mismatch(pending: tuple[int, str, str], next_body: bytes | None, next_prev_expected: str | None) -> Problem:
    """Tell altered bytes from an altered stored hash by what the next event links to."""
    seq, stored, computed = pending
    if next_body is not None:
        try:
            linked = parse_event(next_body).prev
        except InvalidInput:
            linked = None
        if linked == stored:
            return Problem(seq, "bytes-altered", f"the event bytes were changed: they hash to {computed}, "
                                                 f"but the stored hash and the next event's link say {stored}")
    elif next_prev_expected is not None:
        return Problem(seq, "hash-altered", f"the stored hash {stored} was changed: the bytes hash to {computed}, "
                                            f"which the next event links to")
    return Problem(seq, "hash-mismatch", f"stored hash {stored}, but the bytes hash to {computed}")
