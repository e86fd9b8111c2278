"""`auditlog publish` to a local directory, `verify --from`, and what a forged file does."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.integration.cli_support import cli
from tests.publish import spec_verifier
from tests.publish.publish_support import files, keygen, make_log


@pytest.fixture
def published(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """A log of 600 events (genesis + 599 runs) published: (log, destination, key, vkey)."""
    db = tmp_path / "evals.db"
    make_log(db, 599)
    key, vkey = keygen(tmp_path)
    out = tmp_path / "pub"
    done = cli("publish", "--log", db, "--to", out, "--key", key)
    assert done.code == 0, done
    return db, out, key, vkey


def test_the_layout_is_tlog_tiles_and_a_verifier_from_the_specs_accepts_it(published):
    db, out, _, vkey = published
    names = set(files(out))
    assert {"checkpoint", "tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2",
            "tile/entries/000", "tile/entries/001", "tile/entries/002.p/88",
            "projections/state.json", "projections/manifest.json", "projections/signed-state"} <= names
    size, entries = spec_verifier.check(out, vkey)
    assert size == 600
    with sqlite3.connect(db) as con:  # each leaf is exactly the stored event
        stored = [row[0] for row in con.execute("SELECT body FROM events ORDER BY seq")]
    assert entries == stored


def test_verify_from_accepts_the_published_log(published):
    _, out, _, vkey = published
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 0, done
    assert "600 events" in done.out and "chain intact" in done.out


def test_a_second_publish_writes_only_new_tiles_and_changed_files(published):
    db, out, key, vkey = published
    before = files(out)
    again = cli("publish", "--log", db, "--to", out, "--key", key, "-o", "json")
    assert again.code == 0, again
    assert again.json()["written"] == []
    assert files(out) == before
    make_log(db, 10, start=599)
    grown = cli("publish", "--log", db, "--to", out, "--key", key, "-o", "json")
    assert grown.code == 0, grown
    written = set(grown.json()["written"])
    assert {"tile/0/002.p/98", "tile/entries/002.p/98", "checkpoint"} <= written
    assert not written & {"tile/0/000", "tile/0/001", "tile/entries/000", "tile/entries/001", "tile/1/000.p/2"}
    after = files(out)
    assert all(after[name] == data for name, data in before.items() if name.startswith("tile/"))  # tiles never change
    assert spec_verifier.check(out, vkey)[0] == 610
    old = out.parent / "old-checkpoint"
    old.write_bytes(before["checkpoint"])
    extends = cli("verify", "--from", out, "--vkey", vkey, "--checkpoint", old)
    assert extends.code == 0, extends
    assert "extends checkpoint" in extends.out


@pytest.mark.parametrize("name", ["tile/0/001", "tile/entries/001", "tile/1/000.p/2"])
def test_a_forged_tile_or_entry_fails_naming_it(published, name):
    _, out, _, vkey = published
    path = out / name
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 1, done
    assert name in done.err and "Traceback" not in done.err
    assert len(done.err.strip().splitlines()) == 1


def test_a_forged_checkpoint_fails(published, tmp_path):
    _, out, _, vkey = published
    text = (out / "checkpoint").read_text()
    origin, size, root, rest = text.split("\n", 3)
    (out / "checkpoint").write_text("\n".join([origin, str(int(size) - 1), root, rest]))
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 1 and "checkpoint" in done.err and "bad signature" in done.err, done
    _, other = keygen(tmp_path, "someone.else")
    (out / "checkpoint").write_text(text)
    done = cli("verify", "--from", out, "--vkey", other)
    assert done.code == 1 and "checkpoint" in done.err, done


def test_a_rewritten_or_different_log_is_refused_and_nothing_changes(published, tmp_path):
    db, out, key, _ = published
    before = files(out)
    other = tmp_path / "other.db"
    make_log(other, 700)
    done = cli("publish", "--log", other, "--to", out, "--key", key)
    assert done.code == 5 and "another log" in done.err, done
    shorter = tmp_path / "short.db"
    make_log(shorter, 10)
    done = cli("publish", "--log", shorter, "--to", out, "--key", key)
    assert done.code == 5 and "roll it back" in done.err, done
    _, _ = keygen(tmp_path, "intruder")
    done = cli("publish", "--log", db, "--to", out, "--key", tmp_path / "intruder.key")
    assert done.code == 5 and "not this log's" in done.err, done
    assert files(out) == before


def test_the_published_checkpoint_is_kept_in_the_log_once(published, tmp_path):
    """The checkpoint a publish signs is kept in the log, as `checkpoint` keeps its own: listed by
    `checkpoints`, used by `prove` (no --key needed to prove a published run), and kept once only."""
    db, out, key, vkey = published
    listed = cli("checkpoints", "--log", db, "-o", "json")
    assert listed.code == 0, listed
    root = base64.b64decode((out / "checkpoint").read_text().splitlines()[2]).hex()
    assert [(c["size"], c["root"], c["claimed_signers"]) for c in listed.json()] == [(600, root, "log.example")]
    proved = cli("prove", "run-7", "--log", db, "--out", tmp_path / "evidence", "--vkey", vkey)
    assert proved.code == 0, proved
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0  # the same tree: nothing new kept
    make_log(db, 3, start=599)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    assert [c["size"] for c in cli("checkpoints", "--log", db, "-o", "json").json()] == [600, 603]


@pytest.mark.parametrize("first_publish", [True, False])
def test_bytes_altered_under_an_unchanged_subtree_are_not_published_nor_signed(tmp_path, first_publish):
    """The holder changes an event's bytes and its hash column but not the stored subtree above it (the
    stored root, and so a checkpoint, stay the same): publishing those bytes would sign a log whose
    entries do not hash to its tiles. Refused, exit 1, and no checkpoint of it reaches the destination."""
    from tests.tampering import as_holder

    db, out = tmp_path / "evals.db", tmp_path / "pub"
    make_log(db, 40)
    key, _ = keygen(tmp_path)
    if not first_publish:
        assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
        make_log(db, 40, start=40)  # the alteration is in what the second publish adds
    assert cli("history", "--log", db).code == 0  # projections folded before the alteration: they have it right
    before = files(out) if out.exists() else {}
    seq = 50 if not first_publish else 5
    with as_holder(db) as conn:
        (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()
        altered = body.replace(b'"passed":false', b'"passed":true', 1).replace(b'"passed": false', b'"passed": true', 1)
        assert altered != body
        conn.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?",
                     (altered, hashlib.sha256(altered).hexdigest(), seq))
    done = cli("publish", "--log", db, "--to", out, "--key", key)
    assert done.code == 1 and f"events {seq & ~15}..{(seq & ~15) + 15} do not hash to their stored Merkle subtree" \
        in done.err and "Traceback" not in done.err, done
    after = files(out) if out.exists() else {}
    assert after.get("checkpoint") == before.get("checkpoint"), "no checkpoint of the altered log is published"


def test_an_interrupted_publish_leaves_the_previous_state_valid(published):
    """Everything but the checkpoint written (a publish killed just before its last write): the
    old checkpoint still verifies, and the next publish finishes the job."""
    db, out, key, vkey = published
    old_checkpoint = (out / "checkpoint").read_bytes()
    make_log(db, 300, start=599)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    (out / "checkpoint").write_bytes(old_checkpoint)  # as if the last write never happened
    assert cli("verify", "--from", out, "--vkey", vkey).code == 0
    again = cli("publish", "--log", db, "--to", out, "--key", key, "-o", "json")
    assert again.code == 0, again
    assert "checkpoint" in again.json()["written"]
    assert spec_verifier.check(out, vkey)[0] == 900


def test_events_longer_than_a_bundle_entry_go_to_a_wide_bundle(tmp_path):
    """A run with many items is one event of more than 65,535 bytes: its bundle is written with
    uint32 lengths under entries-u32/, the standard bundle path is left absent (a standard client
    sees a missing bundle, never a wrong entry), and verify --from checks every leaf."""
    db = tmp_path / "big.db"
    make_log(db, 3, items=2000)
    key, vkey = keygen(tmp_path)
    out = tmp_path / "pub"
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    assert not (out / "tile/entries/000.p/4").exists()
    wide = (out / "entries-u32/000.p/4").read_bytes()
    assert int.from_bytes(wide[:4], "big") < 65536
    with sqlite3.connect(db) as con:
        bodies = [row[0] for row in con.execute("SELECT body FROM events ORDER BY seq")]
    assert max(len(b) for b in bodies) > 65535
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 0, done
    with pytest.raises(FileNotFoundError, match="tile/entries/000.p/4"):
        spec_verifier.check(out, vkey)  # a standard client: a missing bundle, not a wrong entry
    data = bytearray(wide)
    data[-3] ^= 1
    (out / "entries-u32/000.p/4").write_bytes(bytes(data))
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 1 and "entries-u32/000.p/4" in done.err, done


def test_bad_destinations_are_one_clear_line(tmp_path):
    db = tmp_path / "evals.db"
    make_log(db, 1)
    key, _ = keygen(tmp_path)
    for uri, words in [("ftp://host/x", "unknown scheme"), ("s3://", "BUCKET"), ("az://c/a/../b", "'..'")]:
        done = cli("publish", "--log", db, "--to", uri, "--key", key)
        assert done.code == 2 and words in done.err and "Traceback" not in done.err, (uri, done)


def test_json_report(published):
    db, out, key, _ = published
    report = json.loads(cli("publish", "--log", db, "--to", out, "--key", key, "-o", "json").out)
    assert report["size"] == 600 and report["previous_size"] == 600


def test_a_postgresql_log_publishes_the_same_files_as_its_sqlite_copy(pg_url, tmp_path):
    """The tiles depend on the events alone: a log copied to PostgreSQL publishes identical tiles."""
    import os
    db = tmp_path / "evals.db"
    make_log(db, 300)
    key, vkey = keygen(tmp_path)
    assert cli("copy", db, pg_url).code == 0
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for log, out in ((db, tmp_path / "a"), (pg_url, tmp_path / "b")):
        done = cli("publish", "--log", log, "--to", out, "--key", key, env=env)
        assert done.code == 0, done
    a, b = files(tmp_path / "a"), files(tmp_path / "b")
    tile_names = [n for n in a if n.startswith("tile/")]
    assert tile_names and all(a[n] == b.get(n) for n in tile_names)
    assert cli("verify", "--from", tmp_path / "b", "--vkey", vkey).code == 0


def test_entries_and_tiles_forged_together_still_break_the_chain_naming_the_bundle(tmp_path):
    """A holder of the storage (not of the key) who rewrites an entry and its level-0 tile to match:
    the tile above, or the root, or the chain catches it; the chain names the bundle."""
    import hashlib
    db = tmp_path / "evals.db"
    make_log(db, 20)
    key, vkey = keygen(tmp_path)
    out = tmp_path / "pub"
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    bundle = spec_verifier.read_bundle((out / "tile/entries/000.p/21").read_bytes())
    assert b'"subject":"run-4"' in bundle[5]
    bundle[5] = bundle[5].replace(b'"subject":"run-4"', b'"subject":"run-Z"')
    (out / "tile/entries/000.p/21").write_bytes(b"".join(len(e).to_bytes(2, "big") + e for e in bundle))
    (out / "tile/0/000.p/21").write_bytes(b"".join(hashlib.sha256(b"\x00" + e).digest() for e in bundle))
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 1 and "tile/entries/000.p/21" in done.err, done
