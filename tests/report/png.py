"""Decode a PNG (8-bit RGB or RGBA, not interlaced) into a numpy array with zlib: enough for a screenshot.

Pillow is not a dependency; Chromium's screenshots are plain 8-bit truecolour PNGs. The
five scanline filters are undone as RFC 2083 section 6 (PNG specification) defines them.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(data: bytes) -> Any:
    """An array of shape (height, width, channels), dtype uint8. ValueError if it is not a PNG this reads."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    pos, header, idat = len(SIGNATURE), None, bytearray()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError(f"chunk {kind!r}: CRC mismatch")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("image data has the wrong length")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            current = line.copy()
        elif kind == 1:  # Sub: each byte plus the one a pixel to its left: a running sum per channel
            current = (np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint64) % 256).astype(np.uint8).ravel()
        elif kind == 2:  # Up
            current = line + previous
        elif kind in (3, 4):
            current = _sequential(kind, line.tolist(), previous.tolist(), channels)
        else:
            raise ValueError(f"row {y}: unknown filter {kind}")
        out[y] = current
        previous = out[y]
    return out.reshape(height, width, channels)


def _sequential(kind: int, line: list[int], above: list[int], bpp: int) -> Any:
    """Average (3) and Paeth (4): each byte depends on the one decoded to its left."""
    out = [0] * len(line)
    for i, value in enumerate(line):
        a = out[i - bpp] if i >= bpp else 0
        b = above[i]
        if kind == 3:
            out[i] = (value + (a + b) // 2) & 0xFF
            continue
        c = above[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        out[i] = (value + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return np.array(out, dtype=np.uint8)
