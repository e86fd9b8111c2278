"""Hostile signed notes and keys, beyond tests/integration/test_checkpoints.py.

That file covers a world-readable private key, a wrong or missing passphrase, a truncated
PEM, a vkey with a bad hash (and other malformed vkeys), and a checkpoint signed by an
unknown key. Here: a note with extra, missing, duplicated or reordered lines, CRLF line
ends, a group-readable key, a key file that is not PEM at all, an empty vkey file. Each is
refused with one clear line (never a traceback) and the log is unchanged; the one
rearrangement the signed-note spec allows (signature lines in another order) is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .hostile_support import cli_support as s

LOG_KEY, WITNESS_KEY = "ci.example.org", "witness.example.org"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("notes")
    for i in range(5):
        s.ok("append", "run", s.write_json(root / "doc.json", s.run_doc(f"run-{i}", seed=i)), "--log", root / "evals.db")
    s.ok("keygen", "--name", LOG_KEY, "--out", root / "ci.key")
    s.ok("keygen", "--name", WITNESS_KEY, "--out", root / "witness.key")
    note = s.ok("checkpoint", "--key", root / "ci.key", "--log", root / "evals.db").out
    (root / "cp.txt").write_text(note)
    cosigned = s.ok("cosign", root / "cp.txt", "--key", root / "witness.key").out
    (root / "cosigned.txt").write_text(cosigned)
    return root


def _verify(keys: Path, note: str, tmp_path: Path, *vkeys: str) -> s.Result:
    path = tmp_path / "note.txt"
    path.write_bytes(note.encode("utf-8"))
    args = []
    for name in vkeys or ("ci",):
        args += ["--vkey", keys / f"{name}.vkey"]
    before = s.fingerprint(keys / "evals.db")
    result = s.cli("verify", "--log", keys / "evals.db", "--checkpoint", path, *args)
    assert "Traceback" not in result.err, str(result)
    assert s.fingerprint(keys / "evals.db") == before
    return result


def _refused(result: s.Result, *needles: str) -> str:
    assert result.code in (1, 2), str(result)
    lines = result.err.strip().splitlines()
    assert lines and lines[0].startswith("auditlog: error: ") and len(lines) == 1, str(result)
    for needle in needles:
        assert needle in lines[0], str(result)
    return lines[0]


def _body_sigs(note: str) -> tuple[list[str], list[str]]:
    body, _, sigs = note.partition("\n\n")
    return body.split("\n"), sigs.rstrip("\n").split("\n")


def _join(body: list[str], sigs: list[str]) -> str:
    return "\n".join(body) + "\n\n" + "\n".join(sigs) + "\n"


def test_the_untouched_note_verifies(keys: Path, tmp_path: Path) -> None:
    assert _verify(keys, (keys / "cp.txt").read_text(), tmp_path).code == 0
    assert _verify(keys, (keys / "cosigned.txt").read_text(), tmp_path, "ci", "witness").code == 0


def test_signature_lines_in_another_order_are_accepted(keys: Path, tmp_path: Path) -> None:
    body, sigs = _body_sigs((keys / "cosigned.txt").read_text())
    assert len(sigs) == 2
    result = _verify(keys, _join(body, sigs[::-1]), tmp_path, "ci", "witness")
    assert result.code == 0, str(result)


@pytest.mark.parametrize("damage", [
    "swap-origin-and-size", "swap-size-and-root", "extra-body-line", "drop-body-line", "extra-signature-garbage",
    "extra-blank-line", "duplicate-body-line", "crlf", "no-final-newline", "no-signatures", "signature-first",
    "leading-blank-line", "trailing-spaces",
])
def test_a_rearranged_note_is_refused(keys: Path, tmp_path: Path, damage: str) -> None:
    note = (keys / "cp.txt").read_text()
    body, sigs = _body_sigs(note)
    assert len(body) == 3, body
    damaged = {
        "swap-origin-and-size": lambda: _join([body[1], body[0], body[2]], sigs),
        "swap-size-and-root": lambda: _join([body[0], body[2], body[1]], sigs),
        "extra-body-line": lambda: _join([*body, "unsigned extension line"], sigs),
        "drop-body-line": lambda: _join(body[:2], sigs),
        "extra-signature-garbage": lambda: _join(body, [*sigs, "this is not a signature line"]),
        "extra-blank-line": lambda: "\n".join(body) + "\n\n\n" + "\n".join(sigs) + "\n",
        "duplicate-body-line": lambda: _join([body[0], body[0], body[1], body[2]], sigs),
        "crlf": lambda: note.replace("\n", "\r\n"),
        "no-final-newline": lambda: note.rstrip("\n"),
        "no-signatures": lambda: "\n".join(body) + "\n\n",
        "signature-first": lambda: "\n".join(sigs) + "\n\n" + "\n".join(body) + "\n",
        "leading-blank-line": lambda: "\n" + note,
        "trailing-spaces": lambda: note.replace("\n", " \n", 1),
    }[damage]()
    assert damaged != note
    _refused(_verify(keys, damaged, tmp_path))


def test_a_duplicated_signature_line_is_not_two_signers(keys: Path, tmp_path: Path) -> None:
    """The same signature twice counts once (as Go's note package has it): never a second signer."""
    from auditlog.core.note import open_note, parse_verifier_key
    body, sigs = _body_sigs((keys / "cp.txt").read_text())
    doubled = _join(body, [sigs[0], sigs[0]])
    verifiers = [parse_verifier_key((keys / f"{k}.vkey").read_text().strip()) for k in ("ci", "witness")]
    note = open_note(doubled, verifiers)
    assert [sig.name for sig in note.signatures] == [LOG_KEY] and note.other_signatures == ()
    assert _verify(keys, doubled, tmp_path, "ci", "witness").code == 0


def test_a_cosigned_note_with_one_signature_removed_still_needs_the_removed_key(keys: Path, tmp_path: Path) -> None:
    body, sigs = _body_sigs((keys / "cosigned.txt").read_text())
    witness_only = _join(body, [line for line in sigs if WITNESS_KEY in line])
    _refused(_verify(keys, witness_only, tmp_path, "ci"))  # the log's key no longer signs it


def _key_variant(keys: Path, tmp_path: Path, variant: str) -> Path:
    text = (keys / "ci.key").read_text()
    path = tmp_path / "variant.key"
    if variant == "group-readable":
        path.write_text(text)
        path.chmod(0o640)
    elif variant == "world-writable":
        path.write_text(text)
        path.chmod(0o602)
    elif variant == "not-pem":
        path.write_text(f"name: {LOG_KEY}\nhello, I am not a key\n")
        path.chmod(0o600)
    elif variant == "empty":
        path.write_text("")
        path.chmod(0o600)
    elif variant == "public-key-instead":
        path.write_text(f"name: {LOG_KEY}\n" + (keys / "ci.vkey").read_text())
        path.chmod(0o600)
    elif variant == "pem-cut-mid-base64":
        head, _, tail = text.partition("-----BEGIN")
        path.write_text(head + "-----BEGIN" + tail[: len(tail) // 2])
        path.chmod(0o600)
    return path


@pytest.mark.parametrize("variant, code, needle", [
    ("group-readable", 2, "chmod 600"),
    ("world-writable", 2, "chmod 600"),
    ("not-pem", 2, "not a PKCS#8 PEM private key"),
    ("empty", 2, ""),
    ("public-key-instead", 2, ""),
    ("pem-cut-mid-base64", 2, "not a PKCS#8 PEM private key"),
])
def test_unusable_private_keys_are_refused(keys: Path, tmp_path: Path, variant: str, code: int, needle: str) -> None:
    key = _key_variant(keys, tmp_path, variant)
    db = tmp_path / "evals.db"
    db.write_bytes((keys / "evals.db").read_bytes())
    before = s.fingerprint(db)
    result = s.cli("checkpoint", "--key", key, "--log", db)
    assert "Traceback" not in result.err, str(result)
    assert result.code == code, str(result)
    line = _refused(result, needle)
    assert str(key) in line
    assert result.stdout == b"" and s.fingerprint(db) == before


@pytest.mark.parametrize("content", ["", "\n", "  ", "name+00000000+AAAA", "a+b+c+d"])
def test_unusable_vkey_files_are_refused(keys: Path, tmp_path: Path, content: str) -> None:
    vkey = tmp_path / "bad.vkey"
    vkey.write_text(content)
    result = s.cli("verify", "--log", keys / "evals.db", "--checkpoint", keys / "cp.txt", "--vkey", vkey)
    assert "Traceback" not in result.err, str(result)
    assert result.code == 2, str(result)
    _refused(result, "verifier key")
