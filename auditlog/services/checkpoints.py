"""Key files, signed checkpoints and offline evidence: the I/O around core.checkpoint.

A signing key is a PKCS#8 PEM file, written 0600, with the key's name on a line
before the PEM block (RFC 7468 lets parsers skip such text): `name: ci.example.org`.
A passphrase comes only from $AUDITLOG_KEY_PASSPHRASE, never from an argument.
The verifier key is the signed-note form `name+hex(key id)+base64(0x01 || public key)`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from auditlog.core.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    add_signatures,
    is_valid_key_name,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    unverified_note,
)
from auditlog.core.evidence import TlogProof
from auditlog.errors import InvalidInput, KeyFileError, NotFound, StorageError, VerificationError
from auditlog.services import tree
from auditlog.services.log import utc_now
from auditlog.store.protocol import StoredCheckpoint

if TYPE_CHECKING:
    from auditlog.services.log import AuditLog

PASSPHRASE_VARIABLE = "AUDITLOG_KEY_PASSPHRASE"
_NAME_LINE = re.compile(r"name: (\S+)\n")


# -- keys ----------------------------------------------------------------------------


def generate_key(name: str, out: Path) -> tuple[Path, Path]:
    """Write `out` (private, 0600) and `out` with suffix .vkey; refuse to overwrite either."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not is_valid_key_name(name):
        raise InvalidInput("--name", "a key name is non-empty, without '+' or white space")
    vkey_path = out.with_suffix(".vkey")
    for path in (out, vkey_path):
        if path.exists():
            raise InvalidInput(str(path), "already exists: not overwriting a key")
    private_key = Ed25519PrivateKey.generate()
    signer = Signer(name, private_key)
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(f"name: {name}\n".encode() + pem)
        vkey_path.write_text(signer.verifier_key() + "\n")
    except OSError as exc:
        raise StorageError(f"cannot write the key: {exc.strerror or exc}") from None
    return out, vkey_path


def load_signer(path: str | os.PathLike[str], name: str | None = None) -> Signer:
    """Read a private key file; refuse one that others can read, or a wrong passphrase."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: a private key must be readable by its owner only (chmod 600 {path})")
    found = _NAME_LINE.match(data.decode("utf-8", "replace"))
    name = name or (found.group(1) if found else None)
    if not name:
        raise KeyFileError(f"{path}: no 'name: ...' line before the PEM block; give the key's name with --name")
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
    except TypeError:
        raise KeyFileError(f"{path}: the key is encrypted: set ${PASSPHRASE_VARIABLE}") from None
    except ValueError as exc:
        reason = "wrong passphrase" if "password" in str(exc).lower() else "not a PKCS#8 PEM private key"
        raise KeyFileError(f"{path}: {reason}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    if not is_valid_key_name(name):
        raise KeyFileError(f"{path}: bad key name {name!r}")
    return Signer(name, key)


def load_verifiers(vkeys: list[str]) -> list[Verifier]:
    """Each entry is a vkey string or a file holding one."""
    verifiers = []
    for entry in vkeys:
        text = entry
        if "+" not in entry or Path(entry).is_file():
            try:
                text = Path(entry).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise KeyFileError(f"{entry}: cannot read the verifier key: {exc.strerror or exc}") from None
            except UnicodeDecodeError as exc:
                raise KeyFileError(f"{entry}: not a verifier key: not UTF-8 at byte {exc.start}") from None
        verifiers.append(parse_verifier_key(text))
    return verifiers


# -- checkpoints ---------------------------------------------------------------------


def make_checkpoint(log: AuditLog, signer: Signer) -> str:
    """Sign the log's current tree (origin from the genesis) and keep the note in the log."""
    origin = log.info()["origin"]
    with log.store.transaction(getattr(log.store, "lock_timeout", 30.0)) as txn:
        size = txn.head().size
        root = tree.root(txn, size)
        note = sign_checkpoint(Checkpoint(origin, size, root), [signer])
        txn.add_checkpoint(size, root.hex(), note, utc_now())
    return note


def cosign(note: str, signer: Signer, log: AuditLog | None = None) -> str:
    """Add a witness signature; with the log at hand, first check the note matches it."""
    body, _ = unverified_note(note)
    checkpoint = parse_checkpoint(body)
    if log is not None:
        check_against_log(log, checkpoint)
    signed = add_signatures(note, [signer])
    if log is not None:
        with log.store.transaction(getattr(log.store, "lock_timeout", 30.0)) as txn:
            txn.add_checkpoint(checkpoint.size, checkpoint.root.hex(), signed, utc_now())
    return signed


def check_against_log(log: AuditLog, checkpoint: Checkpoint) -> None:
    origin = log.info()["origin"]
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


@dataclass(frozen=True)
class Evidence:
    event_bytes: bytes
    proof: TlogProof


def evidence_for(log: AuditLog, seq: int, stored: StoredCheckpoint) -> Evidence:
    """The exact event bytes and a tlog-proof against a stored checkpoint."""
    sealed = log.event(seq)
    proof = tree.inclusion_proof(log.store, seq, stored.size)
    return Evidence(sealed.body, TlogProof(seq, tuple(proof), stored.note))


def safe_file_stem(text: str) -> str:
    """A file name that stays inside its directory whatever the run id holds."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "event"
    return stem[:150]
