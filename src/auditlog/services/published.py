"""Read and check a published log: the checkpoint's signature, every tile, every entry, the chain.

Nothing is trusted but the verifier keys: the checkpoint must verify under them; each entry
bundle's leaves are hashed into the level-0 tile they sit beside, each full tile is hashed into
the level above, the root of the tiles must be the checkpoint's, and the entries must form the
hash chain from the genesis (`auditlog.core.chain`). An older checkpoint, given, must be a
prefix: its root is the root of the first entries. Each failure names the file that is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from auditlog.core.chain import ChainScan, Row
from auditlog.core.checkpoint import Checkpoint, open_checkpoint
from auditlog.core.events import LOG_CREATED, parse_event
from auditlog.core.merkle import EMPTY_ROOT, leaf_hash
from auditlog.core.note import Verifier, unverified_note
from auditlog.core.verify_proof import verify_inclusion
from auditlog.errors import AuditLogError, IntegrityError, InvalidInput, NotFound, VerificationError
from auditlog.services import prove as proof
from auditlog.services.targets import Target
from auditlog.tlog.cosignature import CosignerKey, witnessed_by
from auditlog.tlog.paths import CHECKPOINT, TILE_WIDTH
from auditlog.tlog.tiles import Tile, decode_bundle, decode_tile, subtree_getter, subtree_hash, tile_for_hash, tiles_for


class PublishedLog:
    """A published log under a checked checkpoint; tiles and bundles fetched on demand and cached."""

    def __init__(self, target: Target, verifiers: Sequence[Verifier], origin: str | None = None) -> None:
        self.target = target
        text = target.read(CHECKPOINT)
        if text is None:
            raise NotFound(f"{target.uri}: no checkpoint: nothing was published there")
        self.note = text.decode("utf-8", "replace")
        try:
            self.checkpoint = open_checkpoint(text, verifiers, origin=origin)
        except AuditLogError as exc:
            raise VerificationError(f"{target.uri}: checkpoint: {exc}") from None
        self._tiles: dict[Tile, list[bytes]] = {}

    @property
    def size(self) -> int:
        return self.checkpoint.size

    def tile(self, tile: Tile) -> list[bytes]:
        if tile not in self._tiles:
            data = self.target.read(tile.path)
            if data is None:
                raise VerificationError(f"{self.target.uri}: {tile.path} is missing (the checkpoint of size "
                                        f"{self.size} needs it)")
            self._tiles[tile] = decode_tile(data, tile)
        return self._tiles[tile]

    def bundle(self, tile: Tile) -> tuple[str, list[bytes]]:
        """The entries beside a level-0 tile: the standard bundle, else our wide one."""
        for wide in (False, True):
            name = tile.bundle_path(wide=wide)
            data = self.target.read(name)
            if data is not None:
                entries = decode_bundle(data, name, wide=wide)
                if len(entries) != tile.width:
                    raise VerificationError(f"{self.target.uri}: {name} holds {len(entries)} entries, "
                                            f"its tile {tile.width}")
                return name, entries
        raise VerificationError(f"{self.target.uri}: {tile.bundle_path()} is missing (nor is there "
                                f"{tile.bundle_path(wide=True)})")

    def subtree(self) -> Callable[[int, int], bytes]:
        return subtree_getter(self.size, self.tile)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 proof that the tree of `old_size` is a prefix of this one, from the tiles."""
        if old_size == 0 or old_size == self.size:
            return []
        return proof.consistency_proof(old_size, self.size, self.subtree())

    def entry(self, seq: int) -> bytes:
        """The bytes of leaf `seq`, proven included in the checked checkpoint's tree."""
        if not 0 <= seq < self.size:
            raise NotFound(f"{self.target.uri}: no event {seq} in the published tree of {self.size}")
        tile = tile_for_hash(0, seq, self.size)
        name, entries = self.bundle(tile)
        body = entries[seq - tile.first]
        path = proof.inclusion_proof(seq, self.size, self.subtree())
        try:
            verify_inclusion(leaf_hash(body), seq, self.size, path, self.checkpoint.root)
        except VerificationError as exc:
            raise IntegrityError(seq, f"{name}: the entry is not in the published tree ({exc})") from None
        return body


@dataclass
class PublishedReport:
    """What `verify_published` checked."""

    uri: str
    checkpoint: Checkpoint
    signers: list[str]
    witnesses: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    files: int = 0

    def summary(self) -> str:
        cp = self.checkpoint
        parts = [f"ok: {self.uri}: {cp.size} events of {cp.origin}, root {cp.root.hex()}, signed by "
                 f"{', '.join(self.signers)}; {self.files} tiles and bundles checked, the chain intact"]
        if self.anchors:
            parts.append(f"extends {', '.join(self.anchors)}")
        if self.witnesses:
            parts.append(f"witnessed by {', '.join(self.witnesses)}")
        return "; ".join(parts)


