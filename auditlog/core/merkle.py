"""RFC 9162 section 2.1 Merkle tree hash, inclusion and consistency proofs.

The tree is RFC 9162's (= RFC 6962's): leaf = SHA-256(0x00 || d), interior =
SHA-256(0x01 || left || right), split at the largest power of two below n.

Addressing: the *complete* subtree (level L, index k) covers leaves
[k*2^L, (k+1)*2^L); level 0 is the leaf hashes. A complete subtree never changes
once its last leaf is in, so a store keeps these hashes and assembles any root or
proof from O(log n) of them. The nodes that are not complete lie on the right edge
of the tree; each covers [k*2^L, n) and is the right fold of the complete subtrees
that decompose that range.

Three parts, so an auditor can read the last one alone: (1) which subtrees a root or
proof needs; (2) building roots and proofs from a getter of complete-subtree hashes;
(3) verification, step by step as RFC 9162 sections 2.1.3.2 and 2.1.4.2 write it.
Generation rejects bad arguments with `InvalidInput`; verification fails only with
`ProofError`, never by returning False.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from auditlog.errors import InvalidInput, ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = tuple[int, int]  # (level, index): covers leaves [index*2^level, (index+1)*2^level)
GetSubtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


# --- 1. Which complete subtrees are needed --------------------------------------------------


def _range_subtrees(begin: int, end: int) -> list[Subtree]:
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
    return _range_subtrees(0, _check_count("size", size, 0))


def _path_nodes(level: int, index: int, size: int) -> list[list[Subtree]]:
    """Siblings of node (level, index) on its way to the root of the tree of `size`.

    Each sibling is given as the complete subtrees that make it up (one subtree,
    unless the sibling is an incomplete node on the right edge). A node with no
    sibling at some level (the right edge) is carried up unchanged, as in the RFC.
    """
    nodes: list[list[Subtree]] = []
    while (size - 1) >> level:  # more than one node on this level
        sibling = index ^ 1
        begin = sibling << level
        if begin < size:
            nodes.append(_range_subtrees(begin, min(begin + (1 << level), size)))
        level, index = level + 1, index >> 1
    return nodes


def inclusion_nodes(index: int, size: int) -> list[list[Subtree]]:
    """Per proof hash, the complete subtrees it is folded from. Requires 0 <= index < size."""
    _check_count("size", size, 1)
    _check_count("index", index, 0)
    if index >= size:
        raise InvalidInput("index", f"leaf {index} is not in a tree of size {size}")
    return _path_nodes(0, index, size)


def consistency_nodes(size1: int, size2: int) -> list[list[Subtree]]:
    """Per proof hash, the complete subtrees it is folded from. Requires 0 < size1 <= size2.

    The proof is the path of the largest complete subtree ending at size1 (in the
    tree of size2), preceded by that subtree itself unless size1 is a power of two
    (then it is the old root, which the verifier already has).
    """
    _check_count("size1", size1, 1)
    _check_count("size2", size2, 1)
    if size1 > size2:
        raise InvalidInput("size1", f"size1 {size1} is larger than size2 {size2}")
    if size1 == size2:
        return []
    level = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    index = (size1 - 1) >> level
    path = _path_nodes(level, index, size2)
    return path if index == 0 else [[(level, index)], *path]


def inclusion_subtrees(index: int, size: int) -> list[Subtree]:
    """Exactly the complete subtrees `inclusion_proof(index, size, ...)` will ask for."""
    return [s for group in inclusion_nodes(index, size) for s in group]


def consistency_subtrees(size1: int, size2: int) -> list[Subtree]:
    """Exactly the complete subtrees `consistency_proof(size1, size2, ...)` will ask for."""
    return [s for group in consistency_nodes(size1, size2) for s in group]


# --- 2. Roots and proofs from stored subtree hashes -----------------------------------------


def _right_fold(hashes: Sequence[bytes]) -> bytes:
    """node_hash(h0, node_hash(h1, ... hk)): the RFC hash of adjacent complete subtrees
    given largest first, as `_range_subtrees` lists them (EMPTY_ROOT for none)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _fold(group: Sequence[Subtree], get_subtree: GetSubtree) -> bytes:
    hashes = [get_subtree(level, index) for level, index in group]
    for (level, index), h in zip(group, hashes):
        if not _is_hash(h):
            raise InvalidInput("subtree", f"hash of ({level}, {index}) is not {HASH_SIZE} bytes")
    return _right_fold(hashes)


def root_at(size: int, get_subtree: GetSubtree) -> bytes:
    """Root of the tree of `size` leaves from its peaks (EMPTY_ROOT for size 0)."""
    return _fold(peaks(size), get_subtree)


