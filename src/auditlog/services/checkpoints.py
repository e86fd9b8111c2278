"""Signed checkpoints and offline evidence: the I/O around core.checkpoint and core.evidence.

Making a checkpoint signs the log's current tree and keeps the note in the log; cosigning
adds a witness's signature. Evidence for one event is its exact bytes and a tlog-proof
against a stored checkpoint, made only from one that verifies under the log's key. Key
files are `auditlog.services.keys`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from auditlog.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from auditlog.core.evidence import ProvenEvent, TlogProof, parse_tlog_proof, verify_evidence
from auditlog.core.merkle import leaf_hash
from auditlog.core.note import Verifier, unverified_note
from auditlog.core.verify_proof import verify_inclusion
from auditlog.durable import fsync_directory
from auditlog.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    ProofError,
    SignatureError,
    StorageError,
    VerificationError,
)
from auditlog.services import tree
from auditlog.services.clock import utc_now
from auditlog.services.signing import Signer, add_signatures, sign_checkpoint
from auditlog.store.protocol import StoredCheckpoint

if TYPE_CHECKING:
    from auditlog.services.log import AuditLog


def make_checkpoint(log: AuditLog, signer: Signer) -> str:
    """Sign the log's current tree (its origin from the genesis, checked: AuditLog.origin) and keep the note in the log.

    Refused (IntegrityError) when the tree contradicts a checkpoint this key signed before and the log
    keeps (tlog-checkpoint: a log MUST not sign a checkpoint inconsistent with one it signed)."""
    origin = log.origin()
    with log.store.transaction(getattr(log.store, "lock_timeout", 30.0)) as txn:
        size = txn.head().size
        root = tree.root(txn, size)
        check_signed_before(txn, signer.verifier(), origin, Checkpoint(origin, size, root))
        note = sign_checkpoint(Checkpoint(origin, size, root), [signer])
        txn.add_checkpoint(size, root.hex(), note, utc_now())
    return note


def keep_checkpoint(log: AuditLog, checkpoint: Checkpoint, note: str, signer: Signer) -> None:
    """Keep a published checkpoint note in the log, as `checkpoint` keeps the ones it signs (once: a publish
    of an unchanged tree keeps nothing new), checked again in the same transaction against the ones kept."""
    with log.store.transaction(getattr(log.store, "lock_timeout", 30.0)) as txn:
        if any(stored.note == note for stored in txn.checkpoints()):
            return
        check_log_signed_before(txn, signer.verifier(), checkpoint.origin)
        txn.add_checkpoint(checkpoint.size, checkpoint.root.hex(), note, utc_now())


def check_log_signed_before(reader: tree.Reader, key: Verifier, origin: str) -> None:
    """check_signed_before for the log's whole tree as it is now: a publish signs a prefix of it (the
    projections' size), consistent with whatever the whole tree is consistent with."""
    size = reader.head().size
    check_signed_before(reader, key, origin, Checkpoint(origin, size, tree.root(reader, size)))


def check_signed_before(reader: tree.Reader, key: Verifier, origin: str, new: Checkpoint) -> None:
    """IntegrityError unless the log's tree at the size of every stored checkpoint `key` signed for `origin`
    is that checkpoint's (signed) root: the new tree, a prefix-extension of those trees, is then consistent
    with each. Notes by other keys, or that do not verify, are not this key's promises and are passed over."""
    roots: dict[int, bytes] = {}  # the log's root at each size, computed once
    for stored in reader.checkpoints():
        try:
            signed = open_checkpoint(stored.note, [key], origin=origin)
        except (SignatureError, InvalidInput):
            continue
        if signed.size > new.size:
            raise IntegrityError(new.size, f"checkpoint #{stored.id}, signed by {key.name}, covers {signed.size} "
                                           f"events; the log has {new.size}: it was truncated; refusing to sign")
        if signed.size not in roots:
            roots[signed.size] = new.root if signed.size == new.size else tree.root(reader, signed.size)
        if roots[signed.size] != signed.root:
            raise IntegrityError(signed.size - 1, f"the log's first {signed.size} events have root "
                                                  f"{roots[signed.size].hex()}, but checkpoint #{stored.id}, signed by "
                                                  f"{key.name}, has root {signed.root.hex()}: history was rewritten "
                                                  "after it was checkpointed; refusing to sign (check it with "
                                                  "`auditlog verify`)")


