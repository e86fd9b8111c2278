"""Signed checkpoints from the real CLI: keys, checkpoints, cosigning, rollback and truncation.

A template log of 40 events (so that stored Merkle subtrees exist) and two key pairs
made by `auditlog keygen` are built once; each test copies them and runs the real
commands in subprocesses. History is rewritten behind the library's back with sqlite3
(the append-only triggers dropped), the way someone holding the file could.
"""

from __future__ import annotations

import base64
import re
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditlog.core.checkpoint import Checkpoint, open_checkpoint
from auditlog.core.events import Event, parse_event, seal
from auditlog.core.merkle import TreeBuilder, leaf_hash
from auditlog.core.note import open_note, parse_verifier_key
from auditlog.core.verify_proof import verify_consistency
from auditlog.errors import ProofError
from auditlog.services.keys import load_signer
from auditlog.services.signing import Signer, sign_checkpoint
from tests.tampering import as_holder

from . import cli_support as s

ORIGIN = "example.org/evals"
SIZE = 40
LOG_KEY = "ci.example.org"
WITNESS_KEY = "witness.example"


@dataclass
class Work:
    dir: Path
    db: Path
    key: Path
    vkey: Path
    witness_key: Path
    witness_vkey: Path

    def log(self):  # noqa: ANN201
        from auditlog import AuditLog
        return AuditLog.open(self.db, create=False)

    def checkpoint(self, name: str = "cp.txt") -> Path:
        result = s.ok("checkpoint", "--key", self.key, "--log", self.db)
        path = self.dir / name
        path.write_bytes(result.stdout)
        return path

    def verify(self, *args: object) -> tuple[s.Result, dict]:
        text = s.cli("verify", "--log", self.db, *args)
        report = s.cli("verify", "--log", self.db, *args, "--output", "json")
        assert "Traceback" not in text.err + report.err, str(text) + str(report)
        assert text.code == report.code, str(text) + str(report)
        return text, report.json() if report.stdout else {}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from auditlog import AuditLog

    root = tmp_path_factory.mktemp("checkpoints")
    with AuditLog.open(root / "evals.db", origin=ORIGIN) as log:
        with log.writer() as w:
            for i in range(SIZE - 1):
                w.record_run(s.run_doc(f"run-{i}", project=("mmlu-pro", "gsm8k")[i % 2], seed=i))
        assert log.head().size == SIZE
    s.ok("keygen", "--name", LOG_KEY, "--out", root / "ci.key")
    s.ok("keygen", "--name", WITNESS_KEY, "--out", root / "witness.key")
    return root


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Work:
    for name in ("evals.db", "ci.key", "ci.vkey", "witness.key", "witness.vkey"):
        shutil.copy2(template / name, tmp_path / name)
    return Work(tmp_path, tmp_path / "evals.db", tmp_path / "ci.key", tmp_path / "ci.vkey",
                tmp_path / "witness.key", tmp_path / "witness.vkey")


def flip_signature_byte(note: str, line: int = 0) -> str:
    """Flip one bit of the Ed25519 signature (not the key id) in the line-th signature line."""
    body, _, sigs = note.partition("\n\n")
    sig_lines = sigs.splitlines(keepends=True)
    prefix, b64 = sig_lines[line].rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 0x01
    sig_lines[line] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    return body + "\n\n" + "".join(sig_lines)


# --- tampering behind the library's back ---------------------------------------------------




def rebuild_merkle(conn: sqlite3.Connection) -> None:
    """The merkle table as the library would have written it for the events now stored."""
    conn.execute("DELETE FROM merkle")
    builder = TreeBuilder()
    for (body,) in conn.execute("SELECT body FROM events ORDER BY seq").fetchall():
        for level, index, h in builder.append(leaf_hash(body)):
            if level >= 4:
                conn.execute("INSERT INTO merkle (level, idx, hash) VALUES (?, ?, ?)", (level, index, h))


