"""What the tlog-tiles files hold: hash tiles, entry bundles, and which of them a tree needs.

A tile at level L, index n, holds up to 256 consecutive Merkle hashes of complete subtrees of
height 8L: hash i is MTH(D[(n*256 + i) * 256^L : (n*256 + i + 1) * 256^L]). A full tile is
256 of them; the rightmost tile of each level is partial (1..255, `floor(size / 256^L) mod 256`)
and is never hashed into the level above. An entry bundle holds the leaves of one level-0
tile, each behind a big-endian uint16 length.

A leaf longer than 65,535 bytes does not fit that prefix: the bundle that holds one is written
with uint32 prefixes to `entries-u32/` instead (`paths.bundle_path(..., wide=True)`), and its
`tile/entries/` file is not written, so a standard client meets a missing bundle, never a
wrong one; the tiles and the checkpoint are standard either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditlog.core.merkle import HASH_SIZE, node_hash
from auditlog.errors import InvalidInput, VerificationError
from auditlog.tlog.paths import TILE_HEIGHT, TILE_WIDTH, bundle_path, tile_path

MAX_ENTRY = 0xFFFF  # the largest leaf a standard bundle carries
MAX_WIDE_ENTRY = 0xFFFFFFFF


@dataclass(frozen=True)
class Tile:
    """One hash tile of a tree: its level, index and width (TILE_WIDTH when full)."""

    level: int
    index: int
    width: int

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    def bundle_path(self, *, wide: bool = False) -> str:
        """The entry bundle beside a level-0 tile."""
        return bundle_path(self.index, self.width, wide=wide)

    @property
    def first(self) -> int:
        """The first subtree (of height 8 * level) that this tile's first hash covers."""
        return self.index * TILE_WIDTH


def tiles_for(size: int, since: int = 0) -> list[Tile]:
    """The tiles of the tree of `size` leaves, level by level from 0, that the tree of `since`
    leaves did not already have in full: the files a publish from `since` to `size` writes.

    Requires 0 <= since <= size. `tiles_for(size)` is every tile the tree needs.
    """
    if not 0 <= since <= size:
        raise InvalidInput("size", f"cannot go from {since} to {size} leaves")
    out: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)  # complete subtrees of height 8L in the tree
        done = since >> (TILE_HEIGHT * level)
        for index in range(done // TILE_WIDTH, hashes // TILE_WIDTH):
            out.append(Tile(level, index, TILE_WIDTH))
        if hashes % TILE_WIDTH and hashes != done:  # else the tree of `since` had this partial tile
            out.append(Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level += 1
    return out


def tile_for_hash(level: int, position: int, size: int) -> Tile:
    """The tile (of the tree of `size`) holding hash `position` of tile-level `level`."""
    index = position // TILE_WIDTH
    available = size >> (TILE_HEIGHT * level)
    if position >= available:
        raise InvalidInput("position", f"the tree of {size} leaves has no complete subtree {position} "
                           f"of height {TILE_HEIGHT * level}")
    full = index < available // TILE_WIDTH
    return Tile(level, index, TILE_WIDTH if full else available % TILE_WIDTH)


def encode_tile(hashes: Sequence[bytes]) -> bytes:
    """The tile file: the hashes, concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH or any(len(h) != HASH_SIZE for h in hashes):
        raise InvalidInput("tile", f"a tile holds 1 to {TILE_WIDTH} hashes of {HASH_SIZE} bytes")
    return b"".join(hashes)


def decode_tile(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of a tile file; VerificationError naming it if it is not `tile.width` hashes."""
    if len(data) != tile.width * HASH_SIZE:
        raise VerificationError(f"{tile.path}: {len(data)} bytes, a tile of width {tile.width} has "
                                f"{tile.width * HASH_SIZE}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two run of sibling hashes: the node above them (a full tile's hash
    in the level above, when given its 256 hashes)."""
    if not hashes or len(hashes) & (len(hashes) - 1):
        raise InvalidInput("hashes", f"need a power of two of them, got {len(hashes)}")
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def needs_wide_bundle(entries: Sequence[bytes]) -> bool:
    """Whether some entry is too long for a standard bundle's uint16 length."""
    return any(len(e) > MAX_ENTRY for e in entries)


def encode_bundle(entries: Sequence[bytes], *, wide: bool = False) -> bytes:
    """Each entry behind its big-endian length: uint16 (standard) or uint32 (`wide`)."""
    limit, width = (MAX_WIDE_ENTRY, 4) if wide else (MAX_ENTRY, 2)
    out = bytearray()
    for position, entry in enumerate(entries):
        if len(entry) > limit:
            raise InvalidInput("entry", f"entry {position} of the bundle is {len(entry)} bytes; at most {limit} fit")
        out += len(entry).to_bytes(width, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, name: str, *, wide: bool = False) -> list[bytes]:
    """The entries of a bundle file; VerificationError naming `name` and the offset if malformed."""
    width = 4 if wide else 2
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + width > len(data):
            raise VerificationError(f"{name}: truncated length prefix at byte {offset}")
        length = int.from_bytes(data[offset : offset + width], "big")
        offset += width
        if offset + length > len(data):
            raise VerificationError(f"{name}: entry {len(entries)} claims {length} bytes, "
                                    f"only {len(data) - offset} remain")
        entries.append(data[offset : offset + length])
        offset += length
    return entries


def subtree_getter(size: int, read_tile: Callable[[Tile], list[bytes]]) -> Callable[[int, int], bytes]:
    """A `get_subtree(level, index)` (as `auditlog.services.prove` takes) over the tiles of the tree
    of `size`: the complete subtree (level, index) is folded from the 2^(level mod 8) hashes
    of tile-level level // 8 it spans. `read_tile` fetches (and may cache) a tile's hashes."""
    def get(level: int, index: int) -> bytes:
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height
        tile = tile_for_hash(tile_level, first + (1 << height) - 1, size)
        hashes = read_tile(tile)
        offset = first - tile.first
        return subtree_hash(hashes[offset : offset + (1 << height)])
    return get
