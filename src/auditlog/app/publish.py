"""Publish a log with its projections, and read a published log's projections back, checked.

Under the prefix, beside the tlog-tiles (`auditlog.services.publish`):

    projections/state.json, manifest.json, runs-<sha256>.parquet, ..., items/part-...parquet
    projections/signed-state     a signed note (the log's key): origin, size, root, and the
                                 SHA-256 of state.json and manifest.json

The Parquet files are named by their SHA-256 and state.json names them, so the signed note
binds the whole generation to one checkpoint's tree. They are written after the tiles and
before the checkpoint; a reader (`published_view`) uses them only when the signed note is for
exactly the tree the (checked) checkpoint signs, and fails loudly otherwise.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlog.core.checkpoint import Checkpoint
from auditlog.core.note import Verifier, b64decode, b64encode, open_note, unverified_note
from auditlog.core.verify_proof import verify_consistency
from auditlog.durable import write_atomically
from auditlog.errors import AuditLogError, ProofError, StorageError, VerificationError
from auditlog.services import publish as tiles
from auditlog.services.checkpoints import check_log_signed_before, keep_checkpoint
from auditlog.services.log import AuditLog
from auditlog.services.published import PublishedLog
from auditlog.services.signing import Signer
from auditlog.services.targets import open_target

if TYPE_CHECKING:
    from auditlog.services.witness_http import WitnessEndpoint

PROJECTIONS = "projections"
SIGNED_STATE = f"{PROJECTIONS}/signed-state"
HEADER = "auditlog.projections/v1"
STATE, MANIFEST = "state.json", "manifest.json"


def publish(log: AuditLog, log_path: str | os.PathLike[str], uri: str, signer: Signer,
            directory: str | None = None, cosigned: Sequence[bytes] = (),
            progress: Callable[[int, int], None] | None = None, witnesses: Sequence[WitnessEndpoint] = (),
            quorum: int | None = None) -> Published:
    """Catch the projections up, then write bundles, tiles, projections, ask the `witnesses` (tlog-witness)
    to cosign and, last, write the checkpoint; `progress(done, total)` hears the events bundled so far.

    At least `quorum` witnesses (default: all) must cosign, else VerificationError (one refused: it saw
    another tree) or StorageError (unreachable), and the published checkpoint is left as it was."""
    from auditlog.app.verified import open_view, projections_directory

    # tlog-checkpoint: a log MUST NOT sign a tree inconsistent with one it signed (those kept in the log)
    check_log_signed_before(log.store, signer.verifier(), log.origin())
    view = open_view(log, log_path, directory)
    publication = tiles.start(log, open_target(uri), signer, size=view.size)
    tiles.write_tiles(log, publication, progress)
    # the witnesses before the projections: a publish they refuse leaves readers the last one whole
    asked = ask_witnesses(log, publication, witnesses, len(witnesses) if quorum is None else quorum)
    publication.check_unchanged()  # another publish meanwhile: its projections are not overwritten
    _write_projections(publication, Path(projections_directory(log, log_path, directory)), view)
    note = tiles.final_note(publication, [*cosigned, *asked.notes])
    keep_checkpoint(log, publication.checkpoint, note, publication.signer)
    tiles.write_checkpoint(publication, note)
    return Published(publication, asked.cosigned_by, asked.failures)


@dataclass
class Published:
    """A publish done: what was written, and which witnesses cosigned (or failed to, within the quorum)."""

    publication: tiles.Publication
    cosigned_by: list[str] = field(default_factory=list)
    witness_failures: list[str] = field(default_factory=list)


@dataclass
class _Asked:
    notes: list[str] = field(default_factory=list)
    cosigned_by: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def ask_witnesses(log: AuditLog, publication: tiles.Publication, witnesses: Sequence[WitnessEndpoint],
                  quorum: int) -> _Asked:
    """Each witness's cosignature on the checkpoint about to be published, from the previous publication's
    size (the proofs from the log); raises unless `quorum` of them cosigned."""
    from auditlog.services.witness_http import WitnessRefused, request_cosignature

    asked = _Asked()
    if not witnesses:
        return asked
    note = tiles.note_to_publish(publication)
    body = unverified_note(note)[0] + "\n"
    size = publication.checkpoint.size
    refused = False
    for endpoint in witnesses:
        try:
            lines = request_cosignature(endpoint, note, old_size=publication.since,
                                        proof_for=lambda old: log.consistency_proof(old, size))
        except (VerificationError, StorageError) as exc:
            refused = refused or isinstance(exc, WitnessRefused)
            asked.failures.append(str(exc))
            continue
        asked.notes.append(body + "".join(lines))
        asked.cosigned_by.append(endpoint.name)
    if len(asked.cosigned_by) < quorum:
        why = "; ".join(asked.failures)
        message = (f"{len(asked.cosigned_by)} of {len(witnesses)} witnesses cosigned size {size}, {quorum} needed: "
                   f"{why}; the published checkpoint was left as it was")
        raise VerificationError(message) if refused else StorageError(message)
    return asked


def _write_projections(publication: tiles.Publication, directory: Path, view: Any) -> None:
    """The generation's files (content-addressed: written once), the merged manifest for dashboards,
    state.json, and last the note that ties those two to the checkpoint."""
    for name in sorted(view.state.files()):
        publication.put_content_addressed(f"{PROJECTIONS}/{name}", (directory / name).read_bytes)
    digests = {}
    for name, data in ((MANIFEST, view.manifest()), (STATE, (directory / STATE).read_bytes())):
        digests[name] = hashlib.sha256(data).hexdigest()
        publication.put(f"{PROJECTIONS}/{name}", data)
    publication.put(SIGNED_STATE, publication.signer.sign(signed_state_body(publication.checkpoint, digests)).encode())


def signed_state_body(checkpoint: Checkpoint, digests: dict[str, str]) -> str:
    """The note body: never a checkpoint (its second line is not a number)."""
    lines = [HEADER, f"origin {checkpoint.origin}", f"size {checkpoint.size}", f"root {b64encode(checkpoint.root)}",
             *(f"{name} {digests[name]}" for name in (STATE, MANIFEST))]
    return "".join(line + "\n" for line in lines)


def published_view(uri: str, verifiers: list[Verifier], cache: str | None = None,
                   origin: str | None = None) -> tuple[PublishedLog, Any]:
    """The published projections, fetched into a local cache and checked against the checkpoint (which must
    name `origin`, if given) and against what this cache read there before (`_extends_what_was_read`)."""
    import projections
    from projections.state import parse_state

    published = PublishedLog(open_target(uri), verifiers, origin=origin)
    target, cp = published.target, published.checkpoint
    text = target.read(SIGNED_STATE)
    if text is None:
        raise VerificationError(f"{uri}: {SIGNED_STATE} is missing: no projections were published")
    try:
        body = open_note(text, verifiers).body
    except AuditLogError as exc:
        raise VerificationError(f"{uri}: {SIGNED_STATE}: {exc}") from None
    digests = _parse_signed_state(body, uri, cp)
    directory = Path(cache or _cache_directory(uri))
    directory.mkdir(parents=True, exist_ok=True)
    fetched = {}
    for name in (MANIFEST, STATE):
        data = target.read(f"{PROJECTIONS}/{name}")
        if data is None or hashlib.sha256(data).hexdigest() != digests[name]:
            raise VerificationError(f"{uri}: {PROJECTIONS}/{name} is missing or not the file {SIGNED_STATE} signs")
        fetched[name] = data
    try:
        state = parse_state(fetched[STATE])
    except ValueError as exc:  # signed by the log's key, yet not a state this reader can use
        raise VerificationError(f"{uri}: {PROJECTIONS}/{STATE} is not a projections state ({exc})") from None
    _extends_what_was_read(directory, published, state, uri)
    for name in sorted(state.files()):
        path = directory / name
        if not path.exists():
            data = target.read(f"{PROJECTIONS}/{name}")
            if data is None:
                raise VerificationError(f"{uri}: {PROJECTIONS}/{name} is missing (state.json names it)")
            _write(path, data)
    _write(directory / MANIFEST, fetched[MANIFEST])
    _write(directory / STATE, fetched[STATE])
    view = projections.open_built(directory)
    if view.size != cp.size or view.state.root != cp.root.hex():
        raise VerificationError(f"{uri}: the projections were folded to size {view.size} (root {view.state.root}), "
                                f"the checkpoint signs size {cp.size}")
    return published, view


def _extends_what_was_read(directory: Path, published: PublishedLog, state: Any, uri: str) -> None:
    """A reader's memory of a publication is its cache: what it reads there later must be the same log
    (log id), at least as long, and a tree that extends the one read before (RFC 9162 consistency proof
    from the tiles). Whoever can write to the bucket but holds no key could otherwise swap in another
    log signed by the same key, or an older publication, unseen. A cache that cannot be read is refilled."""
    from projections.state import read_state

    try:
        before = read_state(directory)
    except AuditLogError:
        return
    if before is None or before.seq < 0:
        return
    size, root = before.seq + 1, bytes.fromhex(before.root)
    if state.log_id != before.log_id:
        raise VerificationError(f"{uri} now holds another log (log id {state.log_id}) than the one read here before "
                                f"(log id {before.log_id}, cache {directory}): the publication was replaced; if that "
                                "is expected, read it with another --projections directory")
    if published.size < size:
        raise VerificationError(f"{uri} now holds {published.size} events, fewer than the {size} read here before "
                                f"(cache {directory}): an older publication was put back, or the log was truncated")
    try:
        verify_consistency(size, published.size, published.consistency_proof(size), root, published.checkpoint.root)
    except ProofError:
        raise VerificationError(f"{uri}: its tree of {published.size} events does not extend the {size} events read "
                                f"here before (cache {directory}): the published log was rewritten") from None


def _parse_signed_state(body: str, uri: str, cp: Checkpoint) -> dict[str, str]:
    lines = body.rstrip("\n").split("\n")
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    if lines[0] != HEADER or set(fields) != {"origin", "size", "root", STATE, MANIFEST}:
        raise VerificationError(f"{uri}: {SIGNED_STATE} is not an {HEADER} note")
    try:
        size, root = int(fields["size"]), b64decode(fields["root"])
    except ValueError:
        raise VerificationError(f"{uri}: {SIGNED_STATE}: size or root is malformed") from None
    if (fields["origin"], size, root) != (cp.origin, cp.size, cp.root):
        raise VerificationError(f"{uri}: the projections are for {fields['origin']} at size {size}, the checkpoint "
                                f"is at size {cp.size}: a publish was interrupted; publish again")
    return {STATE: fields[STATE], MANIFEST: fields[MANIFEST]}


def _cache_directory(uri: str) -> str:
    """The reader's memory of the publication at `uri`, one per place however it is spelled: a directory by
    its real path (`x`, `./x/`, `file:///abs/x` and a symbolic link to it are one), a bucket or web address by
    its scheme, host and prefix (a trailing slash is no other place). Else an older publication put back
    would be read as new through another spelling."""
    from auditlog.services.targets import parse_uri
    where = parse_uri(uri)
    place = os.path.realpath(where.prefix) if not where.scheme else f"{where.scheme}://{where.bucket}/{where.prefix}"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "auditlog", "published", hashlib.sha256(place.encode("utf-8")).hexdigest()[:32])


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise StorageError(f"{path}: cannot keep the fetched copy: {exc.strerror or exc}") from None


def published_run(published: PublishedLog, view: Any, run_id: str) -> tuple[Any, dict[str, Any]]:
    """A run's recorded event and document from the published entries: the bytes are proven
    included in the checked checkpoint's tree and must hash to what the projections folded."""
    from auditlog.core.events import RUN_RECORDED, SealedEvent

    row = view.run_row(run_id)
    body = published.entry(row["seq"])
    sealed = SealedEvent(row["seq"], hashlib.sha256(body).hexdigest(), body)
    event = sealed.event
    if sealed.hash != row["event_hash"] or event.type != RUN_RECORDED or event.subject != run_id:
        raise VerificationError(f"{published.target.uri}: the projections place run {run_id!r} at seq {sealed.seq}, "
                                "whose published entry is another event")
    return sealed, event.data["run"]
