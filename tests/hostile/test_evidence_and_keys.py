"""Hostile evidence and key files (issue 12, classes 5, 7 and 10), with the real CLI, real files
and real symbolic links.

- Evidence from another log signed by the same key: `verify-proof` needs the expected origin
  (`--origin`, or a pinned `--trust` file) and refuses evidence for any other.
- Run ids that clean to the same file name (`x::y` and `x:y`, `..` and `.`, long ids with a
  common prefix) get evidence files of their own; `prove` never replaces a file unless `--force`.
- `prove` refuses a stored checkpoint it cannot check against the log's key, naming it.
- `keygen` never writes through a symbolic link, dangling or not, and leaves nothing half-made.
- An unencrypted key with $AUDITLOG_KEY_PASSPHRASE set is refused with the true reason.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

from auditlog.core.checkpoint import Checkpoint
from auditlog.services.signing import Signer, sign_checkpoint

from .hostile_support import cli_support as s

KEY = "ci.example.org"
ORIGIN_A, ORIGIN_B = "a.example.org/evals", "b.example.org/evals"
COLLIDING = [("x::y", "x:y"), ("..", "."), ("x" * 200 + "-a", "x" * 200 + "-b"), ("Run", "run")]


def stem(run_id: str) -> str:
    """The documented evidence file name: cleaned run id, '-', 12 hex of SHA-256(run id)."""
    import re
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._") or "event"
    return f"{cleaned[:120]}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


def make_log(db: Path, origin: str, run_ids: list[str]) -> None:
    s.ok("init", "--origin", origin, "--log", db)
    for i, run_id in enumerate(run_ids):
        s.ok("append", "run", s.write_json(db.parent / f"doc-{i}.json", s.run_doc(run_id, seed=i)), "--log", db)


@pytest.fixture(scope="module")
def two_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logs A and B, each with a run 'shared-run', checkpointed by one and the same key."""
    root = tmp_path_factory.mktemp("two-logs")
    s.ok("keygen", "--name", KEY, "--out", root / "ci.key")
    for name, origin in (("a", ORIGIN_A), ("b", ORIGIN_B)):
        make_log(root / f"{name}.db", origin, [f"{name}-only", "shared-run"])
        s.ok("checkpoint", "--key", root / "ci.key", "--log", root / f"{name}.db")
        s.ok("prove", "shared-run", "--log", root / f"{name}.db", "--out", root / f"evidence-{name}",
             "--vkey", root / "ci.vkey")
    return root


def evidence(root: Path, log: str, run_id: str = "shared-run") -> tuple[Path, Path]:
    base = root / f"evidence-{log}" / stem(run_id)
    return base.with_suffix(".event"), base.with_suffix(".tlog-proof")


# --- evidence from another log signed by the same key ---------------------------------------


def test_evidence_from_another_log_with_the_same_key_is_refused(two_logs: Path) -> None:
    event_b, proof_b = evidence(two_logs, "b")
    vkey = two_logs / "ci.vkey"
    # the expected origin given: log B's evidence is not log A's
    line = s.one_line_error(s.cli("verify-proof", event_b, proof_b, "--vkey", vkey, "--origin", ORIGIN_A), 1)
    assert ORIGIN_A in line and ORIGIN_B in line
    # no expected origin at all: refused before anything is accepted, saying what is missing and why
    line = s.one_line_error(s.cli("verify-proof", event_b, proof_b, "--vkey", vkey), 2, "--origin", "--trust",
                          "another log signed by the same key")
    # the same evidence is fine for the log it is from
    assert s.ok("verify-proof", event_b, proof_b, "--vkey", vkey, "--origin", ORIGIN_B).out.startswith("ok: ")
    event_a, proof_a = evidence(two_logs, "a")
    assert f"is in the log {ORIGIN_A} " in s.ok("verify-proof", event_a, proof_a, "--vkey", vkey,
                                                "--origin", ORIGIN_A, "-o", "text").out


def test_a_trust_file_pins_origin_and_key(two_logs: Path, tmp_path: Path) -> None:
    vkey_text = (two_logs / "ci.vkey").read_text().strip()
    trust_a = tmp_path / "a.trust"
    trust_a.write_text(f"# log A, as pinned by its auditor\norigin {ORIGIN_A}\n\nvkey {vkey_text}\n")
    event_a, proof_a = evidence(two_logs, "a")
    event_b, proof_b = evidence(two_logs, "b")
    report = s.ok("verify-proof", event_a, proof_a, "--trust", trust_a, "-o", "json").json()
    assert (report["origin"], report["subject"], report["signers"]) == (ORIGIN_A, "shared-run", [KEY])
    line = s.one_line_error(s.cli("verify-proof", event_b, proof_b, "--trust", trust_a), 1)
    assert ORIGIN_A in line and ORIGIN_B in line
    # --origin and --trust together: which one counts would be a guess
    s.one_line_error(s.cli("verify-proof", event_a, proof_a, "--trust", trust_a, "--origin", ORIGIN_A), 2, "--trust")


