"""Checkpoints at the edges (attacker review 3): a signed checkpoint of size 0 covers no event, so it
anchors nothing, and its root must be the empty tree's (tlog-witness: a checkpoint of size zero MUST
have the root hash of the empty tree); the real CLI, in subprocesses."""

from __future__ import annotations

from pathlib import Path

from auditlog.core.checkpoint import Checkpoint
from auditlog.core.merkle import EMPTY_ROOT
from auditlog.services.keys import load_signer
from auditlog.services.signing import sign_checkpoint
from tests.integration.test_checkpoints import ORIGIN, Work, template, work  # noqa: F401 - the fixtures
from tests.publish.publish_support import keygen, make_log

from . import cli_support as s

__all__ = ["template", "work"]


def signed_empty(work: Work, root: bytes, name: str) -> Path:  # noqa: F811 - the fixture's type
    path = work.dir / name
    path.write_text(sign_checkpoint(Checkpoint(ORIGIN, 0, root), [load_signer(work.key)]))
    return path


def test_a_checkpoint_of_size_0_anchors_nothing(work: Work) -> None:  # noqa: F811 - the fixture
    """It said "anchored": true, "anchored_size": 0, and the TUI "INTACT, ANCHORED UP TO SIZE 0"."""
    text, report = work.verify("--checkpoint", signed_empty(work, EMPTY_ROOT, "cp0.txt"), "--vkey", work.vkey)
    assert text.code == 0, str(text)
    assert (report["anchored"], report["anchored_size"]) == (False, None), report
    assert "No checkpoint from outside the log covers any event" in text.out, text.out


def test_a_checkpoint_of_size_0_with_another_root_is_a_problem(work: Work) -> None:  # noqa: F811 - the fixture
    """Signed by the trusted key, with a root no tree of size 0 has: it was said to be extended."""
    text, report = work.verify("--checkpoint", signed_empty(work, b"\x07" * 32, "cp0.txt"), "--vkey", work.vkey)
    assert text.code == 1, str(text)
    [problem] = report["problems"]
    assert problem["kind"] == "checkpoint" and "cp0.txt" in problem["detail"], problem
    assert "empty tree" in problem["detail"], problem


def test_verify_from_takes_an_old_checkpoint_of_size_0(tmp_path: Path) -> None:
    """verify --from --checkpoint OLD of size 0 said the publication was truncated ("covers 0 events")."""
    db, out = tmp_path / "evals.db", tmp_path / "pub"
    make_log(db, 5)
    key, vkey = keygen(tmp_path)
    s.ok("publish", "--log", db, "--to", out, "--key", key)
    old = tmp_path / "old.txt"
    old.write_text(sign_checkpoint(Checkpoint("test.example/evals", 0, EMPTY_ROOT), [load_signer(key)]))
    s.ok("verify", "--from", out, "--vkey", vkey, "--checkpoint", old)
    old.write_text(sign_checkpoint(Checkpoint("test.example/evals", 0, b"\x07" * 32), [load_signer(key)]))
    s.one_line_error(s.cli("verify", "--from", out, "--vkey", vkey, "--checkpoint", old), 1, "old.txt", "empty tree")


def test_a_vkey_given_as_text_is_never_a_file_of_that_name(work: Work, tmp_path: Path) -> None:  # noqa: F811
    """--vkey takes a verifier key or a file holding one; the text was read as a file whenever a file of that name
    existed, so whoever could write the directory a check runs in (a checked-out pull request, in CI) put a file
    named exactly the log's verifier key there, holding their own key, and their checkpoint 'verified' under the
    key the auditor typed (attacker review 3). A text that is a verifier key is that key."""
    genuine = work.vkey.read_text().strip()
    s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "attacker.key")
    forged = tmp_path / "forged.txt"
    forged.write_bytes(s.ok("checkpoint", "--key", tmp_path / "attacker.key", "--log", work.db).stdout)
    workspace = tmp_path / "workspace"
    planted = workspace / genuine
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text((tmp_path / "attacker.vkey").read_text())
    done = s.cli("verify", "--log", work.db, "--checkpoint", forged, "--vkey", genuine, cwd=workspace)
    assert done.code == 1 and "no valid signature" in done.err, done
    witness = s.cli("verify", "--from", workspace, "--vkey", genuine, "--witness-vkey", genuine, cwd=workspace)
    assert witness.code == 2, witness  # read as the key itself: the log's own key, refused as a witness


def test_copy_says_what_it_checked(work: Work, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    """`copy` said "verified" of a log whose stored checkpoint is signed by a key nobody checked (here the
    attacker's): what it checks is verify's internal consistency, no signature (attacker review 3)."""
    s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "attacker.key")
    s.ok("checkpoint", "--key", tmp_path / "attacker.key", "--log", work.db)
    done = s.ok("copy", work.db, tmp_path / "copy.db")
    assert "verified" not in done.out and "internally consistent" in done.out, done.out
    assert "signatures not checked" in done.out, done.out
