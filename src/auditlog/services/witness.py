"""A witness: check a log's checkpoint, check it extends what was cosigned before, cosign it.

Its state is a directory: per origin, `<sha256(origin)[:32]>.json` holding the largest
checkpoint cosigned (origin, size, base64 root, the note). The check against it and the new
record happen under one lock (`.lock`), and the record is replaced atomically (temporary
file, fsync, rename), as C2SP tlog-witness requires: two witnesses racing cannot roll it back.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditlog.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from auditlog.core.note import Verifier, b64decode, b64encode, unverified_note
from auditlog.durable import write_atomically
from auditlog.errors import AuditLogError, InvalidInput, StorageError, VerificationError
from auditlog.filelock import FileLock
from auditlog.services.keys import key_text
from auditlog.services.signing import Signer, cosignature_line, cosigner_key
from auditlog.tlog.cosignature import CosignerKey, parse_witness_key
from auditlog.tlog.witness import Witnessed, check_extends
from auditlog.tlog.witness_protocol import AddCheckpoint, Unprocessable, parse_head

ProofSource = Callable[[int, Checkpoint], list[bytes]]  # (old size, new checkpoint) -> consistency proof


def record_path(state: Path, origin: str) -> Path:
    return state / f"{hashlib.sha256(origin.encode('utf-8')).hexdigest()[:32]}.json"


def read_record(state: Path, origin: str) -> Witnessed | None:
    """The largest checkpoint cosigned for `origin`, or None."""
    path = record_path(state, origin)
    try:
        obj = json.loads(path.read_bytes())
        record = Witnessed(obj["origin"], int(obj["size"]), b64decode(obj["root"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{path}: not a witness record ({exc})") from None
    if record.origin != origin:
        raise StorageError(f"{path}: the record is for {record.origin!r}, not {origin!r}")
    return record


class OldSizeMismatch(VerificationError):
    """A tlog-witness request's old size is not the size this witness cosigned last (`recorded`)."""

    def __init__(self, claimed: int, recorded: int) -> None:
        self.recorded = recorded
        super().__init__(f"the request is from size {claimed}; this witness cosigned size {recorded} last")


@dataclass(frozen=True)
class Cosigned:
    """A checkpoint cosigned: the note with this witness's line (what `auditlog witness` prints), and
    the line alone (what a tlog-witness server answers)."""

    note: str
    line: str
    checkpoint: Checkpoint


def witness(note: bytes | str, origin: str, log_verifiers: Sequence[Verifier], signer: Signer, state: Path,
            proof_for: ProofSource, *, now: int | None = None, old_size: int | None = None) -> Cosigned:
    """Check that `note` is a checkpoint of `origin` signed by one of that log's keys, and against the
    record; cosign it and keep the record. (A key trusted for one log must not move another's record:
    the keys are bound to the origin they sign for, as tlog-witness binds them.)

    `proof_for(old_size, checkpoint)` gives the consistency proof from the recorded size. With
    `old_size` (a tlog-witness request's), the request must be from the size recorded (0 when
    none), else OldSizeMismatch, checked under the same lock as the record's update.
    """
    try:
        checkpoint = open_checkpoint(note, log_verifiers, origin=origin)
    except AuditLogError as exc:
        raise VerificationError(f"the checkpoint: {exc}") from None
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{state}: cannot make the witness state directory: {exc.strerror or exc}") from None
    with FileLock(state / ".lock", "another witness run held the state").held(30.0):
        previous = read_record(state, checkpoint.origin)
        if old_size is not None and old_size != (previous.size if previous else 0):
            raise OldSizeMismatch(old_size, previous.size if previous else 0)
        proof = proof_for(previous.size, checkpoint) if previous and 0 < previous.size < checkpoint.size else []
        check_extends(previous, checkpoint, proof)
        body, _ = unverified_note(note)
        line = cosignature_line(signer, body, int(time.time()) if now is None else now)
        cosigned = _with_line(note, signer, body, line)
        if previous is None or checkpoint.size > previous.size:
            _write_record(state, checkpoint, cosigned)
    return Cosigned(cosigned, line, checkpoint)


