"""Witnesses: keygen --cosigner, `auditlog witness`, `verify --witness-vkey`, and old cosignatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_support import cli
from tests.publish import spec_verifier
from tests.publish.publish_support import keygen, make_log


@pytest.fixture
def world(tmp_path: Path):
    db = tmp_path / "evals.db"
    make_log(db, 299)
    key, vkey = keygen(tmp_path)
    wkey, wvkey = keygen(tmp_path, "witness.example/w1", cosigner=True)
    out = tmp_path / "pub"
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    return db, out, key, vkey, wkey, wvkey, tmp_path / "wstate"


def witness(world, *extra):
    _, out, _, vkey, wkey, _, state = world
    return cli("witness", "--key", wkey, "--state", state, "--origin", "test.example/evals", "--vkey", vkey,
               *(extra or ("--from", out)))


def test_cosigner_vkey_has_type_4(world):
    *_, wvkey, _ = world
    assert spec_verifier.vkey_parts(wvkey)[1] == 0x04


def test_witness_cosigns_and_a_spec_verifier_accepts_the_cosignature(world, tmp_path):
    db, out, key, vkey, _, wvkey, state = world
    done = witness(world)
    assert done.code == 0, done
    name, _, public = spec_verifier.vkey_parts(wvkey)
    assert spec_verifier.cosignature_time(done.out, name, public) > 1_700_000_000
    assert list(state.glob("*.json"))
    cosigned = tmp_path / "cosigned.txt"
    cosigned.write_text(done.out)
    back = cli("publish", "--log", db, "--to", out, "--key", key, "--cosigned", cosigned, "-o", "json")
    assert back.code == 0 and back.json()["written"] == ["checkpoint"], back
    assert (out / "checkpoint").read_text() == done.out
    assert cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey).code == 0
    assert cli("publish", "--log", db, "--to", out, "--key", key).out.count("0 files written") == 1  # kept
    # it extends: after more events, the witness checks consistency from the tiles
    make_log(db, 40, start=299)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    second = witness(world)
    assert second.code == 0, second
    assert "\n340\n" in second.out
    make_log(db, 1, start=339)
    stale = cli("publish", "--log", db, "--to", out, "--key", key, "--cosigned", cosigned)
    assert stale.code == 5 and "another tree" in stale.err, stale


def test_verify_requires_the_witnesses(world):
    _, out, _, vkey, _, wvkey, _ = world
    done = cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey)
    assert done.code == 1 and "0 of the 1 witnesses" in done.err, done
    assert cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey, "--witnesses", "0").code == 0


def test_a_rollback_or_a_fork_is_refused_naming_sizes_and_roots(world, tmp_path):
    db, out, key, vkey, _, _, _ = world
    small = out / "checkpoint"
    old_note = small.read_bytes()
    make_log(db, 20, start=299)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    assert witness(world).code == 0
    old_file = tmp_path / "old.cp"
    old_file.write_bytes(old_note)
    rollback = witness(world, "--checkpoint", old_file)
    assert rollback.code == 1 and "rollback" in rollback.err and "size 320" in rollback.err and "size 300" in rollback.err
    # a fork: another log under the same key and origin, as large as the cosigned one
    fork_db = tmp_path / "fork.db"
    make_log(fork_db, 319, start=1000)
    fork = cli("checkpoint", "--log", fork_db, "--key", key)
    fork_file = tmp_path / "fork.cp"
    fork_file.write_text(fork.out)
    refused = witness(world, "--checkpoint", fork_file)
    assert refused.code == 1 and "fork" in refused.err and "size 320" in refused.err, refused


def test_old_cosign_signatures_still_verify(world, tmp_path):
    _, out, _, vkey, _, _, _ = world
    old_witness, old_vkey = keygen(tmp_path, "old.witness")
    done = cli("cosign", out / "checkpoint", "--key", old_witness)
    assert done.code == 0, done
    (out / "checkpoint").write_text(done.out)
    ok = cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", old_vkey)
    assert ok.code == 0 and "witnessed by old.witness" in ok.out, ok


def test_a_forged_checkpoint_is_not_cosigned(world, tmp_path):
    _, out, _, _, _, _, state = world
    text = (out / "checkpoint").read_text().replace("\n300\n", "\n301\n")
    forged = tmp_path / "forged.cp"
    forged.write_text(text)
    done = witness(world, "--checkpoint", forged)
    assert done.code == 1 and "bad signature" in done.err, done
    assert not list(state.glob("*.json")) if state.exists() else True


def test_a_proof_file_is_read_as_tlog_witness_spells_it(world, tmp_path):
    """`old N` is a decimal without leading zeros, first; then 32-byte base64 hashes, nothing else; the old
    size must be the one the witness cosigned last, at most the checkpoint's, and 0 takes no proof."""
    db, out, key, _, _, _, _ = world
    assert witness(world).code == 0  # the witness is at 300 (the genesis and 299 runs)
    make_log(db, 20, start=299)
    note = tmp_path / "320.cp"
    note.write_text(cli("checkpoint", "--log", db, "--key", key).out)
    from auditlog.core.note import b64encode
    from auditlog.services.log import AuditLog
    with AuditLog.open(db, create=False) as log:
        hashes = [b64encode(h) for h in log.consistency_proof(300, 320)]
    proof = tmp_path / "proof.txt"
    for head, body, code, said in [
        ("old 0300", hashes, 2, "line 1"),
        ("old 3_00", hashes, 2, "line 1"),
        ("old 300", [*hashes[:1], "", *hashes[1:]], 2, "line 3"),
        ("old 300", [" " + hashes[0], *hashes[1:]], 2, "line 2"),
        ("old 0", hashes, 2, "from size 0"),
        ("old 999", hashes, 2, "above the checkpoint's size 320"),
        ("old 299", hashes, 1, "cosigned size 300 last"),
        ("old 300", hashes[1:], 1, "fork refused"),
    ]:
        proof.write_text("\n".join([head, *body]) + "\n")
        done = witness(world, "--checkpoint", note, "--proof", proof)
        assert done.code == code and said in done.err, (head, done)
    proof.write_text("\n".join(["old 300", *hashes]) + "\n")
    done = witness(world, "--checkpoint", note, "--proof", proof)
    assert done.code == 0 and "\n320\n" in done.out, done


