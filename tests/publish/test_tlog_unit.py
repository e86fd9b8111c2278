"""The pure tlog package: path encoding, which tiles a tree has, bundles, proofs from tiles,
cosignature/v1 and the witness's decision. Known answers come from the C2SP texts."""

from __future__ import annotations

import hashlib

import pytest

from auditlog.core.checkpoint import Checkpoint
from auditlog.core.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes
from auditlog.core.verify_proof import verify_consistency
from auditlog.errors import InvalidInput, KeyFileError, SignatureError, VerificationError
from auditlog.services import prove as proof
from auditlog.services import signing
from auditlog.services.signing import Signer
from auditlog.tlog import cosignature, paths, tiles
from auditlog.tlog.witness import Witnessed, check_extends


@pytest.mark.parametrize("index, text", [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"),
                                         (1234067, "x001/x234/067"), (10**9, "x001/x000/x000/000")])
def test_index_encoding_as_tlog_tiles_writes_it(index, text):
    assert paths.encode_index(index) == text
    assert paths.decode_index(text) == index


@pytest.mark.parametrize("text", ["1", "x001", "001/x002", "x000/001", "x01/000", "abc", ""])
def test_malformed_indexes_are_refused(text):
    with pytest.raises(InvalidInput):
        paths.decode_index(text)


def test_paths():
    assert paths.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert paths.tile_path(2, 1, 17) == "tile/2/001.p/17"
    assert paths.bundle_path(3, 112) == "tile/entries/003.p/112"
    assert paths.bundle_path(3, 256, wide=True) == "entries-u32/003"
    with pytest.raises(InvalidInput):
        paths.tile_path(64, 0)
    with pytest.raises(InvalidInput):
        paths.tile_path(0, 0, 0)


def test_the_tiles_of_a_tree_of_70000_as_the_spec_lists_them():
    """tlog-tiles: 273 full level-0 tiles, a partial one of width 112, one full level-1 tile,
    a partial level-1 tile of width 17, a partial level-2 tile of width 1."""
    found = tiles.tiles_for(70000)
    level0 = [t for t in found if t.level == 0]
    assert sum(t.full for t in level0) == 273 and [t.width for t in level0 if not t.full] == [112]
    assert [(t.index, t.width) for t in found if t.level == 1] == [(0, 256), (1, 17)]
    assert [(t.index, t.width) for t in found if t.level == 2] == [(0, 1)]
    assert [(t.level, t.width) for t in tiles.tiles_for(256)] == [(0, 256), (1, 1)]
    assert tiles.tiles_for(0) == []


def test_an_incremental_publish_writes_only_what_the_older_tree_lacked():
    assert tiles.tiles_for(600, 600) == []
    new = {(t.level, t.index, t.width) for t in tiles.tiles_for(600, 300)}
    assert new == {(0, 1, 256), (0, 2, 88), (1, 0, 2)}
    assert {(t.level, t.index, t.width) for t in tiles.tiles_for(512, 511)} == {(0, 1, 256), (1, 0, 2)}
    with pytest.raises(InvalidInput):
        tiles.tiles_for(5, 6)


def test_bundles_round_trip_and_name_what_is_wrong():
    entries = [b"", b"a", b"x" * 70000]
    assert tiles.needs_wide_bundle(entries)
    with pytest.raises(InvalidInput, match="entry 2"):
        tiles.encode_bundle(entries)
    assert tiles.decode_bundle(tiles.encode_bundle(entries, wide=True), "b", wide=True) == entries
    assert tiles.decode_bundle(tiles.encode_bundle(entries[:2]), "b") == entries[:2]
    with pytest.raises(VerificationError, match="tile/entries/000: entry 1 claims 5 bytes"):
        tiles.decode_bundle(b"\x00\x00\x00\x05ab", "tile/entries/000")


def _tiles_of(leaves: list[bytes]) -> dict[tiles.Tile, list[bytes]]:
    """Tiles built naively from the spec's definition (MTH over 256^L leaves per hash)."""
    out = {}
    for tile in tiles.tiles_for(len(leaves)):
        span = 256 ** tile.level
        out[tile] = [root_from_leaf_hashes(leaves[(tile.first + i) * span:(tile.first + i + 1) * span])
                     for i in range(tile.width)]
    return out


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 513, 65535, 65536, 65537, 70000])
def test_roots_and_proofs_from_tiles_are_the_trees(size):
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    built = _tiles_of(leaves)
    get = tiles.subtree_getter(size, built.__getitem__)
    root = root_from_leaf_hashes(leaves)
    assert proof.root_at(size, get) == root
    for old in {1, size // 3 or 1, size - 1 or 1}:
        old_root = root_from_leaf_hashes(leaves[:old])
        verify_consistency(old, size, proof.consistency_proof(old, size, get), old_root, root)


def test_cosignature_v1_round_trip_and_key_id():
    signer = Signer.generate("witness.example/w1")
    key = signing.cosigner_key(signer)
    public = signer.verifier().public_key
    assert key.key_id == int.from_bytes(hashlib.sha256(b"witness.example/w1\n\x04" + public).digest()[:4], "big")
    assert key.key_id != signer.key_id
    assert cosignature.parse_witness_key(key.vkey) == key
    assert cosignature.parse_witness_key(signer.verifier_key()).public_key == public  # type 0x01 still accepted
    log = Signer.generate("log.example")
    note = log.sign("log.example\n5\n" + "A" * 43 + "=\n")
    body = note[: note.index("\n\n") + 1]
    cosigned = note + signing.cosignature_line(signer, body, 1700000000)
    assert key.timestamp_of(cosigned) == 1700000000
    assert cosignature.witnessed_by(cosigned, [key]) == ["witness.example/w1"]
    assert cosignature.witnessed_by(note, [key]) == []
    with pytest.raises(SignatureError, match="bad cosignature"):
        key.timestamp_of(cosigned.replace("\n5\n", "\n6\n"))
    with pytest.raises(KeyFileError):
        cosignature.parse_witness_key(key.vkey.replace(f"+{key.key_id:08x}+", "+00000000+"))


def test_the_witness_decision():
    leaves = [leaf_hash(bytes([i])) for i in range(20)]
    def cp(n: int) -> Checkpoint:
        return Checkpoint("o", n, root_from_leaf_hashes(leaves[:n]))
    get = tiles.subtree_getter(20, _tiles_of(leaves).__getitem__)
    check_extends(None, cp(7), [])
    seen = Witnessed("o", 7, cp(7).root)
    check_extends(seen, cp(7), [])
    check_extends(seen, cp(20), proof.consistency_proof(7, 20, get))
    with pytest.raises(VerificationError, match="rollback refused.*size 7.*size 5"):
        check_extends(seen, cp(5), [])
    with pytest.raises(VerificationError, match="fork refused"):
        check_extends(seen, Checkpoint("o", 7, b"\x01" * 32), [])
    with pytest.raises(VerificationError, match="fork refused"):
        check_extends(seen, cp(20), proof.consistency_proof(8, 20, get))
    with pytest.raises(VerificationError, match="empty tree"):
        check_extends(None, Checkpoint("o", 0, b"\x01" * 32), [])
    check_extends(None, Checkpoint("o", 0, EMPTY_ROOT), [])