def cosign(note: str | bytes, signer: Signer, log: AuditLog | None = None, *, where: str = "note") -> str:
    """Add a witness signature; with the log at hand, first check the note matches it. A note that is
    no signed checkpoint at all is InvalidInput naming `where` (it was exit 1, "integrity failure")."""
    checkpoint = checkpoint_in(note, where)
    if log is not None:
        check_against_log(log, checkpoint)
    signed = add_signatures(note, [signer])
    if log is not None:
        with log.store.transaction(getattr(log.store, "lock_timeout", 30.0)) as txn:
            txn.add_checkpoint(checkpoint.size, checkpoint.root.hex(), signed, utc_now())
    return signed


def check_against_log(log: AuditLog, checkpoint: Checkpoint) -> None:
    origin = log.origin()
    if checkpoint.origin != origin:
        raise VerificationError(f"the checkpoint is for origin {checkpoint.origin!r}, this log is {origin!r}")
    if checkpoint.size > log.head().size:
        raise VerificationError(f"the checkpoint covers {checkpoint.size} events; the log has {log.head().size}")
    if tree.root(log.store, checkpoint.size) != checkpoint.root:
        raise VerificationError(f"the log's first {checkpoint.size} events do not have the checkpoint's root")


def covering_checkpoint(log: AuditLog, seq: int) -> StoredCheckpoint | None:
    """The latest stored checkpoint whose tree contains event `seq`."""
    covering = [c for c in log.store.checkpoints() if c.size > seq]
    return covering[-1] if covering else None


def checked_covering_checkpoint(log: AuditLog, seq: int, verifiers: list[Verifier]) -> StoredCheckpoint | None:
    """The latest stored checkpoint covering `seq`, once its signature and claim are checked.

    Stored checkpoints sit in a table beside the events that whoever holds the file can
    write, so evidence is only made from one that verifies under `verifiers` (the log's
    key), is for this log's origin, and whose size and root are this log's. Anything
    else is refused, naming the checkpoint and why; an older one is not tried instead.
    """
    stored = covering_checkpoint(log, seq)
    if stored is None:
        return None
    label = f"stored checkpoint #{stored.id} (size {stored.size}, made {stored.created})"
    if not verifiers:
        raise InvalidInput("--vkey/--key", f"cannot check the signature of the {label}: give the log's verifier "
                           "key with --vkey (or its private key with --key), or make a fresh checkpoint with --key")
    origin = log.origin()
    try:
        checkpoint = open_checkpoint(stored.note, verifiers, origin=origin)
    except (VerificationError, InvalidInput) as exc:
        raise SignatureError(f"refusing the {label}: {exc}") from None
    if checkpoint.size != stored.size or checkpoint.root.hex() != stored.root:
        raise SignatureError(f"refusing the {label}: its signed note says size {checkpoint.size}, "
                             f"root {checkpoint.root.hex()}")
    try:
        check_against_log(log, checkpoint)
    except VerificationError as exc:
        raise VerificationError(f"refusing the {label}: {exc}") from None
    return stored


def read_checkpoint_file(path: str | os.PathLike[str], verifiers: Sequence[Verifier], *, origin: str | None = None,
                         option: str = "--checkpoint") -> Checkpoint:
    """The checkpoint in a file given on the command line (`--checkpoint FILE`), its signature checked under
    `verifiers` and, if given, its origin. Every error names the option and the file: one that is not a
    signed checkpoint at all (unreadable, not UTF-8, no signature block, a malformed body) is InvalidInput
    (exit 2); a well-formed one whose signature or origin does not check out is SignatureError (exit 1)."""
    where = f"{option} {os.fspath(path)}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(where, f"cannot read it: {exc.strerror or exc}") from None
    checkpoint_in(data, where)
    try:
        return open_checkpoint(data, verifiers, origin=origin)
    except SignatureError as exc:
        raise SignatureError(f"{where}: {exc}") from None


def checkpoint_in(note: str | bytes, where: str) -> Checkpoint:
    """The checkpoint a note holds, its signatures not checked; InvalidInput naming `where` when it is not
    a signed checkpoint at all (not UTF-8, no signature block, a malformed body)."""
    try:
        return parse_checkpoint(unverified_note(note)[0])
    except (InvalidInput, SignatureError) as exc:  # SignatureError from unverified_note: a malformed note
        raise InvalidInput(where, f"not a signed checkpoint: {exc}") from None


def checkpoint_anchors(paths: Iterable[str], verifiers: Sequence[Verifier], *,
                       origin: str | None = None) -> list[tuple[str, Checkpoint]]:
    """`--checkpoint FILE`s as the anchors verify takes: ("checkpoint FILE", its checkpoint), each read
    by read_checkpoint_file (errors name the file)."""
    return [(f"checkpoint {path}", read_checkpoint_file(path, verifiers, origin=origin)) for path in paths]