def inclusion_proof(index: int, size: int, get_subtree: GetSubtree) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]), bottom up. Requires 0 <= index < size."""
    return [_fold(group, get_subtree) for group in inclusion_nodes(index, size)]


def consistency_proof(size1: int, size2: int, get_subtree: GetSubtree) -> list[bytes]:
    """RFC 9162 PROOF(size1, D[size2]). Requires 0 < size1 <= size2; empty if equal."""
    return [_fold(group, get_subtree) for group in consistency_nodes(size1, size2)]


class TreeBuilder:
    """Appends leaf hashes one by one, keeping only the peaks (O(log n) hashes).

    `append` returns every complete subtree the new leaf completes, as
    (level, index, hash), starting with the leaf itself at level 0: that is what a
    store persists so that `root_at` and the proof functions can run later.
    """

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []  # hashes of peaks(self._size), left to right

    @classmethod
    def from_peaks(cls, size: int, peak_hashes: Sequence[bytes]) -> TreeBuilder:
        """Resume at `size` from the hashes of `peaks(size)`, in that order."""
        expected = len(peaks(size))
        if len(peak_hashes) != expected or not all(_is_hash(h) for h in peak_hashes):
            raise InvalidInput("peak_hashes", f"need {expected} hashes of {HASH_SIZE} bytes for size {size}")
        builder = cls()
        builder._size, builder._peaks = size, list(peak_hashes)
        return builder

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add the leaf hash `leaf` (SHA-256(0x00 || data)) at index `size`."""
        if not _is_hash(leaf):
            raise InvalidInput("leaf_hash", f"must be {HASH_SIZE} bytes")
        level, index, h = 0, self._size, leaf
        completed = [(0, index, h)]
        while index & 1:  # a right child completes its parent
            h = node_hash(self._peaks.pop(), h)
            level, index = level + 1, index >> 1
            completed.append((level, index, h))
        self._peaks.append(h)
        self._size += 1
        return completed

    def extend(self, leaves: Iterable[bytes], min_level: int = 0) -> list[tuple[int, int, bytes]]:
        """`append` for many leaves at once, keeping only completed subtrees of `min_level` and up.

        The same steps as `append`, inlined: verifying a long log calls this for every
        event, and a function call and a list per leaf would cost more than the hashing.
        Leaves are trusted to be 32-byte hashes (the caller made them with sha256).
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
        return _right_fold(self._peaks)

    def peak_hashes(self) -> list[bytes]:
        """Hashes of `peaks(size)`, left to right; enough to resume with `from_peaks`."""
        return list(self._peaks)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over the given leaf hashes, any count: O(n) time, O(log n) memory."""
    builder = TreeBuilder()
    for h in leaf_hashes:
        builder.append(h)
    return builder.root()


# --- 3. Verification (RFC 9162 2.1.3.2 and 2.1.4.2) -----------------------------------------


def _check_proof_input(proof: Sequence[bytes], **hashes: bytes) -> None:
    for name, value in hashes.items():
        if not _is_hash(value):
            raise ProofError(f"{name} is not a {HASH_SIZE}-byte hash")
    for i, p in enumerate(proof):
        if not _is_hash(p):
            raise ProofError(f"proof[{i}] is not a {HASH_SIZE}-byte hash")


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _inclusion_length(index: int, size: int) -> int:
    """Hashes in PATH(index, D[size]): levels below where the paths of index and
    size-1 diverge, plus one per left sibling above (transparency-dev/merkle's
    decompInclProof)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf_hash` at `index` in a tree of `size`.

    Requires 0 <= index < size, 32-byte hashes and the exact proof length; else ProofError.
    """
    if not (_is_size(index) and _is_size(size)):
        raise ProofError(f"index and size must be integers >= 0, got {index!r}, {size!r}")
    _check_proof_input(proof, leaf_hash=leaf_hash)
    # 1. If leaf_index is greater than or equal to tree_size, fail the proof verification.
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    expected = _inclusion_length(index, size)
    if len(proof) != expected:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {expected}")
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, size - 1
    # 3. Set r to hash.
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #     until either LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        # Otherwise:
        else:
            # i. Set r to HASH(0x01 || r || p).
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 5. Compare sn to 0 (r against root_hash is done by verify_inclusion).
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf_hash` is at `index` in the tree of `size` with `root`.

    RFC 9162 2.1.3.2. Returns None or raises ProofError (with expected and
    calculated roots when the proof is well formed but leads elsewhere). The proof
    binds the index, not the size: take (size, root) together from one verified
    checkpoint, never a size from elsewhere.
    """
    if not _is_hash(root):
        raise ProofError(f"root is not a {HASH_SIZE}-byte hash")
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    # 5. ... If sn is equal to 0 and r and the root_hash are equal, the log has
    #    proven the inclusion of hash. Otherwise, fail the proof verification.
    if calculated != root:
        raise ProofError("inclusion proof does not lead to the root", expected=root, calculated=calculated)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of size1 with root1 is a prefix of the tree of size2 with root2.

    RFC 9162 2.1.4.2, which requires 0 < size1 <= size2 (a proof from the empty
    tree is meaningless: it proves nothing, so it is refused). For size1 == size2
    the proof must be empty and the roots equal. Returns None or raises ProofError.
    As for inclusion, size2 is bound only through root2: take both from one checkpoint.
    """
    if not (_is_size(size1) and _is_size(size2)):
        raise ProofError(f"sizes must be integers >= 0, got {size1!r}, {size2!r}")
    _check_proof_input(proof, root1=root1, root2=root2)
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is not defined (size1 must be > 0)")
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == size2:
        if proof:
            raise ProofError(f"sizes are equal but the proof has {len(proof)} hashes, expected 0")
        if root1 != root2:
            raise ProofError("trees of equal size have different roots", expected=root1, calculated=root2)
        return
    # Expected length: the inclusion path of leaf size1-1 without the levels inside
    # the complete subtree ending at size1, plus that subtree unless it is root1.
    shift = (size1 & -size1).bit_length() - 1
    expected = _inclusion_length(size1 - 1, size2) - shift + (0 if size1 == 1 << shift else 1)
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not proof:
        raise ProofError("consistency proof is empty")
    if len(proof) != expected:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {expected}")
    path = list(proof)
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = size1 - 1, size2 - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise ProofError("consistency proof is too long")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).
            fr = node_hash(c, fr)
            # ii. Set sr to HASH(0x01 || c || sr).
            sr = node_hash(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #      until either LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        # Otherwise:
        else:
            # i. Set sr to HASH(0x01 || sr || c).
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 7. Verify that fr equals first_hash, that sr equals second_hash, and that sn is 0.
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root", expected=root1, calculated=fr)
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root", expected=root2, calculated=sr)