def rewrite_history(db: Path, start: int = 5, *, drop_stored_checkpoints: bool = False) -> None:
    """Change the run at `start`, then re-hash and re-link every later event: a new, self-consistent chain."""
    with as_holder(db) as conn:
        rows = conn.execute("SELECT seq, hash, body FROM events ORDER BY seq").fetchall()
        prev = rows[start - 1][1]
        for seq, _hash, body in rows[start:]:
            event = parse_event(body)
            data = event.data
            if seq == start:
                data = dict(data, run=dict(data["run"], metrics={"accuracy": 0.99, "n": 4}))
            sealed = seal(Event(seq, event.ts, event.type, event.project, event.subject, event.actor, data, prev))
            conn.execute("UPDATE events SET hash = ?, body = ? WHERE seq = ?", (sealed.hash, sealed.body, seq))
            prev = sealed.hash
        rebuild_merkle(conn)
        if drop_stored_checkpoints:
            conn.execute("DELETE FROM checkpoints")


def truncate(db: Path, keep: int, *, drop_stored_checkpoints: bool = False) -> None:
    """Remove the events from seq `keep` on, and the subtree hashes that covered them."""
    with as_holder(db) as conn:
        conn.execute("DELETE FROM events WHERE seq >= ?", (keep,))
        conn.execute("DELETE FROM merkle WHERE ((idx + 1) << level) > ?", (keep,))
        if drop_stored_checkpoints:
            conn.execute("DELETE FROM checkpoints")


# --- keygen ------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_0600_and_a_vkey(tmp_path: Path) -> None:
    result = s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "k.key")
    key, vkey = tmp_path / "k.key", tmp_path / "k.vkey"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = key.read_text()
    assert text.startswith("name: ci.example.org\n-----BEGIN PRIVATE KEY-----\n")
    assert text.rstrip().endswith("-----END PRIVATE KEY-----")
    verifier = parse_verifier_key(vkey.read_text().strip())
    assert verifier.name == "ci.example.org"
    assert re.fullmatch(r"ci\.example\.org\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n", vkey.read_text())
    assert load_signer(key).verifier_key() == verifier.vkey
    assert verifier.vkey in result.out and "k.key" in result.out


def test_each_key_signs_only_in_the_role_it_was_made_for(work: Work, tmp_path: Path) -> None:
    """One Ed25519 key signs either way, but its .vkey is type 0x01 (note signatures) or 0x04 (a witness's
    tlog-cosignatures): a key used in the other role signs what its own .vkey never verifies. keygen writes
    `role: cosigner` into a witness's key; a key file without that line (made earlier) is told by its .vkey."""
    s.ok("keygen", "--cosigner", "--name", "w.example/1", "--out", tmp_path / "w.key")
    assert (tmp_path / "w.key").read_text().startswith("name: w.example/1\nrole: cosigner\n-----BEGIN PRIVATE KEY-----")
    cp = work.checkpoint()
    for args in (("checkpoint", "--log", work.db), ("cosign", cp, "--log", work.db),
                 ("publish", "--log", work.db, "--to", tmp_path / "pub")):
        s.one_line_error(s.cli(*args, "--key", tmp_path / "w.key"), 2, "w.key: a witness's key (keygen --cosigner)",
                         "sign checkpoints with a key made without --cosigner")
    assert not (tmp_path / "pub").exists()
    witness = ("witness", "--state", tmp_path / "state", "--origin", ORIGIN, "--vkey", work.vkey, "--checkpoint", cp)
    s.one_line_error(s.cli(*witness, "--key", work.witness_key), 2, "witness.key: made without --cosigner",
                     "make a witness key with `auditlog keygen --cosigner`")
    assert not (tmp_path / "state").exists()
    old_style = tmp_path / "old" / "w.key"  # a witness key written before the role line: its .vkey tells
    old_style.parent.mkdir()
    old_style.write_text((tmp_path / "w.key").read_text().replace("role: cosigner\n", ""))
    old_style.chmod(0o600)
    (tmp_path / "old" / "w.vkey").write_bytes((tmp_path / "w.vkey").read_bytes())
    assert s.cli(*witness, "--key", old_style).code == 0
    s.one_line_error(s.cli("checkpoint", "--log", work.db, "--key", old_style), 2, "a witness's key")


