"""Attacks on the witnesses' word (attacker review 3): what a bucket writer, who holds no key, can make
of a witness's cosignature, and what a witness server answers a client written from tlog-witness."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from auditlog.tlog.cosignature import parse_witness_key, witnessed_by
from tests.integration.cli_support import cli
from tests.publish import spec_verifier
from tests.publish.publish_support import keygen, make_log
from tests.publish.test_witness import witness, world  # noqa: F401 - the fixture
from tests.publish.test_witness_http import ORIGIN, checkpoint, proof, request, setup, size_of  # noqa: F401

__all__ = ["setup", "world"]


def relabelled(line: str, name: str, public: bytes) -> str:
    """A cosignature/v1 line put under another key name, as anyone can: the signed message (header, time,
    body) does not name the witness, so only the key id, computed from the name and the public key, changes."""
    raw = base64.b64decode(line.rstrip("\n").rsplit(" ", 1)[1])
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    return f"\u2014 {name} {base64.b64encode(key_id + raw[4:]).decode()}\n"


def test_one_witness_under_two_names_is_one_witness(world, tmp_path: Path):  # noqa: F811 - the fixture
    """tlog-cosignature: the Ed25519 message does not commit to the cosigner's name, so one public key under two
    names is one witness. A bucket writer copied its line under a second name: `--witnesses 2` counted it twice."""
    db, out, key, vkey, _, wvkey, _ = world
    done = witness(world)
    assert done.code == 0, done
    cosigned = tmp_path / "cosigned.txt"
    cosigned.write_text(done.out)
    assert cli("publish", "--log", db, "--to", out, "--key", key, "--cosigned", cosigned).code == 0
    name, _, public = spec_verifier.vkey_parts(wvkey)
    line = next(s for s in done.out.splitlines(keepends=True) if s.startswith(f"\u2014 {name} "))
    alias = "witness.example/w2"
    (out / "checkpoint").write_text((out / "checkpoint").read_text() + relabelled(line, alias, public))
    alias_key_id = hashlib.sha256(alias.encode() + b"\n\x04" + public).digest()[:4]
    alias_data = base64.b64encode(bytes([0x04]) + public).decode()
    alias_vkey = f"{alias}+{alias_key_id.hex()}+{alias_data}"
    assert spec_verifier.cosignature_time((out / "checkpoint").read_text(), alias, public)  # it does verify as w2

    two = cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey, "--witness-vkey", alias_vkey,
              "--witnesses", "2")
    assert two.code == 2 and "--witness-vkey" in two.err and "same" in two.err, two
    # the Python API counts it once too
    keys = [parse_witness_key(wvkey), parse_witness_key(alias_vkey)]
    assert witnessed_by((out / "checkpoint").read_text(), keys) == [name]
    # and so does publish --witness: one key under two names is refused before anything is asked
    asked = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", "http://127.0.0.1:9", wvkey,
                "--witness", "http://127.0.0.1:9", alias_vkey)
    assert asked.code == 2 and "--witness" in asked.err and "same" in asked.err, asked


def test_the_witness_server_answers_422_where_tlog_witness_says_so(setup):  # noqa: F811 - the fixture
    """tlog-witness: 422 Unprocessable Entity for a non-empty proof from size 0, for a proof that does not verify,
    for a checkpoint of size 0 without the empty tree's root, and for the same size with another root. The
    server answered 400, 400, 403 and 409: a client written from the spec reads a 409's body as the witness's
    size (text/x.tlog.size), and got the refusal's text instead."""
    from auditlog.core.checkpoint import Checkpoint
    from auditlog.services.keys import load_signer
    from auditlog.services.signing import sign_checkpoint

    witness_server, db, key, tmp = setup["witness"], setup["db"], setup["key"], setup["tmp"]
    note = checkpoint(db, key)
    size = size_of(note)
    hashes = proof(db, 1, size)
    assert witness_server.post(request(0, hashes, note))[0] == 422  # a proof from size 0 must be empty
    empty = sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x07" * 32), [load_signer(key)])
    assert witness_server.post(request(0, [], empty))[0] == 422  # size 0, not the empty tree's root
    assert witness_server.post(request(0, [], note))[0] == 200
    assert witness_server.post(request(size, hashes, note))[0] == 422  # a proof from a size to itself is empty
    other = tmp / "other.db"
    make_log(other, size - 1, start=100)
    status, kind, _ = witness_server.post(request(size, [], checkpoint(other, key)))
    assert (status, kind.split(";")[0]) == (422, "text/plain"), status  # the same size, another root
    assert witness_server.post(request(0, [], note)) == (409, "text/x.tlog.size", f"{size}\n".encode())


def test_verify_from_checks_the_genesis_names_the_checkpoints_origin(tmp_path: Path):
    """A checkpoint signed by the log's key for another origin over this log's tree (a key that signs several
    logs, misused by another tool): verify --from said "N events of <that origin>" with exit 0, though the
    genesis entry names the log's own origin. The published entries now have to be that origin's log."""
    from auditlog.core.checkpoint import Checkpoint
    from auditlog.services.keys import load_signer
    from auditlog.services.signing import sign_checkpoint

    db, out = tmp_path / "evals.db", tmp_path / "pub"
    make_log(db, 5)
    key, vkey = keygen(tmp_path)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    lines = (out / "checkpoint").read_text().split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    (out / "checkpoint").write_text(sign_checkpoint(Checkpoint("test.example/other", size, root), [load_signer(key)]))
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 1 and "test.example/evals" in done.err and "test.example/other" in done.err, done
