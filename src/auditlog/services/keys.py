"""Key files: generate an Ed25519 key pair, load a signer, verifier keys and trust files.

A signing key is a PKCS#8 PEM file, written 0600, with the key's name on a line
before the PEM block (RFC 7468 lets parsers skip such text): `name: ci.example.org`,
and a witness's key (keygen --cosigner) a `role: cosigner` line after it. One Ed25519
key signs either way, but its verifier key differs (type 0x01 for note signatures,
0x04 for tlog-cosignatures): a key used in the other role makes signatures that its
own .vkey never verifies, so each command refuses a key made for the other one.
A passphrase comes only from $AUDITLOG_KEY_PASSPHRASE, never from an argument.
The verifier key is the signed-note form `name+hex(key id)+base64(0x01 || public key)`
(auditlog.core.note).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from auditlog.core.note import Verifier, is_valid_key_name, parse_verifier_key
from auditlog.errors import InvalidInput, KeyFileError, NotFound, StorageError
from auditlog.services.signing import Signer, cosigner_key

PASSPHRASE_VARIABLE = "AUDITLOG_KEY_PASSPHRASE"
_NAME_LINE = re.compile(r"name: (\S+)\n")
_COSIGNER_LINE = "role: cosigner\n"
_KEY_FORM = re.compile(r"[^+\s]+\+[0-9A-Fa-f]{8}\+[A-Za-z0-9+/=]+\Z")  # name+hex(key id)+base64: a vkey's form


def generate_key(name: str, out: Path, *, cosigner: bool = False) -> tuple[Path, Path]:
    """Write `out` (private, 0600) and `out` with suffix .vkey (0644); refuse to overwrite either.

    A `cosigner` key's .vkey is the witness form, type 0x04 (c2sp.org/tlog-cosignature).

    Both files are created exclusively and never through a symbolic link (O_CREAT | O_EXCL |
    O_NOFOLLOW): a link at either path, even a dangling one, is refused and nothing is written
    through it. If the .vkey cannot be created, the private key just written is removed again.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not is_valid_key_name(name):
        raise InvalidInput("--name", "a key name is non-empty, without '+' or white space")
    vkey_path = out.with_suffix(".vkey")
    if vkey_path == out:  # both keys at one path: refused as "already exists", which it did not
        raise InvalidInput("--out", f"{out} is the verifier key's name: give the private key's (e.g. "
                                    f"{out.with_suffix('.key')}); its .vkey is written beside it")
    for path in (out, vkey_path):
        if path.is_symlink():
            raise InvalidInput(str(path), "is a symbolic link: not writing a key through it")
        if os.path.lexists(path):
            raise InvalidInput(str(path), "already exists: not overwriting a key")
    private_key = Ed25519PrivateKey.generate()
    signer = Signer(name, private_key)
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    created: list[Path] = []
    try:
        header = f"name: {name}\n" + (_COSIGNER_LINE if cosigner else "")
        _write_exclusive(out, header.encode() + pem, 0o600, created)
        vkey = cosigner_key(signer).vkey if cosigner else signer.verifier_key()
        _write_exclusive(vkey_path, (vkey + "\n").encode(), 0o644, created)
    except BaseException as exc:
        for path in created:  # nothing half-made stays
            with contextlib.suppress(OSError):
                path.unlink()
        if isinstance(exc, FileExistsError):
            raise InvalidInput(str(exc.filename or out), "already exists (or is a link): not overwriting a key "
                               "or writing through a link") from None
        if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
            raise InvalidInput(str(exc.filename or out), "is a symbolic link: not writing a key through it") from None
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write the key: {exc.strerror or exc}") from None
        raise
    return out, vkey_path


