"""RFC 9162 section 2.1 Merkle tree hash, and the compact range that grows it leaf by leaf.

The tree is RFC 9162's (= RFC 6962's): leaf = SHA-256(0x00 || d), interior =
SHA-256(0x01 || left || right), split at the largest power of two below n.

Addressing: the *complete* subtree (level L, index k) covers leaves
[k*2^L, (k+1)*2^L); level 0 is the leaf hashes. A complete subtree never changes
once its last leaf is in, so a store keeps these hashes and assembles any root or
proof from O(log n) of them. The nodes that are not complete lie on the right edge
of the tree; each covers [k*2^L, n) and is the right fold of the complete subtrees
that decompose that range.

This module is the tree itself: the two hashes, the decomposition of a range into
complete subtrees, and `TreeBuilder`, which keeps only the peaks (transparency-dev/merkle's
`compact/`). Which subtrees a proof needs, and building proofs from stored subtree hashes,
is the log's work (`auditlog.services.prove`); checking a proof, step by step as RFC 9162 writes it, is
`auditlog.core.verify_proof`, which an auditor can read alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from auditlog.errors import InvalidInput

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = tuple[int, int]  # (level, index): covers leaves [index*2^level, (index+1)*2^level)


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def is_hash(value: object) -> bool:
    """Whether `value` is a SHA-256 hash: bytes, HASH_SIZE of them."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def check_count(name: str, value: object, minimum: int) -> int:
    """`value` if it is an int (not a bool) >= `minimum`; else InvalidInput naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def range_subtrees(begin: int, end: int) -> list[Subtree]:
    """Complete subtrees covering [begin, end), largest first.

    Requires that begin is a multiple of the largest power of two <= end - begin
    (true for every node of the tree and for [0, n)); then the decomposition
    follows the binary digits of end - begin, and the RFC hash of the range is
    the right fold of these subtrees' hashes.
    """
    out: list[Subtree] = []
    pos, rest = begin, end - begin
    while rest:
        level = rest.bit_length() - 1
        out.append((level, pos >> level))
        pos += 1 << level
        rest -= 1 << level
    return out


def peaks(size: int) -> list[Subtree]:
    """The complete subtrees whose right fold is the root of the tree of `size` leaves.

    One per set bit of `size`, largest (leftmost) first; empty for size 0.
    """
    return range_subtrees(0, check_count("size", size, 0))


def right_fold(hashes: Sequence[bytes]) -> bytes:
    """node_hash(h0, node_hash(h1, ... hk)): the RFC hash of adjacent complete subtrees
    given largest first, as `range_subtrees` lists them (EMPTY_ROOT for none)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


class TreeBuilder:
    """Appends leaf hashes one by one, keeping only the peaks (O(log n) hashes).

    `append` returns every complete subtree the new leaf completes, as
    (level, index, hash), starting with the leaf itself at level 0: that is what a
    store persists so that `auditlog.services.prove.root_at` and the proof functions can run later.
    """

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []  # hashes of peaks(self._size), left to right

    @classmethod
    def from_peaks(cls, size: int, peak_hashes: Sequence[bytes]) -> TreeBuilder:
        """Resume at `size` from the hashes of `peaks(size)`, in that order."""
        expected = len(peaks(size))
        if len(peak_hashes) != expected or not all(is_hash(h) for h in peak_hashes):
            raise InvalidInput("peak_hashes", f"need {expected} hashes of {HASH_SIZE} bytes for size {size}")
        builder = cls()
        builder._size, builder._peaks = size, list(peak_hashes)
        return builder

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add the leaf hash `leaf` (SHA-256(0x00 || data)) at index `size`."""
        if not is_hash(leaf):
            raise InvalidInput("leaf_hash", f"must be {HASH_SIZE} bytes")
        return self.extend([leaf])

    def extend(self, leaves: Iterable[bytes], min_level: int = 0) -> list[tuple[int, int, bytes]]:
        """Add these leaf hashes in order; return the completed subtrees of `min_level` and up.

        A right child completes its parent, and so on up. One loop, no call per leaf:
        verifying a long log calls this for every event, and a function call and a list
        per leaf would cost more than the hashing. Leaves are trusted to be 32-byte hashes
        (the caller made them with sha256; `append` checks one).
        """
        peaks, size, out = self._peaks, self._size, []
        sha256 = hashlib.sha256
        for h in leaves:
            if min_level == 0:
                out.append((0, size, h))
            index, level = size, 0
            while index & 1:
                h = sha256(b"\x01" + peaks.pop() + h).digest()
                index >>= 1
                level += 1
                if level >= min_level:
                    out.append((level, index, h))
            peaks.append(h)
            size += 1
        self._size = size
        return out

    def root(self) -> bytes:
        """Root at the current size: the right fold of the peaks."""
        return right_fold(self._peaks)

    def peak_hashes(self) -> list[bytes]:
        """Hashes of `peaks(size)`, left to right; enough to resume with `from_peaks`."""
        return list(self._peaks)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over the given leaf hashes, any count: O(n) time, O(log n) memory."""
    builder = TreeBuilder()
    for h in leaf_hashes:
        builder.append(h)
    return builder.root()
