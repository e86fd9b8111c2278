"""Where C2SP tlog-tiles puts things: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`.

<N> is written in zero-padded 3-digit path elements, every one but the last prefixed with
`x` (1234067 -> `x001/x234/067`); `.p/<W>` marks a partial tile of width W (1..255).
Entries longer than a bundle's uint16 length prefix allows go to `entries-u32/...`
instead (see `auditlog.tlog.tiles` and docs/publishing.md).
"""

from __future__ import annotations

import re

from auditlog.errors import InvalidInput

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes (8,192 bytes) in a full tile
MAX_LEVEL = 63
CHECKPOINT = "checkpoint"
ENTRIES = "tile/entries"
WIDE_ENTRIES = "entries-u32"  # our own bundles with uint32 length prefixes, outside tile/
_ELEMENT = re.compile(r"x[0-9]{3}|[0-9]{3}")


def encode_index(index: int) -> str:
    """N as tlog-tiles writes it: 3-digit groups, all but the last prefixed with `x`."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InvalidInput("index", f"a tile index is an integer >= 0, got {index!r}")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def decode_index(text: str) -> int:
    """The inverse of `encode_index`; InvalidInput for anything it would not have written."""
    elements = text.split("/")
    if not all(_ELEMENT.fullmatch(e) for e in elements) or any(e[0] != "x" for e in elements[:-1]) \
            or elements[-1][0] == "x" or (len(elements) > 1 and elements[0] == "x000"):
        raise InvalidInput("path", f"{text!r} is not a tile index in tlog-tiles' encoding")
    return int("".join(e.lstrip("x") for e in elements))


def _suffix(width: int) -> str:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise InvalidInput("width", f"a tile is 1 to {TILE_WIDTH} hashes wide, got {width!r}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>`, or `tile/<L>/<N>.p/<W>` for a partial tile."""
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_LEVEL:
        raise InvalidInput("level", f"a tile level is 0 to {MAX_LEVEL}, got {level!r}")
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def bundle_path(index: int, width: int = TILE_WIDTH, *, wide: bool = False) -> str:
    """`tile/entries/<N>[.p/<W>]`, or our `entries-u32/<N>[.p/<W>]` for a bundle with a long entry."""
    return f"{WIDE_ENTRIES if wide else ENTRIES}/{encode_index(index)}{_suffix(width)}"
