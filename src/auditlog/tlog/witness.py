"""A witness's decision: cosign a checkpoint only if it extends the largest one cosigned before.

C2SP tlog-witness: per origin the witness remembers the latest checkpoint it cosigned; a new
one must be at least as large, with the same root at the same size, or come with an RFC 9162
consistency proof from the old size. Anything else is a rollback or a fork: refused, naming
both sizes and roots. Keeping the record (atomically) is `auditlog.services.witness`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditlog.core.checkpoint import Checkpoint
from auditlog.core.merkle import EMPTY_ROOT
from auditlog.core.verify_proof import verify_consistency
from auditlog.errors import ProofError, VerificationError


class Refused(VerificationError):
    """A checkpoint a witness must not cosign: `kind` is "rollback" (smaller than the record), "fork"
    (the same size, another root), "inconsistent" (the consistency proof does not verify) or "empty"
    (size 0 without the empty tree's root)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class Witnessed:
    """The largest checkpoint a witness cosigned for one origin."""

    origin: str
    size: int
    root: bytes


def check_extends(previous: Witnessed | None, checkpoint: Checkpoint, proof: Sequence[bytes]) -> None:
    """Return if `checkpoint` may be cosigned after `previous`; VerificationError otherwise."""
    new = f"size {checkpoint.size} (root {checkpoint.root.hex()})"
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        raise Refused("empty", f"the checkpoint of size 0 has root {checkpoint.root.hex()}, not the empty tree's")
    if previous is None or previous.size == 0:
        return
    if previous.origin != checkpoint.origin:
        raise VerificationError(f"the record is for {previous.origin!r}, the checkpoint for {checkpoint.origin!r}")
    old = f"size {previous.size} (root {previous.root.hex()})"
    if checkpoint.size < previous.size:
        raise Refused("rollback", f"rollback refused: {checkpoint.origin} was cosigned at {old}; "
                                f"this checkpoint is smaller, {new}")
    if checkpoint.size == previous.size:
        if checkpoint.root != previous.root:
            raise Refused("fork", f"fork refused: {checkpoint.origin} was cosigned at {old}; "
                                  f"this checkpoint has the same size and another root, {new}")
        return
    try:
        verify_consistency(previous.size, checkpoint.size, list(proof), previous.root, checkpoint.root)
    except ProofError as exc:
        raise Refused("inconsistent", f"fork refused: {checkpoint.origin} was cosigned at {old}; {new} does not "
                                      f"extend it ({exc.reason})") from None
