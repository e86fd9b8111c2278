"""A tlog-tiles reader written from the C2SP specs alone, to check what `auditlog publish` writes.

It imports nothing of auditlog: tile paths, tile contents, entry bundles, the RFC 6962 tree,
signed notes and tlog-cosignature/v1 are read here as c2sp.org/tlog-tiles, tlog-checkpoint,
signed-note and tlog-cosignature describe them, with `hashlib` and `cryptography` only.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def index_path(n: int) -> str:
    """tlog-tiles: zero-padded 3-digit elements, all but the last starting with 'x'."""
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_name(level: int | str, n: int, width: int) -> str:
    return f"tile/{level}/{index_path(n)}" + ("" if width == 256 else f".p/{width}")


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 2.1 over already-hashed leaves: split at the largest power of two below n."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def open_signed_note(text: str, name: str, key: bytes) -> str:
    """signed-note: body, blank line, '— name base64(keyid || sig)' lines; checks the Ed25519 one."""
    body, _, sigs = text.rpartition("\n\n")
    body += "\n"
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + key).digest()[:4]
    for line in sigs.rstrip("\n").split("\n"):
        who, _, b64 = line.removeprefix("\u2014 ").partition(" ")
        raw = base64.b64decode(b64)
        if who == name and raw[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(key).verify(raw[4:], body.encode())
            return body
    raise AssertionError(f"no signature by {name}")


def cosignature_time(text: str, name: str, key: bytes) -> int:
    """tlog-cosignature/v1: key id over 0x04; signs 'cosignature/v1\\ntime T\\n' + body."""
    body, _, sigs = text.rpartition("\n\n")
    body += "\n"
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + key).digest()[:4]
    for line in sigs.rstrip("\n").split("\n"):
        who, _, b64 = line.removeprefix("\u2014 ").partition(" ")
        raw = base64.b64decode(b64)
        if who == name and raw[:4] == key_id:
            timestamp = int.from_bytes(raw[4:12], "big")
            Ed25519PublicKey.from_public_bytes(key).verify(raw[12:], f"cosignature/v1\ntime {timestamp}\n{body}".encode())
            return timestamp
    raise AssertionError(f"no cosignature by {name}")


def vkey_parts(vkey: str) -> tuple[str, int, bytes]:
    name, _, rest = vkey.strip().partition("+")
    _, _, b64 = rest.partition("+")
    raw = base64.b64decode(b64)
    return name, raw[0], raw[1:]


def read_bundle(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i : i + 2], "big")
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


def check(root: Path, vkey: str, read=None) -> tuple[int, list[bytes]]:  # noqa: ANN001
    """Check a published log in `root` (or via `read(name) -> bytes`): returns (size, entries)."""
    read = read or (lambda name: (root / name).read_bytes())
    name, alg, key = vkey_parts(vkey)
    assert alg == 1
    body = open_signed_note(read("checkpoint").decode(), name, key)
    origin, size_text, root_b64 = body.split("\n")[:3]
    size, want_root = int(size_text), base64.b64decode(root_b64)
    entries: list[bytes] = []
    level_hashes: list[bytes] = []  # all hashes at the current tile level
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        bundle = read_bundle(read(tile_name("entries", n, width)))
        tile = read(tile_name(0, n, width))
        leaves = [hashlib.sha256(b"\x00" + e).digest() for e in bundle]
        assert b"".join(leaves) == tile, tile_name(0, n, width)
        entries += bundle
        level_hashes += leaves
    # higher levels: hash i of tile level L is the MTH of 256^L leaves, i.e. of 256 level-(L-1) hashes
    below, level = level_hashes, 0
    while size // 256 ** (level + 1):
        level += 1
        count = size // 256**level
        above = [mth(below[i * 256 : (i + 1) * 256]) for i in range(count)]
        for n in range((count + 255) // 256):
            width = min(256, count - n * 256)
            assert read(tile_name(level, n, width)) == b"".join(above[n * 256 : n * 256 + width]), tile_name(level, n, width)
        below = above
    assert origin and (mth(level_hashes) if size else hashlib.sha256(b"").digest()) == want_root
    return size, entries
