"""Publish a log as C2SP tlog-tiles: entry bundles, then hash tiles, then the signed checkpoint.

The order is transparency-dev/tessera's: a reader that fetches the checkpoint finds every
tile and bundle it needs already in place, because the checkpoint is written last, and an
interrupted publish leaves the previous checkpoint (and all it needs) untouched. Every tile
and bundle file is immutable (a partial tile's width is in its name): one is written once,
and finding one with other bytes is a conflict, never overwritten. A publish starts from the
checkpoint already there: it must be signed by the same key, for the same origin, and the
log must still have its tree at its size; then only the tiles that tree did not have are
written. Anything else (another log, a rewritten or shorter one) is refused (exit 5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auditlog.core.checkpoint import Checkpoint, open_checkpoint
from auditlog.core.merkle import leaf_hash, root_from_leaf_hashes
from auditlog.core.note import unverified_note
from auditlog.errors import Conflict, IntegrityError, InvalidInput, SignatureError
from auditlog.services import tree
from auditlog.services.log import AuditLog
from auditlog.services.signing import Signer, sign_checkpoint
from auditlog.services.targets import Target
from auditlog.tlog.paths import CHECKPOINT, TILE_HEIGHT
from auditlog.tlog.tiles import Tile, encode_bundle, encode_tile, needs_wide_bundle, tiles_for

IMMUTABLE = "public, max-age=31536000, immutable"  # a year: what caches take as "never changes"


def object_headers(name: str, *, immutable: bool) -> dict[str, str]:
    """What an object store serves with a published file. Tiles, bundles and content-addressed
    files never change, so any cache may keep them (tlog-tiles' advice); the checkpoint and the
    files beside it change with every publish, so a cache must ask again (no-cache)."""
    if name.endswith(".json"):
        kind = "application/json"
    elif name.endswith(".parquet"):
        kind = "application/vnd.apache.parquet"
    elif not immutable:  # the checkpoint, the signed state: signed notes
        kind = "text/plain; charset=utf-8"
    else:
        kind = "application/octet-stream"
    return {"Content-Type": kind, "Cache-Control": IMMUTABLE if immutable else "no-cache"}


@dataclass
class Publication:
    """One publish in progress: what is there, what the log has, what was written."""

    target: Target
    signer: Signer
    checkpoint: Checkpoint  # the log's tree being published
    previous: Checkpoint | None  # what the destination held, checked
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    note: str = ""
    existing: bytes | None = None  # the checkpoint note the destination held (`previous`, with its cosignatures)

    @property
    def since(self) -> int:
        return self.previous.size if self.previous else 0

    def put_immutable(self, name: str, data: bytes) -> None:
        """Write a file that never changes: skip it if it holds these bytes, refuse other bytes."""
        existing = self.target.read(name)
        if existing is None:
            self.target.write(name, data, object_headers(name, immutable=True))
            self.written.append(name)
        elif existing == data:
            self.unchanged.append(name)
        else:
            raise Conflict(f"{self.target.uri}: {name} already holds other bytes (sha256 "
                           f"{hashlib.sha256(existing).hexdigest()[:16]}…): a tile never changes; "
                           "this destination holds another log, or was altered: refusing to publish")

    def put_content_addressed(self, name: str, read: Callable[[], bytes]) -> None:
        """Write a file named by the SHA-256 of its bytes unless it is there: its name is its
        content, and every reader hashes it before use (so it is not fetched back to compare)."""
        if self.target.exists(name):
            self.unchanged.append(name)
        else:
            self.target.write(name, read(), object_headers(name, immutable=True))
            self.written.append(name)

    def check_unchanged(self) -> None:
        """Conflict unless the destination's checkpoint is still the one this publish started from: another
        publish finishing meanwhile (a larger tree, say) must not be overwritten by this one's, nor its
        projections by this one's. Checked before the projections and again before the checkpoint, which
        narrows the window to one read and one write: publish to a destination one at a time."""
        if self.target.read(CHECKPOINT) != self.existing:
            raise Conflict(f"{self.target.uri}: its checkpoint changed while this publish ran (another publish "
                           "to it?): nothing more written, the other publish's files left as they are; publish "
                           "again")

    def put(self, name: str, data: bytes) -> None:
        """Write a file that changes between publishes, only if its bytes differ."""
        if self.target.read(name) == data:
            self.unchanged.append(name)
        else:
            self.target.write(name, data, object_headers(name, immutable=False))
            self.written.append(name)


def start(log: AuditLog, target: Target, signer: Signer, size: int | None = None) -> Publication:
    """Check the destination against the log; the tree to publish is the log's first `size`
    events (default: all of them now)."""
    origin = log.origin()
    size = log.head().size if size is None else size
    checkpoint = Checkpoint(origin, size, tree.root(log.store, size))
    target.prepare()
    existing = target.read(CHECKPOINT)
    previous = published_by(target.uri, existing, signer, origin)
    if previous is not None:
        where = f"{target.uri} holds {previous.origin} at size {previous.size} (root {previous.root.hex()})"
        if previous.size > size:
            raise Conflict(f"{where}; this log has only {size} events: publishing would roll it back")
        if tree.root(log.store, previous.size) != previous.root:
            raise Conflict(f"{where}; this log's first {previous.size} events have root "
                           f"{tree.root(log.store, previous.size).hex()}: another log, or a rewritten one")
    return Publication(target, signer, checkpoint, previous, existing=existing)


def published_by(uri: str, text: bytes | None, signer: Signer, origin: str) -> Checkpoint | None:
    """The destination's checkpoint note `text`, if any, once checked as this log's under this key."""
    if text is None:
        return None
    try:
        return open_checkpoint(text, [signer.verifier()], origin=origin)
    except (SignatureError, InvalidInput) as exc:
        raise Conflict(f"{uri}: its checkpoint is not this log's under key {signer.name} ({exc}): "
                       "refusing to publish over it") from None


def write_tiles(log: AuditLog, publication: Publication,
                progress: Callable[[int, int], None] | None = None) -> None:
    """Entry bundles, then hash tiles level by level, for the tree the destination lacks;
    `progress(done, total)` hears the events bundled so far."""
    size, since = publication.checkpoint.size, publication.since
    new_tiles = tiles_for(size, since)
    bottom = [t for t in new_tiles if t.level == 0]
    total = sum(t.width for t in bottom)
    done = 0
    get = tree.SubtreeHashes(log.store)
    for tile in bottom:
        rows = list(log.store.rows(after=tile.first - 1, until=tile.first + tile.width))
        if len(rows) != tile.width:
            raise Conflict(f"events {tile.first}..{tile.first + tile.width - 1} are not all in the log")
        entries = [row.body for row in rows]
        leaves = [leaf_hash(e) for e in entries]
        _check_bound(get, tile.first, leaves)
        wide = needs_wide_bundle(entries)
        publication.put_immutable(tile.bundle_path(wide=wide), encode_bundle(entries, wide=wide))
        publication.put_immutable(tile.path, encode_tile(leaves))
        done += tile.width
        if progress is not None:
            progress(done, total)
    for tile in (t for t in new_tiles if t.level > 0):
        publication.put_immutable(tile.path, encode_tile(_tile_hashes(get, tile)))


def _check_bound(get: tree.SubtreeHashes, first: int, leaves: list[bytes]) -> None:
    """The entries about to be published must be the ones the tree commits to: every complete block of
    2^STORED_LEVEL of their leaf hashes folds to its stored subtree, which the tiles above and the signed
    root are made of (bytes altered under an unchanged subtree would be published, signed, as the log's).
    `first` is a multiple of the block (a tile's first leaf)."""
    block = 1 << tree.STORED_LEVEL
    starts = range(0, len(leaves) - block + 1, block)
    keys = [(tree.STORED_LEVEL, (first + start) >> tree.STORED_LEVEL) for start in starts]
    get.prefetch(keys)
    for start, key in zip(starts, keys):
        if root_from_leaf_hashes(leaves[start:start + block]) != get(*key):
            raise IntegrityError(first + start, f"events {first + start}..{first + start + block - 1} do not hash to "
                                                "their stored Merkle subtree: the log was altered, and no checkpoint "
                                                "of it is published (check it with `auditlog verify`)")


def _tile_hashes(get: tree.SubtreeHashes, tile: Tile) -> list[bytes]:
    level = TILE_HEIGHT * tile.level
    keys = [(level, tile.first + i) for i in range(tile.width)]
    get.prefetch(keys)
    return [get(*key) for key in keys]


def note_to_publish(publication: Publication) -> str:
    """The checkpoint note this publish writes: the one there when the tree is unchanged (its
    cosignatures kept), else the tree signed by the log's key (Ed25519: the same bytes every time)."""
    previous, checkpoint, existing = publication.previous, publication.checkpoint, publication.existing
    if previous is not None and existing and (previous.size, previous.root) == (checkpoint.size, checkpoint.root):
        return existing.decode("utf-8")
    return sign_checkpoint(checkpoint, [publication.signer])


def final_note(publication: Publication, cosigned: Sequence[str | bytes] = ()) -> str:
    """The checkpoint note to publish: the tree signed (or the unchanged one there, with the witnesses'
    cosignatures on it), with the signature lines of the `cosigned` notes (what `auditlog witness`
    printed), which must be for exactly this tree."""
    checkpoint = publication.checkpoint
    note = note_to_publish(publication)
    body, lines = unverified_note(note)
    known = {(s.name, s.key_id) for s in lines}  # one signature per key: the first one kept
    added = []
    for other in cosigned:
        other_body, other_lines = unverified_note(other)
        if other_body != body:
            claimed = (other_body.splitlines() + ["", "?"])[1]
            raise Conflict(f"a cosigned checkpoint is for another tree (size {claimed}) than the one published "
                           f"(size {checkpoint.size}): have the witness cosign the published checkpoint again")
        for line in other_lines:
            if (line.name, line.key_id) not in known:
                added.append(line)
                known.add((line.name, line.key_id))
    return note + "".join(s.line() for s in added)


def write_checkpoint(publication: Publication, note: str) -> None:
    """Write `checkpoint`, last (unless the destination holds these very bytes); Conflict when another publish
    changed it since this one started (Publication.check_unchanged)."""
    publication.check_unchanged()
    existing = publication.existing
    publication.note = note
    if existing is not None and existing == note.encode("utf-8"):
        publication.unchanged.append(CHECKPOINT)
    else:
        publication.target.write(CHECKPOINT, note.encode("utf-8"), object_headers(CHECKPOINT, immutable=False))
        publication.written.append(CHECKPOINT)
