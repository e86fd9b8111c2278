"""Offline evidence that one event is in the log: C2SP tlog-proof@v1, and its check.

A proof file holds the event's index, its RFC 9162 inclusion proof and a signed
checkpoint verbatim (https://c2sp.org/tlog-proof). With the event's exact bytes
beside it, anyone holding a verifier key can check it: the leaf hash is
SHA-256(0x00 || event bytes), so any implementation of those specifications will do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditlog.core.checkpoint import Checkpoint, open_checkpoint
from auditlog.core.events import Event, parse_event
from auditlog.core.merkle import HASH_SIZE, leaf_hash
from auditlog.core.note import Verifier, b64decode, b64encode, open_note
from auditlog.core.verify_proof import verify_inclusion
from auditlog.errors import InvalidInput, ProofError

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]*)\Z")


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str  # the signed note, verbatim
    extra: bytes | None = None

    def to_text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + b64encode(self.extra))
        lines.append(f"index {self.index}")
        lines += [b64encode(h) for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint_note


def parse_tlog_proof(text: str) -> TlogProof:
    """Parse the format strictly; InvalidInput names the line that is wrong."""
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise InvalidInput("tlog-proof", "no blank line between the proof and the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise InvalidInput("tlog-proof line 1", f"expected {HEADER!r}")
    position = 1
    extra = None
    if len(lines) > 1 and lines[1].startswith("extra "):
        extra = _b64(lines[1][len("extra "):], "tlog-proof line 2 (extra)")
        position = 2
    if len(lines) <= position or not _INDEX.match(lines[position]):
        raise InvalidInput(f"tlog-proof line {position + 1}", "expected 'index N' (decimal, no leading zeros)")
    index = int(lines[position][len("index "):])
    proof = []
    for number, line in enumerate(lines[position + 1:], position + 2):
        digest = _b64(line, f"tlog-proof line {number}")
        if len(digest) != HASH_SIZE:
            raise InvalidInput(f"tlog-proof line {number}", f"a proof hash is {HASH_SIZE} bytes, not {len(digest)}")
        proof.append(digest)
    return TlogProof(index, tuple(proof), note, extra)


@dataclass(frozen=True)
class ProvenEvent:
    """What a verified piece of evidence establishes."""

    event: Event
    checkpoint: Checkpoint
    signers: tuple[str, ...]


def verify_evidence(event_bytes: bytes, proof_text: str, verifiers: Sequence[Verifier],
                    origin: str | None = None) -> ProvenEvent:
    """Check a signed checkpoint, an inclusion proof and the event bytes; raise if anything fails.

    Order matters for the message: the signature first (nothing else can be trusted
    without it), then that the proof leads from these bytes to the signed root,
    then that the bytes are a valid event at the proven index.
    """
    try:
        evidence = parse_tlog_proof(proof_text)
        checkpoint = open_checkpoint(evidence.checkpoint_note, verifiers, origin=origin)
    except InvalidInput as exc:
        raise ProofError(f"malformed evidence: {exc}") from None
    signers = tuple(s.name for s in open_note(evidence.checkpoint_note, verifiers).signatures)
    if evidence.index >= checkpoint.size:
        raise ProofError(f"index {evidence.index} is not in the checkpointed tree of size {checkpoint.size}")
    try:
        verify_inclusion(leaf_hash(event_bytes), evidence.index, checkpoint.size, list(evidence.proof),
                         checkpoint.root)
    except ProofError as exc:
        raise ProofError("the inclusion proof does not lead from these event bytes to the checkpoint's root: "
                         "the event bytes or the proof were altered", expected=exc.expected,
                         calculated=exc.calculated) from None
    try:
        event = parse_event(event_bytes)
    except InvalidInput as exc:
        raise ProofError(f"the proven bytes are not a valid event: {exc}") from None
    if event.seq != evidence.index:
        raise ProofError(f"the event says seq {event.seq}, but it is proven at index {evidence.index}")
    return ProvenEvent(event, checkpoint, signers)


def _b64(text: str, where: str) -> bytes:
    try:
        return b64decode(text)
    except ValueError as exc:  # not valid, or not canonical, base64
        raise InvalidInput(where, str(exc)) from None