def verify_evidence_files(event_file: str | os.PathLike[str], proof_file: str | os.PathLike[str],
                          verifiers: Sequence[Verifier], origin: str) -> ProvenEvent:
    """verify_evidence on two files (`verify-proof EVENT PROOF`), every error naming the file it is about:
    a proof file that is not a tlog-proof (not UTF-8, its layout, its checkpoint note) is InvalidInput
    (exit 2); evidence whose signature, origin or inclusion proof fails stays SignatureError or
    ProofError (exit 1), naming the proof file (its checkpoint) or both files (the proof of these bytes)."""
    event, proof = os.fspath(event_file), os.fspath(proof_file)
    try:
        event_bytes = Path(event).read_bytes()
    except OSError as exc:
        raise InvalidInput(event, f"cannot read the event file: {exc.strerror or exc}") from None
    try:
        proof_text = Path(proof).read_bytes().decode("utf-8")
    except OSError as exc:
        raise InvalidInput(proof, f"cannot read the proof file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(proof, f"not a tlog-proof: not UTF-8 at byte {exc.start}") from None
    try:  # no tlog-proof at all (its layout, its checkpoint note) is told apart from evidence that fails
        parse_checkpoint(unverified_note(parse_tlog_proof(proof_text).checkpoint_note)[0])
    except (InvalidInput, SignatureError) as exc:  # SignatureError from unverified_note: a malformed note
        raise InvalidInput(proof, f"malformed evidence: {exc}") from None
    try:
        return verify_evidence(event_bytes, proof_text, verifiers, origin)
    except SignatureError as exc:
        raise SignatureError(f"{proof}: {exc}") from None
    except ProofError as exc:
        raise ProofError(f"{event} with {proof}: {exc.reason}", expected=exc.expected,
                         calculated=exc.calculated) from None


@dataclass(frozen=True)
class Evidence:
    event_bytes: bytes
    proof: TlogProof


def evidence_for(log: AuditLog, seq: int, stored: StoredCheckpoint) -> Evidence:
    """The exact event bytes and a tlog-proof against a stored checkpoint, checked before it is given:
    the proof, from stored subtrees, must lead from these bytes to the checkpoint's root (bytes
    altered under an unchanged subtree would otherwise be written as "proven")."""
    sealed = log.event(seq)
    proof = tree.inclusion_proof(log.store, seq, stored.size)
    try:
        verify_inclusion(leaf_hash(sealed.body), seq, stored.size, proof, bytes.fromhex(stored.root))
    except ProofError:
        raise IntegrityError(seq, f"the event's bytes do not lead to the root of the checkpoint of size "
                                  f"{stored.size}: the log was altered; check it with `auditlog verify`") from None
    return Evidence(sealed.body, TlogProof(seq, tuple(proof), stored.note))


def safe_file_stem(text: str) -> str:
    """A file name that stays inside its directory whatever the run id holds (not unique: see evidence_stem)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "event"
    return stem[:150]


def evidence_stem(run_id: str) -> str:
    """The evidence files' name for a run: the cleaned run id, '-', 12 hex of SHA-256(run id).

    Cleaning alone maps many run ids to one name (`x::y` and `x:y`, `..` and `.`); the hash
    of the exact run id keeps every run's files apart.
    """
    digest = hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe_file_stem(run_id)[:120]}-{digest}"


def write_evidence(out: Path, stem: str, evidence: Evidence, *, force: bool = False) -> tuple[Path, Path]:
    """Write DIR/STEM.event and DIR/STEM.tlog-proof atomically; refuse to replace either unless `force`.

    Each file is written to a fresh temporary name in DIR, synced, then linked into place
    (which fails if the name exists, a symbolic link included) or, with `force`, renamed
    over it (which replaces a link, never writes through it). A reader never sees half a file.
    """
    files = [(out / f"{stem}.event", evidence.event_bytes),
             (out / f"{stem}.tlog-proof", evidence.proof.to_text().encode("utf-8"))]
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not force:
            for path, _ in files:
                if os.path.lexists(path):
                    raise Conflict(f"{path} already exists: not overwriting evidence (give --force to replace it)")
        placed: list[Path] = []
        for path, data in files:
            temporary = out / f".{stem}.{secrets.token_hex(6)}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                if force:
                    os.replace(temporary, path)
                else:
                    try:
                        os.link(temporary, path, follow_symlinks=False)
                    except FileExistsError:
                        for done in placed:  # created a moment ago by this call: take it back
                            with contextlib.suppress(OSError):
                                done.unlink()
                        raise Conflict(f"{path} already exists: not overwriting evidence "
                                       "(give --force to replace it)") from None
                placed.append(path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
        fsync_directory(out)
    except OSError as exc:
        raise StorageError(f"cannot write evidence to {out}: {exc.strerror or exc}") from None
    return files[0][0], files[1][0]