def test_a_tlog_witness_request_body_is_taken_whole(world, tmp_path):
    _, out, _, _, _, _, _ = world
    request = tmp_path / "request.txt"
    request.write_bytes(b"old 0\n\n" + (out / "checkpoint").read_bytes())
    done = witness(world, "--request", request)
    assert done.code == 0 and "\n300\n" in done.out, done
    again = witness(world, "--request", request)  # the witness is at 300 now: old 0 is not its size
    assert again.code == 1 and "cosigned size 300 last" in again.err, again
    request.write_bytes(b"old 300\n\n" + (out / "checkpoint").read_bytes())
    assert witness(world, "--request", request).code == 0
    request.write_bytes(b"old 300\n" + (out / "checkpoint").read_bytes())
    malformed = witness(world, "--request", request)
    assert malformed.code == 2 and "request line 2: not a consistency proof hash" in malformed.err, malformed


def test_a_key_trusted_for_one_log_cannot_move_another_logs_record(world, tmp_path):
    """The witness witnesses one origin (--origin): a checkpoint of another origin is refused whoever signed it,
    so the key of another log it also witnesses (sharing the state) cannot rewrite this origin's record."""
    _, out, _, _, wkey, _, state = world
    assert witness(world).code == 0  # test.example/evals at 300
    other_db = tmp_path / "other.db"
    make_log(other_db, 5, origin="other.example/log")
    other_key, other_vkey = keygen(tmp_path, "other.example")
    forged_db = tmp_path / "forged.db"  # test.example/evals, forked, signed by the other log's key
    make_log(forged_db, 400, start=5000)
    forged = tmp_path / "forged.cp"
    forged.write_text(cli("checkpoint", "--log", forged_db, "--key", other_key).out)
    done = cli("witness", "--key", wkey, "--state", state, "--origin", "other.example/log", "--vkey", other_vkey,
               "--checkpoint", forged)
    assert done.code == 1 and "differs from the expected 'other.example/log'" in done.err, done
    records = [__import__("json").loads(p.read_text()) for p in state.glob("*.json")]
    assert [(r["origin"], r["size"]) for r in records] == [("test.example/evals", 300)]
    other = tmp_path / "other.cp"
    other.write_text(cli("checkpoint", "--log", other_db, "--key", other_key).out)
    assert cli("witness", "--key", wkey, "--state", state, "--origin", "other.example/log", "--vkey", other_vkey,
               "--checkpoint", other).code == 0  # its own log, it may