def _write_exclusive(path: Path, data: bytes, mode: int, created: list[Path]) -> None:
    """Create `path` (never an existing file, never through a link), write `data`, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    created.append(path)
    with os.fdopen(fd, "wb") as f:
        if mode == 0o600:
            os.fchmod(f.fileno(), mode)  # whatever the umask: the owner can read, nobody else
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def load_signer(path: str | os.PathLike[str], name: str | None = None, *, cosigner: bool = False) -> Signer:
    """Read a private key file; refuse one that others can read, a wrong passphrase, or a key made for the
    other role (a witness's key, `cosigner`, makes tlog-cosignatures; any other key, note signatures)."""
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
    _refuse_what_is_not_a_private_key(path, data)  # first: "chmod 600" is no advice for a .vkey
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
        # cryptography raises TypeError both for an encrypted key without a password and for
        # a password given with an unencrypted key: which one it is depends on the variable.
        if passphrase:
            raise KeyFileError(f"{path} is not encrypted, but ${PASSPHRASE_VARIABLE} is set: unset it, or "
                               "re-create the key with a passphrase") from None
        raise KeyFileError(f"{path}: the key is encrypted: set ${PASSPHRASE_VARIABLE}") from None
    except ValueError as exc:
        reason = "wrong passphrase" if "password" in str(exc).lower() else "not a PKCS#8 PEM private key"
        raise KeyFileError(f"{path}: {reason}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    if not is_valid_key_name(name):
        raise KeyFileError(f"{path}: bad key name {name!r}")
    signer = Signer(name, key)
    made_as_cosigner = _made_as_cosigner(path, data, signer)
    if made_as_cosigner is not None and made_as_cosigner != cosigner:
        raise KeyFileError(f"{path}: a witness's key (keygen --cosigner), whose verifier key (type 0x04) verifies "
                           "only tlog-cosignatures: sign checkpoints with a key made without --cosigner"
                           if made_as_cosigner else
                           f"{path}: made without --cosigner: its verifier key (type 0x01) cannot verify the "
                           "cosignatures a witness makes; make a witness key with `auditlog keygen --cosigner`")
    return signer


def _made_as_cosigner(path: Path, data: bytes, signer: Signer) -> bool | None:
    """Whether keygen made this key with --cosigner: its `role: cosigner` line, else the .vkey keygen wrote
    beside it (keys made before the line existed); None when neither tells (a key file moved alone)."""
    header = data.split(b"-----BEGIN", 1)[0].decode("utf-8", "replace")
    if _COSIGNER_LINE in header:
        return True
    try:
        beside = path.with_suffix(".vkey").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return {signer.verifier_key(): False, cosigner_key(signer).vkey: True}.get(beside)


def _refuse_what_is_not_a_private_key(path: Path, data: bytes) -> None:
    """KeyFileError for a file that plainly holds no private key, said before its mode is judged: a
    verifier key given as --key was told "a private key must be readable by its owner only (chmod 600
    ci.vkey)", advice to lock up a public key instead of naming the file that was meant."""
    if b"PRIVATE KEY-----" in data:
        return
    text = data.decode("utf-8", "replace").strip()
    if "\n" not in text and text.count("+") >= 2:
        raise KeyFileError(f"{path}: is a verifier key (public), not a private key: give the key file keygen "
                           "wrote beside it (without .vkey)")
    raise KeyFileError(f"{path}: not a PKCS#8 PEM private key (the key file auditlog keygen writes)")


def load_verifiers(vkeys: list[str]) -> list[Verifier]:
    """Each entry is a vkey string or a file holding one (key_text); KeyFileError names the entry that is not."""
    verifiers = []
    for entry in vkeys:
        text = key_text(entry, "verifier key")
        try:
            verifiers.append(parse_verifier_key(text))
        except KeyFileError as exc:
            if text is entry:  # the key itself, given inline: the error quotes what is wrong in it
                raise
            raise KeyFileError(f"{entry}: {exc}") from None
    return verifiers


def key_text(entry: str, what: str) -> str:
    """The verifier key an entry gives: the entry itself when it has a key's form (name+hex+base64), never a
    file of that name (whoever can write the working directory, a checked-out pull request in CI, could plant
    one holding another key); else the contents of the file it names, if there is one."""
    if "+" in entry and (_KEY_FORM.match(entry) or not Path(entry).is_file()):
        return entry
    try:
        text = Path(entry).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KeyFileError(f"{entry}: cannot read the {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"{entry}: not a {what}: not UTF-8 at byte {exc.start}") from None
    if "PRIVATE KEY-----" in text:  # never echo it: the private key is the secret
        raise KeyFileError(f"{entry}: is a private key: give its verifier key, the .vkey file keygen wrote "
                           "beside it")
    return text


@dataclass(frozen=True)
class Trust:
    """A pinned trust file: the one origin evidence must be for, and the keys that may sign it."""

    origin: str
    verifiers: tuple[Verifier, ...]


def load_trust(path: str | os.PathLike[str]) -> Trust:
    """Read a trust file: UTF-8 lines `origin ORIGIN` (exactly one) and `vkey VKEY` (one or more).

    Blank lines and lines starting with '#' are ignored; anything else is refused, naming
    the line. A vkey here is the key itself (name+hex+base64), not a file name, so the
    file is all an auditor has to pin.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such trust file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the trust file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"{path}: not a trust file: not UTF-8 at byte {exc.start}") from None
    origins: list[str] = []
    verifiers: list[Verifier] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, value = line.partition(" ")
        value = value.strip()
        where = f"{path} line {number}"
        if word == "origin" and value and not any(c.isspace() for c in value):
            origins.append(value)
        elif word == "vkey" and value:
            try:
                verifiers.append(parse_verifier_key(value))
            except (KeyFileError, InvalidInput) as exc:
                raise KeyFileError(f"{where}: {exc}") from None
        else:
            raise KeyFileError(f"{where}: expected 'origin ORIGIN' or 'vkey NAME+HEX+BASE64'")
    if len(origins) != 1:
        raise KeyFileError(f"{path}: a trust file names exactly one 'origin' line, found {len(origins)}")
    if not verifiers:
        raise KeyFileError(f"{path}: a trust file names at least one 'vkey' line")
    return Trust(origins[0], tuple(verifiers))