def _with_line(note: bytes | str, signer: Signer, body: str, line: str) -> str:
    """The note with this witness's cosignature/v1 `line` instead of any earlier one by it."""
    key = cosigner_key(signer)
    _, lines = unverified_note(note)
    kept = "".join(s.line() for s in lines if (s.name, s.key_id) != (key.name, key.key_id))
    return body + "\n" + kept + line


def _write_record(state: Path, checkpoint: Checkpoint, note: str) -> None:
    path = record_path(state, checkpoint.origin)
    data = json.dumps({"origin": checkpoint.origin, "size": checkpoint.size, "root": b64encode(checkpoint.root),
                       "checkpoint": note}, indent=2).encode() + b"\n"
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise StorageError(f"{path}: cannot write the witness record: {exc.strerror or exc}") from None


def witness_request(request: AddCheckpoint, origin: str, log_verifiers: Sequence[Verifier], signer: Signer,
                    state: Path, *, now: int | None = None) -> Cosigned:
    """A tlog-witness add-checkpoint request (the server's, `witness --request`'s and `--proof` with an
    `old` line): from the size recorded, with the request's own proof. InvalidInput for what the spec
    says a request must not be (Unprocessable, a subclass, for a proof that cannot be one between its
    sizes); OldSizeMismatch when its old size is not the one recorded."""
    try:
        size = parse_checkpoint(unverified_note(request.note)[0]).size
    except AuditLogError as exc:
        raise InvalidInput("checkpoint", str(exc)) from None
    if request.old_size > size:
        raise InvalidInput("old", f"size {request.old_size} is above the checkpoint's size {size}")
    if request.old_size == size and request.proof:
        raise Unprocessable("proof", "a consistency proof from a size to itself is empty")
    return witness(request.note, origin, log_verifiers, signer, state, lambda old, checkpoint: list(request.proof),
                   now=now, old_size=request.old_size)


def parse_proof_file(text: str) -> tuple[int | None, list[bytes]]:
    """A proof file: base64 hashes, one a line, optionally after tlog-witness's `old N` line, read as a
    request's lines are (witness_protocol.parse_head): InvalidInput naming the line otherwise."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    old, proof = parse_head(lines, "--proof", old_required=False)
    return old, list(proof)


def check_witnesses(witnesses: Sequence[Verifier | CosignerKey], log_keys: Sequence[Verifier], quorum: int | None,
                    option: str) -> None:
    """InvalidInput unless the witnesses can make the quorum asked: each witness key given once, under
    whatever names (a quorum counts witnesses, not lines; a cosignature does not sign its witness's name, so
    one public key under two names is one witness whose line anyone can copy under the other), none of them
    a key of the log itself (a log does not witness itself: its own signature is no one else's word), and no
    more of them needed than given."""
    named: dict[bytes, str] = {}
    for count, key in enumerate(witnesses, 1):
        first = named.setdefault(key.public_key, key.name)
        if len(named) != count:  # this public key was given before
            also = "" if first == key.name else f" (as {first} and as {key.name})"
            raise InvalidInput(option, f"the same witness key is given twice{also}: a quorum counts each witness once")
    own = {k.public_key for k in log_keys}
    for key in witnesses:
        if key.public_key in own:
            raise InvalidInput(option, f"{key.name} is the log's own key: a log does not witness itself")
    if quorum is not None and quorum > len(witnesses):
        raise InvalidInput("--witnesses", f"{quorum} needed, but {len(witnesses)} witness key"
                                          f"{'' if len(witnesses) == 1 else 's'} given")


def load_witness_keys(entries: Sequence[str]) -> list[Verifier | CosignerKey]:
    """Each entry is a witness vkey (type 0x04, or 0x01 for plain cosignatures) or a file holding one."""
    return [parse_witness_key(key_text(entry, "witness key")) for entry in entries]
