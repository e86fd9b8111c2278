"""RFC 9162 sections 2.1.3.2 and 2.1.4.2: checking inclusion and consistency proofs.

Step by step as the RFC writes it, each step quoted above the line that does it, so an
auditor can check this file against the RFC alone. Pure functions of (index, size,
hashes), as transparency-dev/merkle's `proof/verify.go`; the hashes are those of
`auditlog.core.merkle`. Verification fails only with `ProofError` (carrying expected and
calculated roots where the proof is well formed but leads elsewhere), never by returning False.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditlog.core.merkle import HASH_SIZE, is_hash, node_hash
from auditlog.errors import ProofError


def _check_proof_input(proof: Sequence[bytes], **hashes: bytes) -> None:
    for name, value in [*hashes.items(), *((f"proof[{i}]", p) for i, p in enumerate(proof))]:
        if not is_hash(value):
            raise ProofError(f"{name} is not a {HASH_SIZE}-byte hash")


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
    if not is_hash(root):
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