@pytest.mark.parametrize("content, needle", [
    (f"origin {ORIGIN_A}\n", "at least one 'vkey'"),
    ("vkey {vkey}\n", "exactly one 'origin'"),
    (f"origin {ORIGIN_A}\norigin {ORIGIN_B}\nvkey {{vkey}}\n", "exactly one 'origin'"),
    (f"origin {ORIGIN_A}\nvkey {{vkey}}\nkey ci.key\n", "line 3"),
    (f"origin {ORIGIN_A}\nvkey not-a-key\n", "line 2"),
    ("\xff\xfe", "not UTF-8"),
])
def test_a_malformed_trust_file_is_one_clear_line(two_logs: Path, tmp_path: Path, content: str, needle: str) -> None:
    trust = tmp_path / "bad.trust"
    data = content.replace("{vkey}", (two_logs / "ci.vkey").read_text().strip())
    trust.write_bytes(data.encode("latin-1") if "\xff" in data else data.encode())
    event_a, proof_a = evidence(two_logs, "a")
    result = s.cli("verify-proof", event_a, proof_a, "--trust", trust)
    s.one_line_error(result, 2, str(trust), needle)
    assert result.stdout == b""


def test_prove_prints_a_verify_command_that_works(two_logs: Path, tmp_path: Path) -> None:
    out = s.ok("prove", "a-only", "--log", two_logs / "a.db", "--out", tmp_path / "ev", "--vkey", two_logs / "ci.vkey").out
    lines = out.splitlines()
    assert lines[0] == str(tmp_path / "ev" / f"{stem('a-only')}.event")
    assert lines[1] == str(tmp_path / "ev" / f"{stem('a-only')}.tlog-proof")
    [command] = [line for line in lines if line.startswith("check it with: ")]
    argv = shlex.split(command[len("check it with: "):])
    assert argv[:2] == ["auditlog", "verify-proof"] and argv[argv.index("--origin") + 1] == ORIGIN_A
    assert s.ok(*argv[1:]).out.startswith("ok: run.recorded a-only ")


# --- run ids that clean to one file name ------------------------------------------------------


@pytest.fixture(scope="module")
def colliding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("colliding")
    s.ok("keygen", "--name", KEY, "--out", root / "ci.key")
    make_log(root / "evals.db", ORIGIN_A, [run_id for pair in COLLIDING for run_id in pair])
    s.ok("checkpoint", "--key", root / "ci.key", "--log", root / "evals.db")
    return root


@pytest.mark.parametrize("pair", COLLIDING, ids=["colons", "dots", "long-prefix", "case"])
def test_run_ids_that_clean_alike_get_their_own_evidence(colliding: Path, tmp_path: Path,
                                                         pair: tuple[str, str]) -> None:
    out = tmp_path / "evidence"
    written = {}
    for run_id in pair:
        result = s.ok("prove", run_id, "--log", colliding / "evals.db", "--out", out, "--vkey", colliding / "ci.vkey")
        written[run_id] = (Path(result.out.splitlines()[0]), Path(result.out.splitlines()[1]))
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 4, files  # two runs, two files each: nothing overwritten
    assert written[pair[0]][0] != written[pair[1]][0]
    for run_id, (event, proof) in written.items():
        assert event.parent == out and event.name == f"{stem(run_id)}.event"
        assert json.loads(event.read_bytes())["subject"] == run_id
        report = s.ok("verify-proof", event, proof, "--vkey", colliding / "ci.vkey", "--origin", ORIGIN_A,
                      "-o", "json").json()
        assert report["subject"] == run_id


