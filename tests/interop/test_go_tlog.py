"""auditlog's published files and evidence, checked by Go's transparency-log packages.

golang.org/x/mod/sumdb/note and sumdb/tlog (the Go checksum database's own code, by other people,
from the same specifications) check what auditlog writes: the signed checkpoint (C2SP signed-note,
tlog-checkpoint), every hash tile against the signed root and every entry bundle against its leaf
hashes (tlog-tiles, RFC 9162's tree), that a later publication extends an earlier one, tlog-proof
files and consistency proofs. Cosignatures are checked by tlogcheck's own Go code, written from
tlog-cosignature's text (x/mod has none). tests/interop/tlogcheck/main.go is built with Debian's Go
and its golang-golang-x-mod-dev sources, without a download. Skipped where they are missing, except
in CI ($CI set), where .ci/run installs them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.integration.cli_support import run_doc
from tests.interop import gobuild
from tests.publish.publish_support import keygen, make_log
from tests.support.cli import ok

SOURCE = Path(__file__).parent / "tlogcheck"
ORIGIN = "interop.example/evals"
go, go_refuses = gobuild.answer, gobuild.refusal


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built once for this module."""
    return gobuild.build(SOURCE, tmp_path_factory.mktemp("go"))


def log_entries_digest(db: Path) -> tuple[int, str]:
    """The log's event bytes in seq order, framed as tlogcheck hashes them (length ':' bytes)."""
    from auditlog.services.log import AuditLog

    digest, count = hashlib.sha256(), 0
    with AuditLog.open(db, create=False) as log:
        for event in log.events():
            digest.update(b"%d:" % len(event.body) + event.body)
            count += 1
    return count, digest.hexdigest()


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A log published twice (300, then 700 events, one of them a run over 65,535 bytes), cosigned
    by a witness in between, with the first publication's checkpoint kept."""
    tmp = tmp_path_factory.mktemp("published")
    db, out = tmp / "log.db", tmp / "pub"
    key, vkey = keygen(tmp, "log.interop.example")
    wkey, wvkey = keygen(tmp, "witness.interop.example/w1", cosigner=True)
    make_log(db, 299, origin=ORIGIN)  # the genesis event and 299 runs: 300 events
    ok("publish", "--log", db, "--to", out, "--key", key)
    first = tmp / "first-checkpoint"
    shutil.copyfile(out / "checkpoint", first)
    from auditlog.services.log import AuditLog

    with AuditLog.open(db, create=False) as log, log.writer() as w:
        w.record_run(run_doc("a-wide-run", n_items=900))  # > 65,535 bytes: an entries-u32 bundle
    make_log(db, 399, start=299, origin=ORIGIN)
    ok("publish", "--log", db, "--to", out, "--key", key)
    cosigned = ok("witness", "--key", wkey, "--state", tmp / "wstate", "--origin", ORIGIN, "--vkey", vkey,
                  "--from", out).out
    (tmp / "cosigned.txt").write_text(cosigned)
    ok("publish", "--log", db, "--to", out, "--key", key, "--cosigned", tmp / "cosigned.txt")
    return {"tmp": tmp, "db": db, "out": out, "key": key, "vkey": vkey, "wvkey": wvkey, "first": first}


def test_go_checks_every_tile_and_entry_of_a_publication(tlogcheck: Path, published: dict) -> None:
    answer = go(tlogcheck, "tiles", published["out"], published["vkey"], published["wvkey"])
    count, digest = log_entries_digest(published["db"])
    ours = (published["out"] / "checkpoint").read_text().splitlines()
    assert (answer["origin"], answer["size"], answer["root"]) == (ORIGIN, count, ours[2]) and count == 700
    assert (answer["entries"], answer["entries_sha256"]) == (count, digest)  # every leaf is the stored event
    assert answer["signers"] == ["log.interop.example"]
    assert [c["name"] for c in answer["cosigners"]] == ["witness.interop.example/w1"]
    assert any((published["out"] / "entries-u32").iterdir())  # the wide run's bundle was read in that form


