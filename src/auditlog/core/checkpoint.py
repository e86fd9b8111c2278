"""C2SP tlog-checkpoint: a tree head (origin, size, root) as the body of a signed note.

    <origin>\\n<tree size>\\n<base64 root>\\n[extension lines\\n]   <- the note body

Byte-compatible with golang.org/x/mod/sumdb/tlog and c2sp.org/tlog-checkpoint. The note
around it, its Ed25519 signatures and the keys are `auditlog.core.note`; parsing a
checkpoint is separate from checking its signatures (`parse_checkpoint` vs
`open_checkpoint`). A malformed checkpoint body raises InvalidInput; note and key
problems raise SignatureError and KeyFileError, as `auditlog.core.note` says. Signing
one is the log's work: `auditlog.services.signing.sign_checkpoint`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditlog.core.note import Verifier, b64decode, b64encode, bad_text, open_note
from auditlog.errors import InvalidInput, SignatureError

MAX_TREE_SIZE = 2**63 - 1  # Go's tlog uses int64
_SIZE_RE = re.compile(r"0|[1-9][0-9]*", re.ASCII)


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, tree size, root hash, optional extension lines (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, line in [("origin", self.origin), *(("extension", e) for e in self.extensions)]:
            if not isinstance(line, str) or line == "" or "\n" in line or bad_text(line):
                raise InvalidInput("checkpoint", f"{label} must be a non-empty line of text, got {line!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidInput("checkpoint", f"tree size must be an integer in [0, 2^63), got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise InvalidInput("checkpoint", "root hash must be 32 bytes")

    def to_text(self) -> str:
        """The note body: each line ending in a newline."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Strictly parse a checkpoint body; InvalidInput naming what is wrong."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise InvalidInput("checkpoint", "must be text ending in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidInput("checkpoint", "needs origin, tree size and root hash lines")
    if "" in lines:
        raise InvalidInput("checkpoint", "empty line inside the checkpoint")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE_RE.fullmatch(size_text):
        raise InvalidInput("checkpoint", f"tree size {size_text!r} is not a decimal without leading zeros")
    try:
        root = b64decode(root_text)
    except ValueError:
        raise InvalidInput("checkpoint", "root hash is not valid base64") from None
    if len(root) != 32:
        raise InvalidInput("checkpoint", f"root hash must be 32 bytes, got {len(root)}")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(text: str | bytes, verifiers: Sequence[Verifier], origin: str | None = None) -> Checkpoint:
    """open_note + parse_checkpoint, and if `origin` is given, require that origin."""
    checkpoint = parse_checkpoint(open_note(text, verifiers).body)
    if origin is not None and checkpoint.origin != origin:
        raise SignatureError(f"checkpoint origin {checkpoint.origin!r} differs from the expected {origin!r}")
    return checkpoint
