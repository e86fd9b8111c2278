"""The Merkle tree over a store's events: roots and proofs from stored subtree hashes.

Stores keep the hashes of complete subtrees of height >= STORED_LEVEL (16 leaves
and up), written in the transaction that appends their last event: one row per 16
events. Anything smaller is recomputed from at most 15 events' bytes, so a root or
a proof at any size costs O(log n) reads, never a rescan.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditlog.core import merkle
from auditlog.core.merkle import Subtree, TreeBuilder, leaf_hash
from auditlog.errors import InvalidInput, StorageError
from auditlog.services import prove
from auditlog.store.protocol import Reader, StoredNode

STORED_LEVEL = 4


class SubtreeHashes:
    """A `get_subtree(level, index)` for the proof functions (services.prove), over one store."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._cache: dict[Subtree, bytes] = {}

    def prefetch(self, keys: list[Subtree]) -> None:
        """Read the stored ones among `keys` in one go."""
        wanted = [k for k in keys if k[0] >= STORED_LEVEL and k not in self._cache]
        self._cache.update(self._reader.subtrees(wanted))

    def __call__(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            if level >= STORED_LEVEL:
                self.prefetch([key])
                if key not in self._cache:
                    raise StorageError(f"the Merkle subtree ({level}, {index}) is not stored: "
                                       "the log is damaged (run auditlog verify)")
            else:
                first = index << level
                rows = list(self._reader.rows(after=first - 1, until=first + (1 << level)))
                if len(rows) != 1 << level:
                    raise StorageError(f"events {first}..{first + (1 << level) - 1} are not all in the log")
                self._cache[key] = merkle.root_from_leaf_hashes(leaf_hash(row.body) for row in rows)
        return self._cache[key]


def builder_at(reader: Reader, size: int) -> TreeBuilder:
    """A TreeBuilder resumed at `size`, to extend the tree as events are appended."""
    get = SubtreeHashes(reader)
    peaks = merkle.peaks(size)
    get.prefetch(peaks)
    return TreeBuilder.from_peaks(size, [get(level, index) for level, index in peaks])


def root(reader: Reader, size: int) -> bytes:
    _check_size(reader, size)
    get = SubtreeHashes(reader)
    get.prefetch(merkle.peaks(size))
    return prove.root_at(size, get)


def inclusion_proof(reader: Reader, index: int, size: int) -> list[bytes]:
    _check_size(reader, size)
    get = SubtreeHashes(reader)
    get.prefetch(prove.inclusion_subtrees(index, size))
    return prove.inclusion_proof(index, size, get)


def consistency_proof(reader: Reader, size1: int, size2: int) -> list[bytes]:
    _check_size(reader, size2)
    get = SubtreeHashes(reader)
    get.prefetch(prove.consistency_subtrees(size1, size2))
    return prove.consistency_proof(size1, size2, get)


def _check_size(reader: Reader, size: int) -> None:
    head = reader.head().size
    if not 0 <= size <= head:
        raise InvalidInput("size", f"the log has {head} events; no tree of size {size}")


def nodes_within(nodes: Iterator[StoredNode], size: int, beyond: list[StoredNode]) -> Iterator[StoredNode]:
    """The stored subtrees that cover only events below `size`: a scan bounded to `size` events
    (verify, copy) reads them beside the events without seeing a writer's later commits. The
    others go to `beyond`, for `orphans` to check once the scan is done."""
    for node in nodes:
        if node.end <= size:
            yield node
        else:
            beyond.append(node)


def orphans(reader: Reader, beyond: list[StoredNode]) -> list[StoredNode]:
    """Those of `beyond` that cover events the log does not have even now (a writer's commits do)."""
    if not beyond:
        return []
    head = reader.head().size
    return [node for node in beyond if node.end > head]