def test_keygen_refuses_to_overwrite(work: Work) -> None:
    before = (work.key.read_bytes(), work.vkey.read_bytes())
    s.one_line_error(s.cli("keygen", "--name", "other", "--out", work.key), 2, "already exists")
    assert (work.key.read_bytes(), work.vkey.read_bytes()) == before
    work.key.rename(work.dir / "moved.key")  # the .vkey alone is enough to refuse
    s.one_line_error(s.cli("keygen", "--name", "other", "--out", work.key), 2, "ci.vkey", "already exists")
    assert not work.key.exists() and work.vkey.read_bytes() == before[1]


def test_keygen_out_named_as_a_vkey_says_so(tmp_path: Path) -> None:
    """`--out ci.vkey` was refused with "ci.vkey: already exists (or is a link)", though nothing was there
    (both keys would have had that one path; new-user review 3)."""
    out = tmp_path / "ci.vkey"
    s.one_line_error(s.cli("keygen", "--name", "ci.example.org", "--out", out), 2, "--out", "verifier key's name",
                     str(tmp_path / "ci.key"))
    assert list(tmp_path.iterdir()) == []


# --- checkpoint, checkpoints, verify --checkpoint -----------------------------------------------


def test_checkpoint_opens_under_the_vkey_and_is_listed(work: Work) -> None:
    cp = work.checkpoint()
    note = cp.read_text()
    verifier = parse_verifier_key(work.vkey.read_text().strip())
    checkpoint = open_checkpoint(note, [verifier], origin=ORIGIN)
    with work.log() as log:
        assert (checkpoint.size, checkpoint.root) == (SIZE, log.root())
        [stored] = log.store.checkpoints()
    assert note.startswith(f"{ORIGIN}\n{SIZE}\n{base64.b64encode(checkpoint.root).decode()}\n\n— {LOG_KEY} ")
    assert stored.note == note and stored.size == SIZE and stored.root == checkpoint.root.hex()

    listed = s.ok("checkpoints", "--log", work.db, "--output", "json").json()
    assert [(c["id"], c["size"], c["root"], c["claimed_signers"]) for c in listed] == [(1, SIZE, checkpoint.root.hex(), LOG_KEY)]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", listed[0]["created"])
    table = s.ok("checkpoints", "--log", work.db).out
    assert LOG_KEY in table and f"{SIZE}" in table

    text, report = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    assert text.code == 0 and report["ok"] and report["checkpoints_checked"] == 2  # the stored one and cp.txt
    assert f"signed by {LOG_KEY}" in text.out and f"extends checkpoint {cp}" in text.out
    assert "cannot be excluded" not in text.out, "anchored by a checkpoint from outside the log, as large as it"
    assert report["anchored"] and report["anchored_size"] == SIZE
    # the vkey can also be given inline instead of as a file
    assert s.cli("verify", "--log", work.db, "--checkpoint", cp, "--vkey", verifier.vkey).code == 0


def test_a_checkpoint_needs_a_vkey_to_be_checked(work: Work) -> None:
    cp = work.checkpoint()
    s.one_line_error(s.cli("verify", "--log", work.db, "--checkpoint", cp), 2, "--vkey")


def test_the_log_may_grow_after_a_checkpoint(work: Work) -> None:
    cp = work.checkpoint()
    with work.log() as log:
        log.record_run(s.run_doc("later"))
    text, report = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    assert text.code == 0 and report["size"] == SIZE + 1, str(text)


# --- rollback and truncation -----------------------------------------------------------------


def test_a_rewritten_history_passes_the_chain_alone_but_not_the_checkpoint(work: Work) -> None:
    cp = work.checkpoint()
    rewrite_history(work.db, 5, drop_stored_checkpoints=True)

    text, report = work.verify()  # the attacker's log is self-consistent: the chain alone cannot tell
    assert text.code == 0 and report["ok"], str(text)

    text, report = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    assert text.code == 1 and not report["ok"], str(text)
    assert report["problem_count"] == 1
    problem = report["problems"][0]
    assert (problem["seq"], problem["kind"]) == (SIZE - 1, "checkpoint")
    assert "history was rewritten" in problem["detail"] and "cp.txt" in problem["detail"]
    assert text.out.startswith(f"seq {SIZE - 1}: checkpoint: checkpoint ")


