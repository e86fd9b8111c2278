"""C2SP tlog-cosignature/v1 (Ed25519): a witness's timestamped signature on a checkpoint.

    key id  = SHA-256(name || 0x0A || 0x04 || public key)[:4]
    vkey    = name+<8 hex key id>+base64(0x04 || public key)
    message = "cosignature/v1\\n" "time <T>\\n" <the checkpoint's note body>
    line    = — <name> base64(key id || uint64 T || Ed25519 signature of message)

The note's own signature lines (type 0x01, `auditlog.core.note`) are left alone; a note keeps
both. A witness key given as a plain 0x01 vkey still counts its plain note signature (what
`auditlog cosign` made before witnesses checked consistency), so old cosignatures verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditlog.core.note import (
    Verifier,
    b64decode,
    b64encode,
    is_valid_key_name,
    open_note,
    parse_verifier_key,
    unverified_note,
)
from auditlog.errors import KeyFileError, SignatureError

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1


def cosigner_key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x04 || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def signed_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, the note body."""
    return f"{HEADER}time {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key for cosignature/v1: name, key id and the Ed25519 key."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> CosignerKey:
        if not is_valid_key_name(name):
            raise KeyFileError(f"invalid key name {name!r}: must be non-empty, without '+' or spaces")
        if len(public_key) != 32:
            raise KeyFileError(f"Ed25519 public key must be 32 bytes, got {len(public_key)}")
        return cls(name, cosigner_key_id(name, public_key), bytes(public_key))

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key)}"

    def timestamp_of(self, note: str | bytes) -> int | None:
        """The time of this key's valid cosignature on `note` (the latest, if it has several); None if
        it has none.

        SignatureError if any line with this key's name and id does not verify (a forged line,
        or a body changed after signing): as for note signatures, that rejects the note.
        """
        body, lines = unverified_note(note)
        found = None
        for line in lines:
            if (line.name, line.key_id) != (self.name, self.key_id):
                continue
            raw = b64decode(line.base64)
            if len(raw) != 4 + 8 + 64:
                raise SignatureError(f"bad cosignature by {self.name}: {len(raw)} bytes, a cosignature/v1 has 76")
            timestamp = int.from_bytes(raw[4:12], "big")
            try:
                if timestamp > MAX_TIMESTAMP:
                    raise InvalidSignature
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(raw[12:], signed_message(body, timestamp))
            except InvalidSignature:
                raise SignatureError(f"bad cosignature by {self.name} (key {self.key_id:08x})") from None
            found = timestamp if found is None else max(found, timestamp)
        return found


def parse_witness_key(vkey: str) -> Verifier | CosignerKey:
    """A witness's verifier key: type 0x04 (cosignature/v1) or 0x01 (a plain note signature,
    as `auditlog cosign` made them). KeyFileError says what is wrong."""
    name, _, rest = vkey.partition("+")
    hex_id, _, data64 = rest.partition("+")
    try:
        data = b64decode(data64)
    except ValueError:
        raise KeyFileError("witness key: key data is not valid base64") from None
    if not data or data[0] != ALG_COSIGNATURE_V1:
        return parse_verifier_key(vkey)
    if len(data) != 33:
        raise KeyFileError(f"witness key: Ed25519 key must be 32 bytes, got {len(data) - 1}")
    key = CosignerKey.from_public_key(name, data[1:])
    if hex_id.lower() != f"{key.key_id:08x}":
        raise KeyFileError(f"witness key: key id {hex_id!r} does not match the key (expected {key.key_id:08x})")
    return key


def witnessed_by(note: str | bytes, witnesses: Sequence[Verifier | CosignerKey]) -> list[str]:
    """The names of the `witnesses` whose signature on `note` verifies (each public key once: the signed
    message does not name the witness, so one key under two names is one witness, whose line anyone can
    copy under the other name; the first name given is the one counted).

    A line by a witness key that does not verify raises SignatureError (the note is malformed).
    """
    names: list[str] = []
    seen = set()
    for key in witnesses:
        if key.public_key in seen:  # a key given twice is one witness: a quorum counts it once
            continue
        seen.add(key.public_key)
        if isinstance(key, CosignerKey):
            if key.timestamp_of(note) is not None:
                names.append(key.name)
            continue
        body, lines = unverified_note(note)
        if any((s.name, s.key_id) == (key.name, key.key_id) for s in lines):
            open_note(note, [key])  # raises on a bad signature by this key
            names.append(key.name)
    return names
