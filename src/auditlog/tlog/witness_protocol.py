"""C2SP tlog-witness's add-checkpoint messages, as bytes: the request body and the answers.

    request   old <size>\\n  (decimal, no leading zero but for 0)
              <base64 hash>\\n   zero to 63 lines: the consistency proof from <size>
              \\n
              <the checkpoint note, with the log's signature lines>
    200       the witness's note signature lines, each "— <name> <base64>\\n"
    409       <the size the witness cosigned last>\\n  (Content-Type text/x.tlog.size)

Parsing is strict: whatever the spec says a request MUST be is refused otherwise, naming the
line, so that a witness answers 400 rather than guessing. No I/O here: the server and the
client (`auditlog.services.witness_http`) carry these bytes over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditlog.core.note import SIG_PREFIX, b64decode, b64encode
from auditlog.errors import InvalidInput

PATH = "add-checkpoint"
SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
# bytes: signed-note's verifiers "MUST accept at least up to 16 signatures" of up to "nearly 5kB" each
# (post-quantum ones): 16 such lines (6.7 kB each in base64), 63 hashes and the checkpoint are ~110 kB
MAX_REQUEST = 256 << 10
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})\Z")
_SIZE = re.compile(rb"(0|[1-9][0-9]{0,19})\n\Z")


class Unprocessable(InvalidInput):
    """A request well formed whose proof cannot lead from its old size to the checkpoint's (not empty from
    size 0, or from the checkpoint's own size): tlog-witness answers 422, as for a proof that does not verify."""


@dataclass(frozen=True)
class AddCheckpoint:
    """One add-checkpoint request: the size the client believes the witness cosigned last, the
    consistency proof from it, and the checkpoint note to cosign."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def format_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"a consistency proof of {len(proof)} hashes: tlog-witness allows {MAX_PROOF_LINES}")
    lines = [f"old {old_size}\n", *(b64encode(h) + "\n" for h in proof), "\n", note]
    return "".join(lines).encode("utf-8")


def parse_request(body: bytes) -> AddCheckpoint:
    """The request, or InvalidInput naming the line that is not what tlog-witness says it must be."""
    if len(body) > MAX_REQUEST:
        raise InvalidInput("request", f"{len(body)} bytes: more than an add-checkpoint request holds ({MAX_REQUEST})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("request", f"byte {exc.start}: not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise InvalidInput("request", "no empty line before the checkpoint")
    old_size, proof = parse_head(head.split("\n"), "request", old_required=True)
    assert old_size is not None  # required
    return AddCheckpoint(old_size, proof, note)


def parse_head(lines: list[str], what: str, *, old_required: bool) -> tuple[int | None, tuple[bytes, ...]]:
    """A request's lines before the checkpoint (a request's, or a `--proof` file's, where the old size line
    may be left out): the old size, or None, and the consistency proof. InvalidInput naming `what` and the
    line that is not what tlog-witness says it must be."""
    old = _OLD.match(lines[0]) if lines else None
    if old is None and (old_required or (lines and lines[0].startswith("old"))):
        shown = lines[0][:40] if lines else ""
        raise InvalidInput(f"{what} line 1", f"{shown!r} is not 'old <size>' (a decimal without leading zeros)")
    first = 1 if old is not None else 0
    proof = []
    for number, line in enumerate(lines[first:], first + 1):
        try:
            digest = b64decode(line)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise InvalidInput(f"{what} line {number}", "not a consistency proof hash (32 bytes, base64)")
        proof.append(digest)
    if len(proof) > MAX_PROOF_LINES:
        raise InvalidInput(what, f"{len(proof)} consistency proof lines: at most {MAX_PROOF_LINES}")
    old_size = None if old is None else int(old[1])
    if old_size == 0 and proof:
        raise Unprocessable(what, "a consistency proof from size 0: it must be empty")
    return old_size, tuple(proof)


def format_size(size: int) -> bytes:
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """A 409 answer's body: the size the witness cosigned last."""
    found = _SIZE.match(body)
    if found is None:
        raise InvalidInput("response", f"{body[:40]!r} is not a tree size and a newline ({SIZE_TYPE})")
    return int(found[1])


def parse_signature_lines(body: bytes) -> list[str]:
    """A 200 answer's body: one or more note signature lines, each ending in a newline."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("response", f"byte {exc.start}: not UTF-8") from None
    if not text.endswith("\n"):
        raise InvalidInput("response", "not signature lines ending in a newline")
    lines = [line + "\n" for line in text[:-1].split("\n")]
    for number, line in enumerate(lines, 1):
        if not line.startswith(SIG_PREFIX):
            raise InvalidInput(f"response line {number}", f"does not start with {SIG_PREFIX.strip()!r}")
    return lines
