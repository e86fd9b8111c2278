"""RFC 9162 Merkle tree: published vectors, and the fast code against the naive reference."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog.core import merkle
from auditlog.core.merkle import EMPTY_ROOT, TreeBuilder, leaf_hash, node_hash, peaks, root_from_leaf_hashes
from auditlog.core.verify_proof import root_from_inclusion_proof, verify_consistency, verify_inclusion
from auditlog.errors import InvalidInput, ProofError
from auditlog.services.prove import (
    consistency_nodes,
    consistency_proof,
    consistency_subtrees,
    inclusion_nodes,
    inclusion_proof,
    inclusion_subtrees,
    root_at,
)

from . import merkle_reference as ref


def h(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string)


def b64(text: str) -> bytes:
    return base64.b64decode(text)


# --- Known answers ---------------------------------------------------------------------------
# Values from github.com/transparency-dev/merkle, testonly/constants.go (LeafInputs,
# NodeHashes, RootHashes, CompactTrees). They were produced there by its reference tree
# and match the RFC 6962 vectors of the original certificate-transparency C++ tests.

LEAF_INPUTS = [h(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                              "606162636465666768696a6b6c6d6e6f"]]

NODE_HASHES = [  # [level][index], complete subtrees of the 8-leaf tree
    [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
     h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
     h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
     h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
     h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
     h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
     h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
     h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1")],
    [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
     h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
     h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
     h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0")],
    [h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
     h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

ROOTS = [  # by tree size 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# CompactTrees(): the peaks of each tree size, as (level, index) into NODE_HASHES.
COMPACT_TREES = [[], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)],
                 [(2, 0), (1, 2)], [(2, 0), (1, 2), (0, 6)], [(3, 0)]]

# transparency-dev/merkle, proof/verify_test.go: inclusionProofs and consistencyProofs.
# (Its `leaf` field is 1-based; here it is the 0-based index.)
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")  # verify_test.go


def stored(level: int, index: int) -> bytes:
    return NODE_HASHES[level][index]


def test_leaf_and_node_hashes_match_published_values() -> None:
    assert [leaf_hash(d) for d in LEAF_INPUTS] == NODE_HASHES[0]
    assert node_hash(NODE_HASHES[0][0], NODE_HASHES[0][1]) == NODE_HASHES[1][0]
    assert EMPTY_ROOT == ROOTS[0] == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(9))
def test_roots_of_sizes_0_to_8(size: int) -> None:
    leaves = NODE_HASHES[0][:size]
    assert root_from_leaf_hashes(leaves) == ROOTS[size]
    assert root_at(size, stored) == ROOTS[size]
    assert ref.mth(list(leaves)) == ROOTS[size]
    assert peaks(size) == COMPACT_TREES[size]


def test_tree_builder_emits_every_complete_subtree_once() -> None:
    builder, seen = TreeBuilder(), {}
    for i, leaf in enumerate(NODE_HASHES[0]):
        for level, index, value in builder.append(leaf):
            assert (level, index) not in seen
            seen[(level, index)] = value
        assert builder.size == i + 1
        assert builder.root() == ROOTS[i + 1]
        assert builder.peak_hashes() == [stored(*p) for p in COMPACT_TREES[i + 1]]
    assert seen == {(lv, i): v for lv, row in enumerate(NODE_HASHES) for i, v in enumerate(row)}


def test_tree_builder_resumes_from_peaks() -> None:
    builder = TreeBuilder.from_peaks(5, [stored(*p) for p in peaks(5)])
    for leaf in NODE_HASHES[0][5:]:
        builder.append(leaf)
    assert builder.root() == ROOTS[8]
    with pytest.raises(InvalidInput):
        TreeBuilder.from_peaks(5, [stored(2, 0)])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(index, size, stored) == proof
    assert root_from_inclusion_proof(NODE_HASHES[0][index], index, size, proof) == ROOTS[size]
    verify_inclusion(NODE_HASHES[0][index], index, size, proof, ROOTS[size])
    for probe in corrupt_inclusion(index, size, proof, ROOTS[size], NODE_HASHES[0][index]):
        with pytest.raises(ProofError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(size1: int, size2: int, proof: list[bytes]) -> None:
    assert consistency_proof(size1, size2, stored) == proof
    verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])
    if proof:  # as in verify_test.go, probe only non-trivial proofs
        for probe in corrupt_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof):
            with pytest.raises(ProofError):
                verify_consistency(*probe)


def corrupt_inclusion(index, size, proof, root, leaf):  # after verify_test.go corruptInclusionProof
    probes = [
        (leaf, index - 1, size, proof, root), (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root), (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root), (b"WrongLeaf", index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT), (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, b""], root), (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root), (leaf, index, size, [root, *proof], root),
    ]
    for i in range(len(proof)):
        probes.append((leaf, index, size, flip(proof, i, 3), root))
    if proof:
        probes.append((leaf, index, size, proof[:-1], root))
    if len(proof) > 1:
        probes.append((leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root))
    return probes


def corrupt_consistency(size1, size2, root1, root2, proof):  # after corruptConsistencyProof
    probes = [
        (size1 - 1, size2, proof, root1, root2), (size1 + 1, size2, proof, root1, root2),
        (size1 ^ 2, size2, proof, root1, root2), (size1, size2 * 2, proof, root1, root2),
        (size1, size2 // 2, proof, root1, root2), (size1, size2, proof, b"WrongRoot", root2),
        (size1, size2, proof, root1, b"WrongRoot"), (size1, size2, proof, root2, root1),
        (size1, size2, [], root1, root2), (size1, size2, [*proof, b""], root1, root2),
        (size1, size2, [*proof, root1], root1, root2), (size1, size2, [*proof, root2], root1, root2),
        (size1, size2, [b"", *proof], root1, root2), (size1, size2, [root1, *proof], root1, root2),
        (size1, size2, [root2, *proof], root1, root2), (size1, size2, [proof[0], *proof], root1, root2),
        (size1, size2, proof[:-1], root1, root2),
    ]
    for i in range(len(proof)):
        probes.append((size1, size2, flip(proof, i, 4), root1, root2))
    return probes


def flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    wrong = list(proof)
    wrong[i] = bytes([wrong[i][0] ^ (1 << bit)]) + wrong[i][1:]
    return wrong


# transparency-dev/merkle testdata/inclusion/*/ and testdata/consistency/*/ (JSON probes).
JSON_INCLUSION_PROBES = [  # (file, leafIdx, treeSize, root, leafHash, proof, wantErr)
    ("inclusion/0/happy-path.json", 0, 1, "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
     "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=", [], False),
    ("inclusion/2/happy-path.json", 5, 8, "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
     "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
     ["vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=", "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
      "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc="], False),
    ("inclusion/2/modified-proof[1]-bit-3.json", 5, 8, "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
     "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
     ["vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=", "woVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
      "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc="], True),
    ("inclusion/2/trailing-garbage.json", 5, 8, "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
     "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
     ["vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=", "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
      "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=", ""], True),
    ("inclusion/4/happy-path.json", 1, 5, "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
     "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
     ["bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=", "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
      "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms="], False),
]
JSON_CONSISTENCY_PROBES = [  # (file, size1, size2, root1, root2, proof, wantErr)
    ("consistency/1/happy-path.json", 1, 8, "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
     "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
     ["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=", "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
      "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="], False),
    ("consistency/1/swapped-roots.json", 1, 8, "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
     "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
     ["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=", "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
      "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="], True),
    ("consistency/4/happy-path.json", 6, 7, "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
     "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
     ["DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=", "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
      "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc="], False),
    ("consistency/4/modified-proof[1]-bit-4.json", 6, 7, "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
     "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
     ["DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=", "oIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
      "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc="], True),
]


@pytest.mark.parametrize("probe", JSON_INCLUSION_PROBES, ids=lambda p: p[0])
def test_json_inclusion_probes(probe) -> None:
    _, index, size, root, leaf, proof, want_err = probe
    args = (b64(leaf), index, size, [b64(p) for p in proof], b64(root))
    if want_err:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("probe", JSON_CONSISTENCY_PROBES, ids=lambda p: p[0])
def test_json_consistency_probes(probe) -> None:
    _, size1, size2, root1, root2, proof, want_err = probe
    args = (size1, size2, [b64(p) for p in proof], b64(root1), b64(root2))
    if want_err:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# transparency-dev/merkle proof/proof_test.go TestInclusion / TestConsistency: the node IDs
# each proof needs. Go lists an incomplete right-edge node as its parts bottom-up, to be
# "rehashed"; here each proof hash is the list of complete subtrees it folds, left to right.
@pytest.mark.parametrize(("index", "size", "want"), [
    (0, 1, []), (0, 2, [[(0, 1)]]), (1, 2, [[(0, 0)]]), (1, 3, [[(0, 0)], [(0, 2)]]),
    (0, 7, [[(0, 1)], [(1, 1)], [(1, 2), (0, 6)]]), (2, 7, [[(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]),
    (4, 7, [[(0, 5)], [(0, 6)], [(2, 0)]]), (6, 7, [[(1, 2)], [(2, 0)]]),
    (3, 5, [[(0, 2)], [(1, 0)], [(0, 4)]]), (4, 6, [[(0, 5)], [(2, 0)]]),
    (10, 15, [[(0, 11)], [(1, 4)], [(1, 6), (0, 14)], [(3, 0)]]),
    (24, 31, [[(0, 25)], [(1, 13)], [(1, 14), (0, 30)], [(3, 2)], [(4, 0)]]),
    (81, 95, [[(0, 80)], [(1, 41)], [(2, 21)], [(2, 22), (1, 46), (0, 94)], [(4, 4)], [(6, 0)]]),
])
def test_inclusion_nodes_match_go(index: int, size: int, want) -> None:
    assert inclusion_nodes(index, size) == want


@pytest.mark.parametrize(("size1", "size2", "want"), [
    (1, 2, [[(0, 1)]]), (1, 4, [[(0, 1)], [(1, 1)]]), (2, 3, [[(0, 2)]]), (2, 8, [[(1, 1)], [(2, 1)]]),
    (3, 7, [[(0, 2)], [(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]), (4, 7, [[(1, 2), (0, 6)]]),
    (5, 7, [[(0, 4)], [(0, 5)], [(0, 6)], [(2, 0)]]), (6, 7, [[(1, 2)], [(0, 6)], [(2, 0)]]),
    (7, 8, [[(0, 6)], [(0, 7)], [(1, 2)], [(2, 0)]]), (5, 5, []), (8, 8, []),
    (10, 15, [[(1, 4)], [(1, 5)], [(1, 6), (0, 14)], [(3, 0)]]),
    (24, 31, [[(3, 2)], [(2, 6), (1, 14), (0, 30)], [(4, 0)]]),
    (81, 95, [[(0, 80)], [(0, 81)], [(1, 41)], [(2, 21)], [(2, 22), (1, 46), (0, 94)], [(4, 4)], [(6, 0)]]),
])
def test_consistency_nodes_match_go(size1: int, size2: int, want) -> None:
    assert consistency_nodes(size1, size2) == want


# --- Preconditions ---------------------------------------------------------------------------

@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 1), (7, 7), (-1, 3), (True, 3)])
def test_inclusion_generation_rejects_bad_arguments(index, size) -> None:
    with pytest.raises(InvalidInput):
        inclusion_subtrees(index, size)


@pytest.mark.parametrize(("size1", "size2"), [(0, 0), (0, 5), (9, 8), (5, 0)])
def test_consistency_generation_rejects_bad_arguments(size1, size2) -> None:
    with pytest.raises(InvalidInput):
        consistency_subtrees(size1, size2)


def test_bad_subtree_hash_from_store_is_refused() -> None:
    with pytest.raises(InvalidInput):
        inclusion_proof(0, 2, lambda level, index: b"short")


@pytest.mark.parametrize("args", [
    (SOME_HASH, 0, 0, [], EMPTY_ROOT),          # size 0: nothing is in it
    (SOME_HASH, 1, 1, [], SOME_HASH),           # index >= size
    (SOME_HASH, -1, 1, [], SOME_HASH),
    (b"", 0, 1, [], SOME_HASH),                 # leaf not 32 bytes
    (SOME_HASH, 0, 1, [], b""),                 # root not 32 bytes
    (SOME_HASH, 0, 1, [SOME_HASH], SOME_HASH),  # too long
    (SOME_HASH, 0, 2, [], SOME_HASH),           # too short
    (SOME_HASH, 0, 2, [SOME_HASH[:31]], SOME_HASH),
])
def test_verify_inclusion_rejects(args) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(*args)


def test_single_leaf_tree_root_is_the_leaf() -> None:
    verify_inclusion(SOME_HASH, 0, 1, [], SOME_HASH)


@pytest.mark.parametrize("args", [
    (0, 0, [], EMPTY_ROOT, EMPTY_ROOT),   # RFC 9162: first must be > 0 (Go accepts this)
    (0, 1, [], EMPTY_ROOT, SOME_HASH),
    (1, 1, [], ROOTS[1], ROOTS[2]),       # equal sizes, different roots
    (1, 1, [EMPTY_ROOT], ROOTS[1], ROOTS[1]),  # equal sizes, proof not empty
    (2, 1, [], ROOTS[2], ROOTS[1]),       # time travel
    (1, 2, [], ROOTS[1], ROOTS[2]),       # empty proof
    (1, 2, [NODE_HASHES[0][1]], ROOTS[1][:31], ROOTS[2]),
])
def test_verify_consistency_rejects(args) -> None:
    with pytest.raises(ProofError):
        verify_consistency(*args)


def test_proof_error_carries_roots() -> None:
    with pytest.raises(ProofError) as info:
        verify_inclusion(NODE_HASHES[0][0], 0, 8, INCLUSION_VECTORS[1][2], ROOTS[7])
    assert info.value.expected == ROOTS[7] and info.value.calculated == ROOTS[8]


# --- Against the naive reference, random sizes up to 2,000 ----------------------------------

N = 2000
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(N)]
TABLE: dict[tuple[int, int], bytes] = {(0, i): x for i, x in enumerate(LEAVES)}
for _level in range(1, N.bit_length()):
    for _k in range(N >> _level):
        TABLE[(_level, _k)] = hashlib.sha256(
            b"\x01" + TABLE[(_level - 1, 2 * _k)] + TABLE[(_level - 1, 2 * _k + 1)]).digest()


def table_get(level: int, index: int) -> bytes:
    assert (index + 1) << level <= N, "asked for a subtree that is not complete"
    return TABLE[(level, index)]


def ref_root(size: int) -> bytes:
    return ref.mth(LEAVES[:size])


sizes = st.integers(min_value=1, max_value=N)
FAST = settings(max_examples=120, deadline=None)


@FAST
@given(sizes)
def test_roots_match_reference(size: int) -> None:
    root = ref_root(size)
    assert root_from_leaf_hashes(LEAVES[:size]) == root
    asked: list[tuple[int, int]] = []
    assert root_at(size, lambda lv, k: asked.append((lv, k)) or table_get(lv, k)) == root
    assert asked == peaks(size) and len(asked) == size.bit_count()


@FAST
@given(st.data())
def test_inclusion_matches_reference_and_resists_tampering(data: st.DataObject) -> None:
    size = data.draw(sizes)
    index = data.draw(st.integers(0, size - 1))
    root, leaf = ref_root(size), LEAVES[index]
    asked: list[tuple[int, int]] = []
    proof = inclusion_proof(index, size, lambda lv, k: asked.append((lv, k)) or table_get(lv, k))
    assert proof == ref.path(index, LEAVES[:size])
    assert asked == inclusion_subtrees(index, size)
    verify_inclusion(leaf, index, size, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 8 * merkle.HASH_SIZE - 1))
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, flip_bit(proof, i, bit), root)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, flip_bit([root], 0, bit)[0])
    with pytest.raises(ProofError):
        verify_inclusion(flip_bit([leaf], 0, bit)[0], index, size, proof, root)
    other = data.draw(st.integers(-1, size).filter(lambda j: j != index))
    for wrong_index, wrong_size in [(other, size), (index ^ 2, size), (index, size * 2), (index, size // 2)]:
        if (wrong_index, wrong_size) != (index, size):
            with pytest.raises(ProofError):
                verify_inclusion(leaf, wrong_index, wrong_size, proof, root)


@FAST
@given(st.data())
def test_consistency_matches_reference_and_resists_tampering(data: st.DataObject) -> None:
    size2 = data.draw(sizes)
    size1 = data.draw(st.integers(1, size2))
    root1, root2 = ref_root(size1), ref_root(size2)
    asked: list[tuple[int, int]] = []
    proof = consistency_proof(size1, size2, lambda lv, k: asked.append((lv, k)) or table_get(lv, k))
    assert proof == ref.proof(size1, LEAVES[:size2])
    assert asked == consistency_subtrees(size1, size2)
    verify_consistency(size1, size2, proof, root1, root2)
    bit = data.draw(st.integers(0, 8 * merkle.HASH_SIZE - 1))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, flip_bit(proof, i, bit), root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, flip_bit([root1], 0, bit)[0], root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, flip_bit([root2], 0, bit)[0])
    other = data.draw(st.integers(0, size2 + 1).filter(lambda m: m != size1))
    for wrong1, wrong2 in [(other, size2), (size1 ^ 2, size2), (size1, size2 * 2), (size1, size2 // 2)]:
        if (wrong1, wrong2) != (size1, size2):
            with pytest.raises(ProofError):
                verify_consistency(wrong1, wrong2, proof, root1, root2)


def flip_bit(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    wrong = list(proof)
    b = bytearray(wrong[i])
    b[bit // 8] ^= 1 << (bit % 8)
    wrong[i] = bytes(b)
    return wrong


@FAST
@given(st.integers(0, N), st.integers(0, N))
def test_tree_builder_matches_table_and_resumes(start: int, stop: int) -> None:
    start, stop = min(start, stop), max(start, stop)
    builder = TreeBuilder.from_peaks(start, [TABLE[p] for p in peaks(start)])
    for i in range(start, stop):
        for level, index, value in builder.append(LEAVES[i]):
            assert TABLE[(level, index)] == value
            assert ((index + 1) << level) - 1 == i  # completed by exactly this leaf
    assert builder.root() == ref_root(stop)


def test_proofs_bind_index_but_size_only_through_the_root() -> None:
    """RFC 9162 semantics, kept on purpose: the verifier must take (size, root) from one
    signed checkpoint. A proof for (0, 5) also "verifies" with size 6 against root 5,
    because the last hash (leaf 4, or the subtree [4, 6)) is opaque to the verifier."""
    proof = inclusion_proof(0, 5, stored)
    verify_inclusion(NODE_HASHES[0][0], 0, 6, proof, ROOTS[5])
    with pytest.raises(ProofError):
        verify_inclusion(NODE_HASHES[0][0], 1, 5, proof, ROOTS[5])
    verify_consistency(1, 4, consistency_proof(1, 3, stored), ROOTS[1], ROOTS[3])
