"""A `--checkpoint FILE` (report, tui, verify) or an evidence file (verify-proof) the command cannot use:
the one error line names the file, and a file that is not a checkpoint (or a tlog-proof) at all is invalid
input, exit 2, while a well-formed one whose signature, origin or proof fails stays an integrity failure,
exit 1 (new-user review 2, finding 6: "malformed note: no blank line before the signatures", exit 1, and
with two files given no way to tell which one was meant)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.integration.cli_support import cli, fingerprint, ok, one_line_error

# verify and verify-proof load their files in cli/integrity.py, which this branch leaves alone: they name
# the file once that module calls services.checkpoints.checkpoint_anchors / verify_evidence_files.

@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("cpfiles")
    ok("demo", "--log", "d.db", cwd=where)
    ok("keygen", "--name", "ci.example.org", "--out", "ci.key", cwd=where)
    ok("keygen", "--name", "other.org", "--out", "other.key", cwd=where)
    (where / "good.txt").write_text(ok("checkpoint", "--key", "ci.key", "--log", "d.db", cwd=where).out)
    (where / "garbage.txt").write_text("garbage\n")
    lines = (where / "good.txt").read_text().split("\n")  # origin, size, root, "", signature, ""
    (where / "bad-size.txt").write_text("\n".join([lines[0], "0" + lines[1], *lines[2:]]))  # not a checkpoint body
    other_root = base64.b64encode(bytes(32)).decode()
    (where / "other-root.txt").write_text("\n".join([*lines[:2], other_root, *lines[3:]]))  # well-formed, signature fails
    return where


def run(command: str, work: Path, *args: str) -> object:
    """`command --log d.db ARGS`; report writes r.html (which a refusal must not)."""
    extra = ["--out", "r.html"] if command == "report" else []
    return cli(command, "--log", "d.db", *extra, *args, cwd=work)


COMMANDS = ["report", "tui", "verify"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", ["garbage.txt", "bad-size.txt"])
def test_a_file_that_is_not_a_checkpoint_is_exit_2_naming_it(work, command, bad):
    before = fingerprint(work / "d.db")
    done = run(command, work, "--checkpoint", "good.txt", "--checkpoint", bad, "--vkey", "ci.vkey")
    line = one_line_error(done, 2, f"--checkpoint {bad}: not a signed checkpoint")
    assert "good.txt" not in line
    assert fingerprint(work / "d.db") == before and not (work / "r.html").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_checkpoint_no_given_key_signed_is_exit_1_naming_it(work, command):
    done = run(command, work, "--checkpoint", "good.txt", "--vkey", "other.vkey")
    one_line_error(done, 1, "--checkpoint good.txt: note has no valid signature by a known key (known: other.org)")
    assert not (work / "r.html").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_checkpoint_whose_signature_fails_is_exit_1_naming_it(work, command):
    done = run(command, work, "--checkpoint", "good.txt", "--checkpoint", "other-root.txt", "--vkey", "ci.vkey")
    one_line_error(done, 1, "--checkpoint other-root.txt: bad signature by ci.example.org")
    assert not (work / "r.html").exists()


def test_report_with_a_good_checkpoint_still_works(work):
    done = run("report", work, "--checkpoint", "good.txt", "--vkey", "ci.vkey")
    assert done.code == 0 and (work / "r.html").exists(), done
    (work / "r.html").unlink()


# --- verify-proof's evidence ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def evidence(work: Path) -> tuple[Path, Path, str]:
    ok("prove", "--seq", "3", "--log", "d.db", "--out", "ev", "--vkey", "ci.vkey", cwd=work)
    (event,) = (work / "ev").glob("*.event")
    (proof,) = (work / "ev").glob("*.tlog-proof")
    origin = (work / "good.txt").read_text().split("\n")[0]
    ok("verify-proof", event, proof, "--vkey", "ci.vkey", "--origin", origin, cwd=work)
    return event, proof, origin


@pytest.mark.parametrize("change", [
    lambda text: text.replace("@v1", "@v2", 1),  # the header
    lambda text: text.replace("— ci.example.org", "- ci.example.org"),  # the checkpoint's signature line
], ids=["header", "note"])
def test_a_proof_file_that_is_not_a_tlog_proof_is_exit_2_naming_it(work, evidence, change, tmp_path):
    event, proof, origin = evidence
    (tmp_path / "p").write_text(change(proof.read_text()))
    done = cli("verify-proof", event, tmp_path / "p", "--vkey", "ci.vkey", "--origin", origin, cwd=work)
    one_line_error(done, 2, f"{tmp_path / 'p'}: malformed evidence")


def test_verify_proof_names_the_file(work, evidence, tmp_path):
    event, proof, origin = evidence
    (tmp_path / "n").write_bytes(b"\xff" + proof.read_bytes())
    one_line_error(cli("verify-proof", event, tmp_path / "n", "--vkey", "ci.vkey", "--origin", origin, cwd=work),
                   2, f"{tmp_path / 'n'}: not a tlog-proof: not UTF-8")
    one_line_error(cli("verify-proof", event, proof, "--vkey", "other.vkey", "--origin", origin, cwd=work),
                   1, f"{proof}: note has no valid signature by a known key")
    (tmp_path / "e").write_bytes(event.read_bytes().replace(b'"seq":3', b'"seq":4'))
    one_line_error(cli("verify-proof", tmp_path / "e", proof, "--vkey", "ci.vkey", "--origin", origin, cwd=work),
                   1, f"{tmp_path / 'e'} with {proof}: the inclusion proof does not lead")