def test_prove_refuses_to_overwrite_evidence(colliding: Path, tmp_path: Path) -> None:
    db, vkey, out = colliding / "evals.db", colliding / "ci.vkey", tmp_path / "evidence"
    first = s.ok("prove", "x::y", "--log", db, "--out", out, "--vkey", vkey)
    event, proof = Path(first.out.splitlines()[0]), Path(first.out.splitlines()[1])
    before = (event.read_bytes(), proof.read_bytes())
    event.write_bytes(b"an auditor's annotated copy")
    s.one_line_error(s.cli("prove", "x::y", "--log", db, "--out", out, "--vkey", vkey), 5, str(event),
                   "already exists", "--force")
    assert event.read_bytes() == b"an auditor's annotated copy" and proof.read_bytes() == before[1]
    # only the proof there: the event file is not written either (no half pair)
    event.unlink()
    s.one_line_error(s.cli("prove", "x::y", "--log", db, "--out", out, "--vkey", vkey), 5, str(proof))
    assert not event.exists() and sorted(p.name for p in out.iterdir()) == [proof.name]
    # --force replaces both
    s.ok("prove", "x::y", "--log", db, "--out", out, "--vkey", vkey, "--force")
    assert (event.read_bytes(), proof.read_bytes()) == before
    assert sorted(p.name for p in out.iterdir()) == sorted([event.name, proof.name])  # no temporary left


def test_prove_never_writes_through_a_link_in_the_way(colliding: Path, tmp_path: Path) -> None:
    db, vkey, out = colliding / "evals.db", colliding / "ci.vkey", tmp_path / "evidence"
    out.mkdir()
    target = tmp_path / "elsewhere.event"
    link = out / f"{stem('x:y')}.event"
    link.symlink_to(target)  # dangling
    s.one_line_error(s.cli("prove", "x:y", "--log", db, "--out", out, "--vkey", vkey), 5, "already exists")
    assert not target.exists() and link.is_symlink()
    s.ok("prove", "x:y", "--log", db, "--out", out, "--vkey", vkey, "--force")
    assert not target.exists() and not link.is_symlink()  # the link replaced, nothing written where it pointed
    assert json.loads(link.read_bytes())["subject"] == "x:y"


# --- prove and the stored checkpoint ----------------------------------------------------------


def _store_checkpoint(db: Path, note: str) -> None:
    """Write a note into the log's checkpoint table, as someone holding the file could."""
    from auditlog import AuditLog
    from auditlog.core.checkpoint import parse_checkpoint
    from auditlog.core.note import unverified_note

    checkpoint = parse_checkpoint(unverified_note(note)[0])
    with AuditLog.open(db, create=False) as log:
        with log.store.transaction(30.0) as txn:
            txn.add_checkpoint(checkpoint.size, checkpoint.root.hex(), note, "2024-06-01T00:00:00.000000Z")


def _root(db: Path) -> tuple[int, bytes]:
    from auditlog import AuditLog
    with AuditLog.open(db, create=False) as log:
        size = log.head().size
        return size, log.root(size)


@pytest.fixture
def lone_log(tmp_path: Path) -> Path:
    s.ok("keygen", "--name", KEY, "--out", tmp_path / "ci.key")
    make_log(tmp_path / "evals.db", ORIGIN_A, ["run-1", "run-2"])
    return tmp_path


def test_prove_without_a_key_to_check_the_stored_checkpoint_says_so(lone_log: Path) -> None:
    s.ok("checkpoint", "--key", lone_log / "ci.key", "--log", lone_log / "evals.db")
    before = s.fingerprint(lone_log / "evals.db")
    s.one_line_error(s.cli("prove", "run-1", "--log", lone_log / "evals.db", "--out", lone_log / "out"), 2,
                   "stored checkpoint #1", "--vkey", "--key")
    assert not (lone_log / "out").exists() and s.fingerprint(lone_log / "evals.db") == before


def test_prove_refuses_a_stored_checkpoint_signed_by_another_key(lone_log: Path) -> None:
    db = lone_log / "evals.db"
    s.ok("checkpoint", "--key", lone_log / "ci.key", "--log", db)
    size, root = _root(db)
    forger = Signer.generate(KEY)  # same name, other key: looks right in `auditlog checkpoints`
    _store_checkpoint(db, sign_checkpoint(Checkpoint(ORIGIN_A, size, root), [forger]))
    s.one_line_error(s.cli("prove", "run-1", "--log", db, "--out", lone_log / "out", "--vkey", lone_log / "ci.vkey"),
                   1, "refusing the stored checkpoint #2", "no valid signature by a known key")
    assert not (lone_log / "out").exists()
    # with --key, a fresh checkpoint by the log's key is made and used instead
    s.ok("prove", "run-1", "--log", db, "--out", lone_log / "out", "--key", lone_log / "ci.key")