def test_the_stored_checkpoint_alone_catches_a_rewrite(work: Work) -> None:
    """Why checkpoints are kept in the database: a plain `verify` then checks them too."""
    work.checkpoint()
    rewrite_history(work.db, 5)
    text, report = work.verify()
    assert text.code == 1, str(text)
    kinds = {(p["seq"], p["kind"]) for p in report["problems"]}
    assert kinds == {(SIZE - 1, "checkpoint")}
    assert "stored checkpoint #1" in report["problems"][0]["detail"]
    assert "history was rewritten" in report["problems"][0]["detail"]


def test_truncation_is_caught_by_the_checkpoint(work: Work) -> None:
    cp = work.checkpoint()
    truncate(work.db, 30, drop_stored_checkpoints=True)
    text, report = work.verify()
    assert text.code == 0 and report["size"] == 30, str(text)  # a shorter chain is still a chain

    text, report = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    assert text.code == 1, str(text)
    [problem] = report["problems"]
    assert (problem["seq"], problem["kind"]) == (30, "truncated")
    assert "cp.txt" in problem["detail"] and "covers 40 events" in problem["detail"]
    assert "only 30" in problem["detail"]


def test_truncation_is_caught_by_the_stored_checkpoint(work: Work) -> None:
    work.checkpoint()
    truncate(work.db, 33)
    text, report = work.verify()
    assert text.code == 1
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(33, "truncated")]


def test_truncation_then_regrowth_to_the_same_size(work: Work) -> None:
    """Remove the last events and append others: the size matches again, the root does not."""
    cp = work.checkpoint()
    truncate(work.db, 30, drop_stored_checkpoints=True)
    with work.log() as log, log.writer() as w:
        for i in range(SIZE - 30):
            w.record_run(s.run_doc(f"replacement-{i}"))
    text, report = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    assert text.code == 1
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(SIZE - 1, "checkpoint")]


def test_checkpoint_refuses_to_sign_a_tree_that_contradicts_one_it_signed(work: Work) -> None:
    """tlog-checkpoint: a log MUST not sign a checkpoint inconsistent with one it signed before. A rewrite
    (or a truncation regrown to any size) under a stored checkpoint: `checkpoint`, `prove --key` and
    `publish` (to any destination, an empty one too) refuse, before anything is written."""
    work.checkpoint()
    rewrite_history(work.db, 5)
    with work.log() as log, log.writer() as w:
        w.record_run(s.run_doc("after-the-rewrite"))
    for args in (("checkpoint",), ("prove", "run-10", "--out", work.dir / "e.json"), ("publish", "--to", work.dir / "pub")):
        refused = s.cli(*args, "--key", work.key, "--log", work.db)
        assert refused.code == 1, str(refused)
        assert "history was rewritten after it was checkpointed; refusing to sign" in refused.err
        assert "checkpoint #1, signed by ci.example.org" in refused.err
    assert not (work.dir / "e.json").exists() and not (work.dir / "pub").exists()
    with sqlite3.connect(work.db) as conn:
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone() == (1,)  # nothing signed or kept

    truncate(work.db, 30)
    for args in (("checkpoint",), ("publish", "--to", work.dir / "pub")):
        refused = s.cli(*args, "--key", work.key, "--log", work.db)
        assert refused.code == 1 and "covers 40 events; the log has 30" in refused.err, str(refused)
    assert not (work.dir / "pub").exists()
    # another key's checkpoints are not this key's promises: a new key may sign the log as it is now
    s.ok("keygen", "--name", "other.example", "--out", work.dir / "other.key")
    assert s.cli("checkpoint", "--key", work.dir / "other.key", "--log", work.db).code == 0


def test_checkpoint_signs_a_log_that_grew_from_the_ones_it_signed(work: Work) -> None:
    work.checkpoint("a.txt")
    with work.log() as log, log.writer() as w:
        w.record_run(s.run_doc("later"))
    second = work.checkpoint("b.txt")
    assert f"\n{SIZE + 1}\n" in second.read_text()
    assert work.checkpoint("c.txt").read_text() == second.read_text()  # the same tree, signed again


