"""C2SP signed notes with Ed25519 keys: key names and ids, verifier and signer keys, notes.

Byte-compatible with golang.org/x/mod/sumdb/note (the reference implementation of
c2sp.org/signed-note), so that other implementations can check what we sign:

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
(a checkpoint) is `auditlog.core.checkpoint`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditlog.errors import InvalidInput, KeyFileError, SignatureError

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # as the Go note package; C2SP requires accepting at least 16
SIG_PREFIX = "\u2014 "  # EM DASH, space
_HEX8_RE = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)


def b64decode(text: str) -> bytes:
    """Canonical standard base64 (RFC 4648 section 4, padded), as every encoder writes
    it; ValueError otherwise (so one value has exactly one accepted spelling)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(str(exc)) from None
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

    def _accepts(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def _parse_key(text: str, private: bool) -> tuple[str, int, bytes]:
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


def _check_key_id(what: str, claimed: int, actual: int) -> None:
    if claimed != actual:
        raise KeyFileError(f"{what}: key id {claimed:08x} does not match the key (expected {actual:08x})")


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse `name+hex(key id)+base64(0x01 || public key)`; KeyFileError says what is wrong."""
    name, claimed, public_key = _parse_key(vkey, private=False)
    verifier = Verifier.from_public_key(name, public_key)
    _check_key_id("verifier key", claimed, verifier.key_id)
    return verifier


class Signer:
    """An Ed25519 private key under a name. Keep its `signer_key()` secret."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyFileError("signer needs an Ed25519 private key")
        self._private = private_key
        self._verifier = Verifier.from_public_key(name, private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        if len(seed) != 32:
            raise KeyFileError(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> int:
        return self._verifier.key_id

    def verifier(self) -> Verifier:
        return self._verifier

    def verifier_key(self) -> str:
        return self._verifier.vkey

    def signer_key(self) -> str:
        """`PRIVATE+KEY+name+hex+base64(0x01 || seed)`, the form Go's note.NewSigner reads."""
        seed = self._private.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{b64encode(bytes([ALG_ED25519]) + seed)}"

    def signature_line(self, body: str) -> str:
        """`— name base64(key id || signature)\\n` over the UTF-8 bytes of `body`."""
        raw = self.key_id.to_bytes(4, "big") + self._private.sign(body.encode("utf-8"))
        return f"{SIG_PREFIX}{self.name} {b64encode(raw)}\n"

    def sign_message(self, message: bytes) -> bytes:
        """The bare Ed25519 signature of `message` (cosignature/v1 signs more than the body)."""
        return self._private.sign(message)

    def sign(self, body: str) -> str:
        """The signed note of `body` with this key alone."""
        return sign_note(body, [self])

    def __repr__(self) -> str:  # never show key material
        return f"Signer({self.name!r}, key_id={self.key_id:08x})"


def parse_signer_key(skey: str) -> Signer:
    """Parse `PRIVATE+KEY+name+hex+base64(0x01 || seed)` (Go's note signer key)."""
    name, claimed, seed = _parse_key(skey, private=True)
    signer = Signer.from_seed(name, seed)
    _check_key_id("signer key", claimed, signer.key_id)
    return signer


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


def sign_note(body: str, signers: Sequence[Signer]) -> str:
    """`body`, a blank line, then one signature line per signer (at least one).

    Requires `body` to be text ending in a newline, without control characters but newline.
    """
    if not isinstance(body, str) or not body.endswith("\n"):
        raise InvalidInput("note", "body must be text ending in a newline")
    reason = bad_text(body)
    if reason:
        raise InvalidInput("note", reason)
    ids = [(s.name, s.key_id) for s in signers]
    if not ids or len(set(ids)) != len(ids):
        raise InvalidInput("signers", "need at least one signer, each key once")
    return body + "\n" + "".join(s.signature_line(body) for s in signers)


def _parse_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a note into body and signature lines; SignatureError if malformed."""
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


def unverified_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Body and signature lines of a well-formed note, WITHOUT checking any signature.

    For listing what a stored note claims; trust needs `open_note` with verifier keys.
    """
    return _parse_note(text)


def open_note(text: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a signed note and check its signatures against `verifiers`.

    Unknown keys (name and key id not both known) are ignored and returned in
    `other_signatures`; a known key's bad signature raises SignatureError("bad
    signature by NAME"); so does a note without any verified signature.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v).public_key != v.public_key:
            raise KeyFileError(f"ambiguous key {v.name}+{v.key_id:08x}: two verifiers share name and key id")
    body, lines = _parse_note(text)
    message = body.encode("utf-8")
    verified: dict[tuple[str, int], NoteSignature] = {}
    others: dict[str, NoteSignature] = {}
    for sig in lines:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            others.setdefault(sig.base64 + " " + sig.name, sig)  # drop exact repeats
        elif ident not in verified:  # like Go, later signatures by the same key are skipped
            if not verifier._accepts(message, b64decode(sig.base64)[4:]):
                raise SignatureError(f"bad signature by {sig.name} (key {sig.key_id:08x})")
            verified[ident] = sig
    if not verified:
        names = ", ".join(sorted({v.name for v in known.values()})) or "none given"
        raise SignatureError(f"note has no valid signature by a known key (known: {names})")
    return Note(body, tuple(verified.values()), tuple(others.values()))


def add_signatures(note_text: str | bytes, signers: Sequence[Signer]) -> str:
    """Cosign: append the signers' signatures to a note, keeping the existing ones.

    Existing signatures are not verified here: a witness first checks the log's
    signature with `open_note`. An existing signature by the same key as a new
    signer is replaced (as Go's note.Sign does).
    """
    body, existing = _parse_note(note_text)
    new = sign_note(body, signers)[len(body) + 1 :]
    mine = {(s.name, s.key_id) for s in signers}
    kept = "".join(s.line() for s in existing if (s.name, s.key_id) not in mine)
    return body + "\n" + kept + new