def test_prove_refuses_a_stored_checkpoint_with_a_broken_signature(lone_log: Path) -> None:
    db = lone_log / "evals.db"
    note = s.ok("checkpoint", "--key", lone_log / "ci.key", "--log", db).out
    body, _, signature = note.rpartition("\n\n")
    flipped = signature[:-10] + ("A" if signature[-10] != "A" else "B") + signature[-9:]
    _store_checkpoint(db, f"{body}\n\n{flipped}")
    s.one_line_error(s.cli("prove", "run-1", "--log", db, "--out", lone_log / "out", "--vkey", lone_log / "ci.vkey"),
                   1, "refusing the stored checkpoint #2", f"bad signature by {KEY}")
    assert not (lone_log / "out").exists()


def test_prove_refuses_a_stored_checkpoint_of_another_log(lone_log: Path) -> None:
    """Signed by the right key, for the right size and root, but naming another origin."""
    db = lone_log / "evals.db"
    size, root = _root(db)
    from auditlog.services.keys import load_signer
    _store_checkpoint(db, sign_checkpoint(Checkpoint(ORIGIN_B, size, root), [load_signer(lone_log / "ci.key")]))
    line = s.one_line_error(s.cli("prove", "run-1", "--log", db, "--out", lone_log / "out", "--vkey",
                                lone_log / "ci.vkey"), 1, "refusing the stored checkpoint #1")
    assert ORIGIN_A in line and ORIGIN_B in line
    assert not (lone_log / "out").exists()


# --- keygen and symbolic links -----------------------------------------------------------------


@pytest.mark.parametrize("at", ["vkey", "key"])
def test_keygen_does_not_follow_a_dangling_symlink(tmp_path: Path, at: str) -> None:
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "planted"
    key, vkey = tmp_path / "ci.key", tmp_path / "ci.vkey"
    link = vkey if at == "vkey" else key
    link.symlink_to(target)
    s.one_line_error(s.cli("keygen", "--name", KEY, "--out", key), 2, str(link), "symbolic link")
    assert not target.exists(), "written through the link"
    assert link.is_symlink()
    other = key if at == "vkey" else vkey
    assert not other.exists() and not other.is_symlink(), "nothing half-made stays"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["elsewhere", link.name])


def test_keygen_removes_the_private_key_if_the_vkey_cannot_be_made(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The link appears after the check (a race): the exclusive, no-follow open still refuses it."""
    import os

    from auditlog.errors import InvalidInput
    from auditlog.services import keys as checkpoints

    target = tmp_path / "planted"
    (tmp_path / "ci.vkey").symlink_to(target)
    monkeypatch.setattr(checkpoints.os.path, "lexists", lambda path: False)
    monkeypatch.setattr(checkpoints.Path, "is_symlink", lambda self: False)
    with pytest.raises(InvalidInput, match="already exists"):
        checkpoints.generate_key(KEY, tmp_path / "ci.key")
    assert not target.exists()
    assert not os.path.lexists(tmp_path / "ci.key"), "the private key was left behind"


def test_keygen_over_an_existing_file_is_refused(tmp_path: Path) -> None:
    """A regression guard: a plain file at either name (or a link to one) is never replaced."""
    key, vkey = tmp_path / "ci.key", tmp_path / "ci.vkey"
    vkey.write_text("mine\n")
    s.one_line_error(s.cli("keygen", "--name", KEY, "--out", key), 2, str(vkey), "already exists")
    assert vkey.read_text() == "mine\n" and not key.exists()
    vkey.unlink()
    real = tmp_path / "real.key"
    real.write_text("precious\n")
    key.symlink_to(real)
    s.one_line_error(s.cli("keygen", "--name", KEY, "--out", key), 2, str(key))
    assert real.read_text() == "precious\n" and not vkey.exists()


# --- passphrases ----------------------------------------------------------------------------


def test_an_unencrypted_key_with_a_passphrase_set_gives_the_true_reason(lone_log: Path) -> None:
    db = lone_log / "evals.db"
    env = s.clean_env(AUDITLOG_KEY_PASSPHRASE="correct horse")
    before = s.fingerprint(db)
    for args in (["checkpoint", "--key", lone_log / "ci.key", "--log", db],
                 ["prove", "run-1", "--key", lone_log / "ci.key", "--log", db, "--out", lone_log / "out"]):
        line = s.one_line_error(s.cli(*args, env=env), 2, f"{lone_log / 'ci.key'} is not encrypted",
                              "$AUDITLOG_KEY_PASSPHRASE is set")
        assert "the key is encrypted" not in line
    assert s.fingerprint(db) == before and not (lone_log / "out").exists()
