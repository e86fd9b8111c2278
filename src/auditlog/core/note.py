"""C2SP signed notes with Ed25519 keys, as a verifier reads them: key names and ids, verifier keys, notes.

Byte-compatible with golang.org/x/mod/sumdb/note (the reference implementation of
c2sp.org/signed-note), so that we check what other implementations sign, and they what we sign:

    <text>\\n[more lines\\n]   <- the note body
    \\n
    — <key name> <base64(4-byte key id || Ed25519 signature of the body)>\\n  (one or more)

Key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]. Verifier key:
`name+<8 hex key id>+base64(0x01 || public key)`; signer key (secret):
`PRIVATE+KEY+name+<8 hex key id>+base64(0x01 || seed)`.

Opening follows the note package: signatures by unknown keys are kept but ignored
(that is what lets witnesses cosign); a signature by a known key that does not
verify rejects the note; a note with no verified signature is rejected. Key
problems raise KeyFileError, note problems SignatureError. What the body says
(a checkpoint) is `auditlog.core.checkpoint`. Signing (the private key, writing signature
lines, cosigning) is the log's and the witness's work, not the auditor's: it is
`auditlog.services.signing`, built on the format defined here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditlog.errors import KeyFileError, SignatureError

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # as the Go note package; C2SP requires accepting at least 16
SIG_PREFIX = "\u2014 "  # EM DASH, space
_HEX8_RE = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)


def b64decode(text: str) -> bytes:
    """Canonical standard base64 (RFC 4648 section 4, padded), as every encoder writes
    it; ValueError otherwise (so one value has exactly one accepted spelling)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not valid base64") from None
    if b64encode(data) != text:
        raise ValueError("not canonical base64")
    return data


def b64encode(data: bytes) -> str:
    """Standard padded base64, as text: the one spelling `b64decode` accepts."""
    return base64.b64encode(data).decode("ascii")


def bad_text(text: str) -> str | None:
    """Why `text` cannot be in a note (C2SP: valid UTF-8, no control character but \\n)."""
    for ch in text:
        if ch < " " and ch != "\n":
            return f"control character {ch!r}"
        if "\ud800" <= ch <= "\udfff":
            return "text is not valid UTF-8"
    return None


def is_valid_key_name(name: object) -> bool:
    """C2SP signed-note: non-empty, no Unicode spaces, no '+' (and, for notes, no controls)."""
    return (isinstance(name, str) and name != "" and "+" not in name
            and not any(ch.isspace() for ch in name) and bad_text(name) is None)


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4] as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