def test_stored_checkpoints_do_not_anchor_the_log_against_its_holder(work: Work) -> None:
    """The holder removes the last events and the stored checkpoint that covered them, keeping an older one:
    the chain still extends the older one, and verify says truncation cannot be excluded, as it is; the
    checkpoint kept outside the log catches it."""
    work.checkpoint("cp40.txt")
    with work.log() as log, log.writer() as w:
        for i in range(2):
            w.record_run(s.run_doc(f"late-{i}"))
    outside = work.checkpoint("cp42.txt")
    truncate(work.db, SIZE)
    with as_holder(work.db) as conn:
        conn.execute("DELETE FROM checkpoints WHERE size > ?", (SIZE,))
    text, report = work.verify("--vkey", work.vkey)
    assert text.code == 0 and not report["anchored"] and report["anchored_size"] is None, str(text)
    assert "extends stored checkpoint #1" in text.out and "truncation or a rewrite by its holder cannot be excluded" \
        in text.out
    text, report = work.verify("--checkpoint", outside, "--vkey", work.vkey)
    assert text.code == 1 and report["problems"][0]["kind"] == "truncated", str(text)


def test_a_checkpoint_from_outside_anchors_only_up_to_its_size(work: Work) -> None:
    cp = work.checkpoint()
    with work.log() as log, log.writer() as w:
        w.record_run(s.run_doc("later"))
    text, report = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    assert text.code == 0 and report["anchored"] and report["anchored_size"] == SIZE, str(text)
    assert f"1 event after size {SIZE} is covered by no checkpoint from outside the log" in text.out


def test_a_stored_checkpoint_with_a_forged_signature_by_the_trusted_key_is_reported(work: Work) -> None:
    """Anyone who can write the checkpoints table (a PostgreSQL writer role) can store a note that claims the
    CI key's signature: verify --vkey names it, and exits 1."""
    note = work.checkpoint().read_text()
    with as_holder(work.db) as conn:
        conn.execute("INSERT INTO checkpoints (size, root, note, created) SELECT size, root, ?, created FROM "
                     "checkpoints WHERE id = 1", (flip_signature_byte(note),))
    text, report = work.verify("--vkey", work.vkey)
    assert text.code == 1, str(text)
    [problem] = report["problems"]
    assert problem["kind"] == "checkpoint" and "stored checkpoint #2: bad signature by ci.example.org" in problem["detail"]
    assert work.verify()[0].code == 0, "without the key, a signature is not checked, and not claimed"


# --- the checkpoint itself is wrong ------------------------------------------------------------


def test_a_checkpoint_for_another_origin(work: Work) -> None:
    signer = load_signer(work.key)
    with work.log() as log:
        note = sign_checkpoint(Checkpoint("example.org/other-log", SIZE, log.root()), [signer])
    (work.dir / "other.txt").write_text(note)
    text, report = work.verify("--checkpoint", work.dir / "other.txt", "--vkey", work.vkey)
    s.one_line_error(text, 1, "'example.org/other-log'", repr(ORIGIN))


def test_a_checkpoint_signed_by_an_unknown_key(work: Work) -> None:
    stranger = Signer.generate("stranger.example")
    with work.log() as log:
        note = sign_checkpoint(Checkpoint(ORIGIN, SIZE, log.root()), [stranger])
    (work.dir / "stranger.txt").write_text(note)
    text, _ = work.verify("--checkpoint", work.dir / "stranger.txt", "--vkey", work.vkey)
    s.one_line_error(text, 1, "no valid signature by a known key", LOG_KEY)
    # both keys known: the message lists them
    text, _ = work.verify("--checkpoint", work.dir / "stranger.txt", "--vkey", work.vkey, "--vkey", work.witness_vkey)
    s.one_line_error(text, 1, f"known: {LOG_KEY}, {WITNESS_KEY}")


def test_a_bad_signature_by_a_known_key(work: Work) -> None:
    cp = work.checkpoint()
    cp.write_text(flip_signature_byte(cp.read_text()))
    text, _ = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    s.one_line_error(text, 1, f"bad signature by {LOG_KEY}")


