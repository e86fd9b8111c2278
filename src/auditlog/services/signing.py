"""Signing C2SP signed notes and checkpoints with Ed25519: the log's and the witnesses' side.

An auditor never holds a private key, so this is not in the core: the core defines the
note format and checks signatures (`auditlog.core.note`, `auditlog.core.checkpoint`),
and whatever is signed here is opened there. Byte-compatible with
golang.org/x/mod/sumdb/note: a signature line is `— name base64(key id || signature)`,
and a signer key `PRIVATE+KEY+name+<8 hex key id>+base64(0x01 || seed)`, as Go's
note.NewSigner reads it. Key problems raise KeyFileError; a body that cannot be signed,
InvalidInput.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditlog.core.checkpoint import Checkpoint
from auditlog.core.note import (
    ALG_ED25519,
    SIG_PREFIX,
    Verifier,
    b64encode,
    bad_text,
    check_key_id,
    split_key,
    unverified_note,
)
from auditlog.errors import InvalidInput, KeyFileError
from auditlog.tlog.cosignature import MAX_TIMESTAMP, CosignerKey, signed_message


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
        """The bare Ed25519 signature of `message` (cosignature/v1 signs more than the note's body)."""
        return self._private.sign(message)

    def sign(self, body: str) -> str:
        """The signed note of `body` with this key alone."""
        return sign_note(body, [self])

    def __repr__(self) -> str:  # never show key material
        return f"Signer({self.name!r}, key_id={self.key_id:08x})"


def parse_signer_key(skey: str) -> Signer:
    """Parse `PRIVATE+KEY+name+hex+base64(0x01 || seed)` (Go's note signer key)."""
    name, claimed, seed = split_key(skey, private=True)
    signer = Signer.from_seed(name, seed)
    check_key_id("signer key", claimed, signer.key_id)
    return signer


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


def add_signatures(note_text: str | bytes, signers: Sequence[Signer]) -> str:
    """Cosign: append the signers' signatures to a note, keeping the existing ones.

    Existing signatures are not verified here: a witness first checks the log's
    signature with `auditlog.core.note.open_note`. An existing signature by the same key
    as a new signer is replaced (as Go's note.Sign does).
    """
    body, existing = unverified_note(note_text)
    new = sign_note(body, signers)[len(body) + 1 :]
    mine = {(s.name, s.key_id) for s in signers}
    kept = "".join(s.line() for s in existing if (s.name, s.key_id) not in mine)
    return body + "\n" + kept + new


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[Signer]) -> str:
    """The signed note of a checkpoint."""
    return sign_note(checkpoint.to_text(), signers)


def cosignature_line(signer: Signer, body: str, timestamp: int) -> str:
    """`— name base64(key id || timestamp || signature)\\n` by the witness key of `signer`."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise KeyFileError(f"a cosignature's timestamp is in [0, 2^63), got {timestamp}")
    key = cosigner_key(signer)  # the same Ed25519 key, under the cosignature key id
    signature = signer.sign_message(signed_message(body, timestamp))
    raw = key.key_id.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + signature
    return f"{SIG_PREFIX}{key.name} {b64encode(raw)}\n"


def cosigner_key(signer: Signer) -> CosignerKey:
    """The cosignature/v1 public key of a signing key."""
    return CosignerKey.from_public_key(signer.name, signer.verifier().public_key)