def test_go_proves_the_second_publication_extends_the_first(tlogcheck: Path, published: dict) -> None:
    assert go(tlogcheck, "extends", published["out"], published["first"], published["vkey"]) == {"from": 300, "to": 700}


def copy_of(published: dict, tmp_path: Path) -> Path:
    out = tmp_path / "pub"
    shutil.copytree(published["out"], out)
    return out


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_go_refuses_an_altered_tile_entry_or_signature(tlogcheck: Path, published: dict, tmp_path: Path) -> None:
    """The checker is not vacuous: each kind of alteration of the published files is refused."""
    keys = (published["vkey"], published["wvkey"])
    out = copy_of(published, tmp_path / "tile")
    flip(out / "tile/0/001", 40)
    assert "does not hash to its leaf" in go_refuses(tlogcheck, "tiles", out, *keys)  # read through the tiles

    out = copy_of(published, tmp_path / "level-1")
    flip(out / "tile/1/000.p/2", 3)
    assert "tree hash from the tiles" in go_refuses(tlogcheck, "tiles", out, *keys)

    out = copy_of(published, tmp_path / "entry")
    flip(out / "tile/entries/000", 100)
    assert "does not hash to its leaf" in go_refuses(tlogcheck, "tiles", out, *keys)

    out = copy_of(published, tmp_path / "cosignature")
    text = (out / "checkpoint").read_text()
    witness_line = next(line for line in text.splitlines() if line.startswith("— witness."))
    name, sig = witness_line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[11] ^= 0x01  # the timestamp's last byte: the signed message changes
    forged = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    (out / "checkpoint").write_text(text.replace(witness_line, forged))
    assert "cosignature by witness.interop.example/w1 does not verify" in go_refuses(tlogcheck, "tiles", out, *keys)


def test_go_checks_our_inclusion_evidence(tlogcheck: Path, published: dict, tmp_path: Path) -> None:
    lines = ok("prove", "a-wide-run", "--log", published["db"], "--out", tmp_path, "--vkey", published["vkey"]).out
    event = next(tmp_path.glob("*.event"))
    proof = next(tmp_path.glob("*.tlog-proof"))
    answer = go(tlogcheck, "proof", event, proof, published["vkey"])
    assert answer["subject"] == "a-wide-run" and answer["index"] == answer["seq"] == 300, lines
    assert answer["origin"] == ORIGIN and answer["signers"] == ["log.interop.example"]
    flip(event, 50)
    assert "inclusion" in go_refuses(tlogcheck, "proof", event, proof, published["vkey"])


def test_go_checks_our_consistency_proofs(tlogcheck: Path, tmp_path: Path) -> None:
    """Checkpoints signed as a log grows through tile boundaries; every older one is proven a prefix
    of the last by `prove-consistency`, and Go checks each proof between the two signed roots."""
    db = tmp_path / "log.db"
    key, vkey = keygen(tmp_path, "log.interop.example")
    sizes, grown = (2, 17, 255, 256, 257, 300, 512), 1
    for size in sizes:
        make_log(db, size - grown, start=grown, origin=ORIGIN, items=1)
        grown = size
        (tmp_path / f"cp-{size}.txt").write_text(ok("checkpoint", "--key", key, "--log", db).out)
    last = tmp_path / f"cp-{sizes[-1]}.txt"
    for size in sizes[:-1]:
        proof = tmp_path / f"from-{size}.json"
        proof.write_text(ok("prove-consistency", "--from", size, "--log", db).out)
        assert go(tlogcheck, "consistency", proof, tmp_path / f"cp-{size}.txt", last, vkey) == \
            {"from": size, "to": sizes[-1]}
    doc = json.loads((tmp_path / "from-300.json").read_text())
    doc["proof"] = doc["proof"][::-1]
    (tmp_path / "reversed.json").write_text(json.dumps(doc))
    assert "consistency" in go_refuses(tlogcheck, "consistency", tmp_path / "reversed.json",
                                       tmp_path / "cp-300.txt", last, vkey)