def test_an_altered_checkpoint_body(work: Work) -> None:
    cp = work.checkpoint()
    cp.write_text(cp.read_text().replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n", 1))
    text, _ = work.verify("--checkpoint", cp, "--vkey", work.vkey)
    s.one_line_error(text, 1, f"bad signature by {LOG_KEY}")


# --- cosigning -------------------------------------------------------------------------------


def test_a_witness_cosigns(work: Work) -> None:
    cp = work.checkpoint()
    result = s.ok("cosign", cp, "--key", work.witness_key)
    cp2 = work.dir / "cp2.txt"
    cp2.write_bytes(result.stdout)
    note = cp2.read_text()
    assert note.startswith(cp.read_text()), "the log's signature is kept, the witness's added after it"
    assert note.count("\n— ") == 2 and f"\n— {WITNESS_KEY} " in note

    text, report = work.verify("--checkpoint", cp2, "--vkey", work.witness_vkey)
    assert text.code == 0 and report["ok"], str(text)
    log_v, witness_v = (parse_verifier_key(p.read_text().strip()) for p in (work.vkey, work.witness_vkey))
    opened = open_note(note, [log_v, witness_v])
    assert [sig.name for sig in opened.signatures] == [LOG_KEY, WITNESS_KEY]
    # the witness's signature alone does not vouch for the log's: flipping it fails under the witness key
    cp2.write_text(flip_signature_byte(note, line=1))
    s.one_line_error(work.verify("--checkpoint", cp2, "--vkey", work.witness_vkey)[0], 1, f"bad signature by {WITNESS_KEY}")
    assert work.verify("--checkpoint", cp2, "--vkey", work.vkey)[0].code == 0  # ignores what it does not know


def test_cosign_with_the_log_checks_it_and_keeps_the_note(work: Work) -> None:
    cp = work.checkpoint()
    result = s.ok("cosign", cp, "--key", work.witness_key, "--log", work.db)
    listed = s.ok("checkpoints", "--log", work.db, "--output", "json").json()
    assert [c["claimed_signers"] for c in listed] == [LOG_KEY, f"{LOG_KEY} {WITNESS_KEY}"]
    with work.log() as log:
        assert log.store.checkpoints()[-1].note == result.out


def test_cosign_refuses_a_checkpoint_that_does_not_match_the_log(work: Work) -> None:
    cp = work.checkpoint()
    rewrite_history(work.db, 5, drop_stored_checkpoints=True)
    before = s.fingerprint(work.db)
    result = s.cli("cosign", cp, "--key", work.witness_key, "--log", work.db)
    s.one_line_error(result, 1, f"first {SIZE} events do not have the checkpoint's root")
    assert result.stdout == b"" and s.fingerprint(work.db) == before

    signer = load_signer(work.key)
    with work.log() as log:
        root = log.root()
    for name, checkpoint, needle in [("other.txt", Checkpoint("example.org/other", SIZE, root), "origin"),
                                     ("big.txt", Checkpoint(ORIGIN, SIZE + 5, root), f"covers {SIZE + 5} events")]:
        (work.dir / name).write_text(sign_checkpoint(checkpoint, [signer]))
        result = s.cli("cosign", work.dir / name, "--key", work.witness_key, "--log", work.db)
        s.one_line_error(result, 1, needle)
        assert result.stdout == b"" and s.fingerprint(work.db) == before


def test_cosign_of_a_file_that_is_not_a_checkpoint_is_exit_2_naming_it(work: Work) -> None:
    """It was exit 1 ("integrity failure") with "malformed note: ...", naming no file (new-user review 3)."""
    other = work.dir / "run.json"
    other.write_text('{"project_id": "p"}\n')
    before = s.fingerprint(work.db)
    for extra in ([], ["--log", work.db]):
        result = s.cli("cosign", other, "--key", work.witness_key, *extra)
        s.one_line_error(result, 2, f"NOTE_FILE {other}: not a signed checkpoint")
        assert result.stdout == b""
    assert s.fingerprint(work.db) == before


# --- key file errors -------------------------------------------------------------------------


def _no_name_line(work: Work) -> Path:
    text = work.key.read_text()
    work.key.write_text(text[text.index("-----BEGIN"):])
    return work.key


def _truncated(work: Work) -> Path:
    work.key.write_text(work.key.read_text()[:120])
    return work.key


def _readable(work: Work) -> Path:
    work.key.chmod(0o644)
    return work.key


@pytest.mark.parametrize("damage, needle", [
    (_readable, "must be readable by its owner only (chmod 600"),
    (_truncated, "not a PKCS#8 PEM private key"),
    (_no_name_line, "no 'name: ...' line"),
])
def test_key_file_errors(work: Work, damage, needle: str) -> None:  # noqa: ANN001
    key = damage(work)
    before = s.fingerprint(work.db)
    result = s.cli("checkpoint", "--key", key, "--log", work.db)
    s.one_line_error(result, 2, str(key), needle)
    assert result.stdout == b"" and s.fingerprint(work.db) == before
    assert s.ok("checkpoints", "--log", work.db, "--output", "json").json() == []


def test_the_two_key_files_swapped_are_named_for_what_they_are(work: Work) -> None:
    """The verifier key as --key was told "a private key must be readable by its owner only (chmod 600
    ci.vkey)"; the private key as --vkey "verifier key must have the form name+keyid+keydata", naming
    no file (new-user review 3)."""
    before = s.fingerprint(work.db)
    line = s.one_line_error(s.cli("checkpoint", "--key", work.vkey, "--log", work.db), 2, str(work.vkey),
                            "is a verifier key (public), not a private key")
    assert "chmod" not in line
    other = work.dir / "notes.txt"
    other.write_text("hello\n")
    s.one_line_error(s.cli("checkpoint", "--key", other, "--log", work.db), 2, str(other),
                     "not a PKCS#8 PEM private key")
    assert s.fingerprint(work.db) == before
    cp = work.checkpoint()
    line = s.one_line_error(s.cli("verify", "--log", work.db, "--checkpoint", cp, "--vkey", work.key), 2,
                            str(work.key), "is a private key: give its verifier key")
    assert "PRIVATE KEY" not in line
    s.one_line_error(s.cli("verify", "--log", work.db, "--checkpoint", cp, "--vkey", other), 2, str(other),
                     "verifier key must have the form")


def test_a_key_without_a_name_line_works_with_name(work: Work) -> None:
    _no_name_line(work)
    cp = work.dir / "cp.txt"
    cp.write_bytes(s.ok("checkpoint", "--key", work.key, "--name", LOG_KEY, "--log", work.db).stdout)
    assert s.cli("verify", "--log", work.db, "--checkpoint", cp, "--vkey", work.vkey).code == 0


def test_passphrases(tmp_path: Path, work: Work) -> None:
    env = s.clean_env(AUDITLOG_KEY_PASSPHRASE="correct horse")
    s.ok("keygen", "--name", "locked.example", "--out", tmp_path / "locked.key", env=env)
    assert "ENCRYPTED PRIVATE KEY" in (tmp_path / "locked.key").read_text()
    before = s.fingerprint(work.db)
    unset = s.clean_env()
    unset.pop("AUDITLOG_KEY_PASSPHRASE", None)
    for environment, needle in [(s.clean_env(AUDITLOG_KEY_PASSPHRASE="wrong horse"), "wrong passphrase"),
                                (unset, "the key is encrypted: set $AUDITLOG_KEY_PASSPHRASE")]:
        result = s.cli("checkpoint", "--key", tmp_path / "locked.key", "--log", work.db, env=environment)
        s.one_line_error(result, 2, "locked.key", needle)
        assert result.stdout == b"" and s.fingerprint(work.db) == before
    note = s.ok("checkpoint", "--key", tmp_path / "locked.key", "--log", work.db, env=env).out
    assert open_checkpoint(note, [parse_verifier_key((tmp_path / "locked.vkey").read_text().strip())]).size == SIZE


def _vkey_variants(vkey: str) -> list[tuple[str, str, str]]:
    name, hex_id, data = vkey.split("+", 2)
    raw = base64.b64decode(data)
    other_id = f"{int(hex_id, 16) ^ 1:08x}"
    wrong_alg = base64.b64encode(b"\x02" + raw[1:]).decode()
    return [
        ("bad-hash", f"{name}+{other_id}+{data}", f"key id {other_id} does not match the key"),
        ("short-hash", f"{name}+{hex_id[:6]}+{data}", "is not 8 hex digits"),
        ("bad-base64", f"{name}+{hex_id}+{data[:-3]}*==", "not valid base64"),
        ("wrong-algorithm", f"{name}+{hex_id}+{wrong_alg}", "unsupported key algorithm 0x02"),
        ("no-fields", "just-a-name", "must have the form"),
    ]


@pytest.mark.parametrize("variant", ["bad-hash", "short-hash", "bad-base64", "wrong-algorithm", "no-fields"])
def test_malformed_vkeys(work: Work, variant: str) -> None:
    cp = work.checkpoint()
    [(_, bad, needle)] = [v for v in _vkey_variants(work.vkey.read_text().strip()) if v[0] == variant]
    bad_file = work.dir / "bad.vkey"
    bad_file.write_text(bad + "\n")
    for given in (bad_file, bad):
        if given == bad and "+" not in bad:
            continue  # without a '+' it is taken for a file name
        result = s.cli("verify", "--log", work.db, "--checkpoint", cp, "--vkey", given)
        s.one_line_error(result, 2, "verifier key", needle)


def test_a_missing_vkey_file(work: Work) -> None:
    cp = work.checkpoint()
    s.one_line_error(s.cli("verify", "--log", work.db, "--checkpoint", cp, "--vkey", work.dir / "nope.vkey"), 2,
                   "nope.vkey", "cannot read the verifier key")


# --- consistency proofs ----------------------------------------------------------------------


@pytest.mark.parametrize("m, n", [(1, 40), (5, 40), (16, 33), (17, 39), (32, 40), (40, 40), (7, None)])
def test_prove_consistency(work: Work, m: int, n: int | None) -> None:
    args = ["--to", n] if n is not None else []
    out = s.ok("prove-consistency", "--from", m, *args, "--log", work.db).json()
    n = SIZE if n is None else n
    assert (out["from"], out["to"]) == (m, n)
    proof = [base64.b64decode(h) for h in out["proof"]]
    with work.log() as log:
        root1, root2 = log.root(m), log.root(n)
    assert base64.b64decode(out["root_from"]) == root1 and base64.b64decode(out["root_to"]) == root2
    verify_consistency(m, n, proof, root1, root2)
    if not proof:
        assert m == n
        return
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 0x80]) + proof[i][1:]
        with pytest.raises(ProofError):
            verify_consistency(m, n, flipped, root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(m, n, proof, bytes([root1[0] ^ 1]) + root1[1:], root2)


def test_prove_consistency_bad_arguments(work: Work) -> None:
    s.one_line_error(s.cli("prove-consistency", "--from", 30, "--to", 20, "--log", work.db), 2, "--from")
    s.one_line_error(s.cli("prove-consistency", "--from", 5, "--to", SIZE + 1, "--log", work.db), 2,
                   f"no tree of size {SIZE + 1}")
    result = s.cli("prove-consistency", "--from", 0, "--log", work.db)
    assert result.code == 2 and "Traceback" not in result.err


# --- the proofs benchmark ----------------------------------------------------------------------


@pytest.mark.bench
def test_proofs_benchmark_quick_run_prints_its_ratios(quick_runs) -> None:  # noqa: ANN001
    done = quick_runs.benchmarks["proofs"]  # scripts/bench/proofs.py --quick, run once (tests/support/bench.py)
    tmp_path = quick_runs.cwd
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    ratios = [line for line in done.stdout.splitlines() if line.lstrip().startswith("ratio ")]
    for label in ("inclusion proof", "consistency proof", "checkpoint"):
        matching = [line for line in ratios if label in line]
        assert matching, f"no ratio line for {label!r} in:\n{done.stdout}"
        assert re.search(r": \d+(\.\d+)?x faster", matching[0]), matching[0]
        assert "target >= 100x" in matching[0] and ("met" in matching[0] or "MISSED" in matching[0])
    assert "full root recomputation" in done.stdout
    assert list(tmp_path.iterdir()) == [], "the benchmark cleans up after itself"