# --- Keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 public key under a name; build with `parse_verifier_key`."""

    name: str
    key_id: int
    public_key: bytes
    _key: Ed25519PublicKey = field(repr=False, compare=False)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Verifier:
        if not is_valid_key_name(name):
            raise KeyFileError(f"invalid key name {name!r}: must be non-empty, without '+' or spaces")
        if len(public_key) != 32:
            raise KeyFileError(f"Ed25519 public key must be 32 bytes, got {len(public_key)}")
        try:
            key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise KeyFileError(f"invalid Ed25519 public key: {exc}") from None
        return cls(name, key_id(name, public_key), bytes(public_key), key)

    @property
    def vkey(self) -> str:
        """The verifier key string `name+hex+base64(0x01||key)` (public, shareable)."""
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def accepts(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def split_key(text: str, private: bool) -> tuple[str, int, bytes]:
    """Split and check `[PRIVATE+KEY+]name+hex+base64(0x01 || key)`: (name, claimed id, key)."""
    what = "signer key" if private else "verifier key"
    fields = text.split("+", 4 if private else 2) if isinstance(text, str) else []  # base64 may hold '+'
    if private:
        fields = fields[2:] if fields[:2] == ["PRIVATE", "KEY"] else []
    if len(fields) != 3:
        raise KeyFileError(f"{what} must have the form {'PRIVATE+KEY+' if private else ''}name+keyid+keydata")
    name, hex_id, data64 = fields
    if not is_valid_key_name(name):
        raise KeyFileError(f"{what}: invalid key name {name!r}: must be non-empty, without '+' or spaces")
    if not _HEX8_RE.fullmatch(hex_id):
        raise KeyFileError(f"{what}: key id {hex_id!r} is not 8 hex digits")
    try:
        data = b64decode(data64)
    except ValueError:
        raise KeyFileError(f"{what}: key data is not valid base64") from None
    if not data:
        raise KeyFileError(f"{what}: key data is empty")
    if data[0] != ALG_ED25519:
        raise KeyFileError(f"{what}: unsupported key algorithm 0x{data[0]:02x} (only Ed25519, 0x01)")
    if len(data) != 33:
        raise KeyFileError(f"{what}: Ed25519 key must be 32 bytes, got {len(data) - 1}")
    return name, int(hex_id, 16), data[1:]


def check_key_id(what: str, claimed: int, actual: int) -> None:
    if claimed != actual:
        raise KeyFileError(f"{what}: key id {claimed:08x} does not match the key (expected {actual:08x})")


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse `name+hex(key id)+base64(0x01 || public key)`; KeyFileError says what is wrong."""
    name, claimed, public_key = split_key(vkey, private=False)
    verifier = Verifier.from_public_key(name, public_key)
    check_key_id("verifier key", claimed, verifier.key_id)
    return verifier


# --- Signed notes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key id, and the base64 text exactly as it appeared."""

    name: str
    key_id: int
    base64: str

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {self.base64}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its body, the signatures verified by known keys, and the others."""

    body: str
    signatures: tuple[NoteSignature, ...]
    other_signatures: tuple[NoteSignature, ...]


def unverified_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Body and signature lines of a well-formed note (SignatureError if malformed), WITHOUT
    checking any signature: for listing what a stored note claims; trust needs `open_note`."""
    def malformed(reason: str) -> SignatureError:
        return SignatureError(f"malformed note: {reason}")

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise malformed("not valid UTF-8") from None
    if not isinstance(text, str):
        raise malformed("not text")
    reason = bad_text(text)
    if reason:
        raise malformed(reason)
    split = text.rfind("\n\n")  # the last blank line separates body and signatures
    if split < 0:
        raise malformed("no blank line before the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise malformed("signature block is empty or does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise malformed(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise malformed(f"signature line does not start with an em dash: {line[:40]!r}")
        name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            raw = b64decode(b64)
        except ValueError:
            raw = b""
        if not is_valid_key_name(name) or len(raw) < 5:
            raise malformed(f"bad signature line: {line[:40]!r}")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), b64))
    return body, signatures


def open_note(text: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a signed note and check its signatures against `verifiers`.

    Unknown keys (name and key id not both known) are ignored (`other_signatures`); a known
    key's bad signature, on any line (signed-note: MUST verify; Go skips later ones), raises
    SignatureError("bad signature by NAME"); so does a note without any verified signature.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v).public_key != v.public_key:
            raise KeyFileError(f"ambiguous key {v.name}+{v.key_id:08x}: two verifiers share name and key id")
    body, lines = unverified_note(text)
    message = body.encode("utf-8")
    verified: dict[tuple[str, int], NoteSignature] = {}
    others: dict[str, NoteSignature] = {}
    for sig in lines:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            others.setdefault(sig.base64 + " " + sig.name, sig)  # drop exact repeats
        elif verified.get(ident) != sig:  # every line by a known key is checked (signed-note: MUST verify)
            if not verifier.accepts(message, b64decode(sig.base64)[4:]):
                raise SignatureError(f"bad signature by {sig.name} (key {sig.key_id:08x})")
            verified.setdefault(ident, sig)
    if not verified:
        names = ", ".join(sorted({v.name for v in known.values()})) or "none given"
        raise SignatureError(f"note has no valid signature by a known key (known: {names})")
    return Note(body, tuple(verified.values()), tuple(others.values()))
