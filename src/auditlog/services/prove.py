"""RFC 9162 inclusion and consistency proofs, generated from stored subtree hashes.

Two steps, as transparency-dev/merkle's `proof/proof.go` takes them: (1) which complete
subtrees (see `auditlog.core.merkle` for the addressing) a root or proof needs, as pure
functions of (index, size); (2) folding them into the proof's hashes, given a getter of
complete-subtree hashes (a store's, in `auditlog.services.tree`). Bad arguments raise
`InvalidInput`.

It lives with the services, not in the core: it is how a log *produces* proofs, which an
auditor never needs to trust. Checking a proof is `auditlog.core.verify_proof`, and that
is all an auditor reads; a wrong proof made here fails there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from auditlog.core.merkle import HASH_SIZE, Subtree, check_count, is_hash, peaks, range_subtrees, right_fold
from auditlog.errors import InvalidInput

GetSubtree = Callable[[int, int], bytes]


# --- 1. Which complete subtrees are needed --------------------------------------------------


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
            nodes.append(range_subtrees(begin, min(begin + (1 << level), size)))
        level, index = level + 1, index >> 1
    return nodes


def inclusion_nodes(index: int, size: int) -> list[list[Subtree]]:
    """Per proof hash, the complete subtrees it is folded from. Requires 0 <= index < size."""
    check_count("size", size, 1)
    check_count("index", index, 0)
    if index >= size:
        raise InvalidInput("index", f"leaf {index} is not in a tree of size {size}")
    return _path_nodes(0, index, size)


def consistency_nodes(size1: int, size2: int) -> list[list[Subtree]]:
    """Per proof hash, the complete subtrees it is folded from. Requires 0 < size1 <= size2.

    The proof is the path of the largest complete subtree ending at size1 (in the
    tree of size2), preceded by that subtree itself unless size1 is a power of two
    (then it is the old root, which the verifier already has).
    """
    check_count("size1", size1, 1)
    check_count("size2", size2, 1)
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


def _fold(group: Sequence[Subtree], get_subtree: GetSubtree) -> bytes:
    hashes = [get_subtree(level, index) for level, index in group]
    for (level, index), h in zip(group, hashes):
        if not is_hash(h):
            raise InvalidInput("subtree", f"hash of ({level}, {index}) is not {HASH_SIZE} bytes")
    return right_fold(hashes)


def root_at(size: int, get_subtree: GetSubtree) -> bytes:
    """Root of the tree of `size` leaves from its peaks (EMPTY_ROOT for size 0)."""
    return _fold(peaks(size), get_subtree)


def inclusion_proof(index: int, size: int, get_subtree: GetSubtree) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]), bottom up. Requires 0 <= index < size."""
    return [_fold(group, get_subtree) for group in inclusion_nodes(index, size)]


def consistency_proof(size1: int, size2: int, get_subtree: GetSubtree) -> list[bytes]:
    """RFC 9162 PROOF(size1, D[size2]). Requires 0 < size1 <= size2; empty if equal."""
    return [_fold(group, get_subtree) for group in consistency_nodes(size1, size2)]