def verify_published(target: Target, verifiers: Sequence[Verifier], *,
                     anchors: Sequence[tuple[str, Checkpoint]] = (),
                     witnesses: Sequence[Verifier | CosignerKey] = (), quorum: int = 0,
                     origin: str | None = None) -> PublishedReport:
    """Check everything published under `target` (its checkpoint naming `origin`, if given); VerificationError
    naming the first bad file."""
    log = PublishedLog(target, verifiers, origin=origin)
    cp = log.checkpoint
    signed = [s.name for s in unverified_note(log.note)[1] if any((s.name, s.key_id) == (v.name, v.key_id)
                                                                  for v in verifiers)]
    report = PublishedReport(target.uri, cp, list(dict.fromkeys(signed)))
    report.witnesses = witnessed_by(log.note, witnesses)
    if len(report.witnesses) < quorum:
        raise VerificationError(f"{target.uri}: checkpoint: {len(report.witnesses)} of the {len(witnesses)} "
                                f"witnesses given cosigned it ({', '.join(report.witnesses) or 'none'}); "
                                f"{quorum} required")
    expected: dict[int, list[bytes]] = {}  # per tile level: the hashes its tiles must hold, from below
    tiles = tiles_for(log.size)
    scan = ChainScan(anchors=_anchor_map(cp, anchors, log.size))
    bundles: dict[int, str] = {}  # level-0 tile index -> the bundle file read for it

    def leaves() -> Iterator[Row]:
        for tile in (t for t in tiles if t.level == 0):
            hashes = log.tile(tile)
            name, entries = log.bundle(tile)
            bundles[tile.index] = name
            report.files += 2
            for i, (want, body) in enumerate(zip(hashes, entries)):
                if want != leaf_hash(body):
                    raise IntegrityError(tile.first + i, f"{target.uri}: entry {i} of {name} does not hash to "
                                                         f"hash {i} of {tile.path}: the entry or the tile was changed")
            if tile.full:
                expected.setdefault(1, []).append(subtree_hash(hashes))
            yield from _rows(target.uri, name, tile.first, entries, cp.origin)

    for problem in scan.scan(leaves()):
        where = bundles.get(problem.seq // TILE_WIDTH, "the entries")
        raise IntegrityError(problem.seq, f"{target.uri}: {where}: {problem.kind}: {problem.detail}")
    for tile in (t for t in tiles if t.level > 0):
        hashes = log.tile(tile)
        report.files += 1
        below = expected.get(tile.level, [])[tile.first : tile.first + tile.width]
        for i, (want, got) in enumerate(zip(hashes, below)):
            if want != got:
                raise VerificationError(f"{target.uri}: hash {i} of {tile.path} is not the hash of the full tile "
                                        f"{Tile(tile.level - 1, tile.first + i, TILE_WIDTH).path} below it: "
                                        "one of them was changed")
        if tile.full:
            expected.setdefault(tile.level + 1, []).append(subtree_hash(hashes))
    root = proof.root_at(log.size, log.subtree())
    if root != cp.root:
        raise VerificationError(f"{target.uri}: the tiles give root {root.hex()}, the checkpoint says {cp.root.hex()}: "
                                "a tile or the checkpoint was changed")
    report.anchors = [label for label, _ in anchors]
    return report


def _anchor_map(cp: Checkpoint, anchors: Sequence[tuple[str, Checkpoint]], size: int) -> dict[int, list[tuple[str, bytes]]]:
    out: dict[int, list[tuple[str, bytes]]] = {cp.size: [("the published checkpoint", cp.root)]}
    for label, old in anchors:
        if old.origin != cp.origin:
            raise VerificationError(f"{label} is for {old.origin!r}, the published log is {cp.origin!r}")
        if old.size > size:
            raise VerificationError(f"{label} has {old.size} events, the published checkpoint only {size} "
                                    f"(root {cp.root.hex()}): the published log was rolled back")
        if old.size == 0 and old.root != EMPTY_ROOT:
            raise VerificationError(f"{label} has size 0 and root {old.root.hex()}, not the empty tree's")
        if old.size:  # a tree of size 0 is a prefix of any
            out.setdefault(old.size, []).append((label, old.root))
    return out


def _rows(uri: str, name: str, first: int, entries: list[bytes], origin: str) -> Iterator[Row]:
    """One bundle's entries as the rows the chain scan reads (their columns from their own bytes). The
    genesis must name the checkpoint's `origin`: a key that signs several logs' checkpoints could sign one
    log's tree under another's origin, and "N events of ORIGIN" would be said of the wrong log."""
    for i, body in enumerate(entries):
        try:
            event = parse_event(body)
        except InvalidInput as exc:
            raise IntegrityError(first + i, f"{uri}: entry {i} of {name} is not an event ({exc})") from None
        named = event.data.get("origin") if first + i == 0 and event.type == LOG_CREATED else origin
        if named != origin:  # (a genesis that is not a log.created event: the chain scan names it)
            raise IntegrityError(0, f"{uri}: entry 0 of {name} is the genesis of {named!r}, but the checkpoint is "
                                    f"signed for {origin!r}: it is not that log's checkpoint")
        yield (first + i, hashlib.sha256(body).hexdigest(), event.ts, event.type, event.project, event.subject, body)
