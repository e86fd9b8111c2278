"""Offline evidence from the real CLI: `prove` writes it, `verify-proof` checks it, and so does
a verifier written here from the specifications alone.

The evidence is the event's exact bytes and a C2SP tlog-proof@v1 file (index, RFC 9162
inclusion proof, signed checkpoint). One byte changed anywhere must make it fail, and
the reason must say what failed: the bytes or the proof, the signature, or the format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditlog.core.evidence import verify_evidence
from auditlog.core.note import parse_verifier_key
from auditlog.errors import AuditLogError
from tests.tampering import as_holder

from . import cli_support as s

ORIGIN = "example.org/evals"
SIZE = 40
LOG_KEY = "ci.example.org"
WITNESS_KEY = "witness.example"
RUN = "run-7"  # recorded at seq 8 (seq 0 is the genesis)
RUN_SEQ = 8
RUN_STEM = f"{RUN}-{hashlib.sha256(RUN.encode()).hexdigest()[:12]}"  # evidence files: cleaned run id + hash
SNEAKY = ["../../outside/run", "a/../../b/..", "/abs/path", ".."]  # run ids that look like paths

ALTERED = "the event bytes or the proof were altered"
BAD_SIGNATURE = f"bad signature by {LOG_KEY}"
MALFORMED = "malformed evidence"


@dataclass
class Work:
    dir: Path
    db: Path
    key: Path
    vkey: Path
    witness_key: Path
    witness_vkey: Path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from auditlog import AuditLog

    root = tmp_path_factory.mktemp("evidence")
    with AuditLog.open(root / "evals.db", origin=ORIGIN) as log:
        with log.writer() as w:
            for i in range(SIZE - 1 - len(SNEAKY)):
                w.record_run(s.run_doc(f"run-{i}", project=("mmlu-pro", "gsm8k")[i % 2], seed=i))
            for run_id in SNEAKY:
                w.record_run(s.run_doc(run_id))
        assert log.head().size == SIZE
    s.ok("keygen", "--name", LOG_KEY, "--out", root / "ci.key")
    s.ok("keygen", "--name", WITNESS_KEY, "--out", root / "witness.key")
    return root


def copy_work(template: Path, into: Path) -> Work:
    for name in ("evals.db", "ci.key", "ci.vkey", "witness.key", "witness.vkey"):
        shutil.copy2(template / name, into / name)
    return Work(into, into / "evals.db", into / "ci.key", into / "ci.vkey", into / "witness.key",
                into / "witness.vkey")


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Work:
    return copy_work(template, tmp_path)


@pytest.fixture(scope="module")
def evidence(template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Work, Path, Path]:
    """A checkpointed log and the evidence for RUN, made once: (work, .event, .tlog-proof)."""
    work = copy_work(template, tmp_path_factory.mktemp("proved"))
    s.ok("checkpoint", "--key", work.key, "--log", work.db)
    s.ok("prove", RUN, "--log", work.db, "--out", work.dir / "evidence", "--vkey", work.vkey)
    return work, work.dir / "evidence" / f"{RUN_STEM}.event", work.dir / "evidence" / f"{RUN_STEM}.tlog-proof"


def verify_proof(event: Path, proof: Path, *vkeys: Path | str, extra: tuple[str, ...] = (),
                 origin: str | None = ORIGIN) -> s.Result:
    """verify-proof with --origin ORIGIN unless `origin` is None (or --origin/--trust is in `extra`)."""
    args = [a for v in vkeys for a in ("--vkey", v)]
    if origin is not None and "--origin" not in extra and "--trust" not in extra:
        args += ["--origin", origin]
    result = s.cli("verify-proof", event, proof, *args, *extra)
    assert "Traceback" not in result.err, str(result)
    return result


def fails_with(result: s.Result, needle: str, code: int = 1) -> None:
    assert result.code == code, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
    assert needle in lines[0], str(result)
    assert result.stdout == b""


def vkeys_of(*paths: Path):  # noqa: ANN201
    return [parse_verifier_key(p.read_text().strip()) for p in paths]


# --- prove -------------------------------------------------------------------------------------


def test_prove_without_a_checkpoint_or_key_says_so(work: Work) -> None:
    before = s.fingerprint(work.db)
    result = s.cli("prove", RUN, "--log", work.db, "--out", work.dir / "out")
    fails_with(result, f"no stored checkpoint covers seq {RUN_SEQ}: give --key to sign one", code=3)
    assert not (work.dir / "out").exists() and s.fingerprint(work.db) == before


def test_prove_refuses_bytes_that_do_not_lead_to_the_checkpoints_root(work: Work) -> None:
    """A holder who changes an event's bytes and its hash column, but not the stored subtree above it,
    leaves a chain whose stored root is unchanged: prove must not write those bytes as "proven"."""
    s.ok("checkpoint", "--key", work.key, "--log", work.db)
    with as_holder(work.db) as conn:
        (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (RUN_SEQ,)).fetchone()
        altered = body.replace(b'"passed":false', b'"passed":true', 1)
        assert altered != body
        conn.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?",
                     (altered, hashlib.sha256(altered).hexdigest(), RUN_SEQ))
    refused = s.cli("prove", RUN, "--log", work.db, "--out", work.dir / "evidence", "--vkey", work.vkey)
    fails_with(refused, f"seq {RUN_SEQ}: the event's bytes do not lead to the root of the checkpoint of size {SIZE}")
    assert not (work.dir / "evidence").exists() or not any((work.dir / "evidence").iterdir())


def test_prove_with_a_key_signs_a_checkpoint(work: Work) -> None:
    result = s.ok("prove", RUN, "--log", work.db, "--out", work.dir / "out", "--key", work.key)
    assert f"seq {RUN_SEQ} proven in the checkpoint of size {SIZE}" in result.out
    [stored] = s.ok("checkpoints", "--log", work.db, "--output", "json").json()
    assert stored["size"] == SIZE and stored["claimed_signers"] == LOG_KEY
    proof_text = (work.dir / "out" / f"{RUN_STEM}.tlog-proof").read_text()
    assert proof_text.startswith(f"c2sp.org/tlog-proof@v1\nindex {RUN_SEQ}\n")
    assert proof_text.endswith("\n\n" + _stored_note(work)), "the stored checkpoint, verbatim"
    assert verify_proof(work.dir / "out" / f"{RUN_STEM}.event", work.dir / "out" / f"{RUN_STEM}.tlog-proof",
                        work.vkey).code == 0


def _stored_note(work: Work) -> str:
    from auditlog import AuditLog
    with AuditLog.open(work.db, create=False) as log:
        return log.store.checkpoints()[-1].note


def test_prove_uses_the_latest_covering_checkpoint(work: Work) -> None:
    from auditlog import AuditLog

    s.ok("checkpoint", "--key", work.key, "--log", work.db)
    with AuditLog.open(work.db, create=False) as log:
        log.record_run(s.run_doc("after-the-checkpoint"))
    s.ok("prove", RUN, "--log", work.db, "--out", work.dir / "out", "--vkey", work.vkey)
    text = (work.dir / "out" / f"{RUN_STEM}.tlog-proof").read_text()
    assert f"\n\n{ORIGIN}\n{SIZE}\n" in text  # the checkpoint of 40, not a new one of 41
    assert len(s.ok("checkpoints", "--log", work.db, "--output", "json").json()) == 1
    # the new run is in no checkpoint yet
    fails_with(s.cli("prove", "after-the-checkpoint", "--log", work.db, "--out", work.dir / "out", "--vkey", work.vkey),
               f"no stored checkpoint covers seq {SIZE}", code=3)


def test_prove_by_seq(evidence: tuple[Work, Path, Path], tmp_path: Path) -> None:
    work = evidence[0]
    for seq in (0, 15, 16, SIZE - 1):
        out = s.ok("prove", "--seq", seq, "--log", work.db, "--out", tmp_path, "--vkey", work.vkey).out
        assert f"seq {seq} proven" in out
        result = verify_proof(tmp_path / f"seq-{seq}.event", tmp_path / f"seq-{seq}.tlog-proof", work.vkey,
                              extra=("--output", "json"))
        assert result.code == 0, str(result)
        assert result.json()["seq"] == seq
    assert json.loads((tmp_path / "seq-0.event").read_bytes())["type"] == "log.created"


def test_prove_bad_arguments(evidence: tuple[Work, Path, Path], tmp_path: Path) -> None:
    work = evidence[0]
    fails_with(s.cli("prove", "no-such-run", "--log", work.db, "--out", tmp_path), "no run 'no-such-run'", code=3)
    fails_with(s.cli("prove", "--seq", SIZE, "--log", work.db, "--out", tmp_path), f"no event at seq {SIZE}", code=3)
    fails_with(s.cli("prove", RUN, "--seq", 3, "--log", work.db, "--out", tmp_path), "one of them", code=2)
    fails_with(s.cli("prove", "--log", work.db, "--out", tmp_path), "one of them", code=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("run_id", SNEAKY)
def test_run_ids_that_look_like_paths_stay_inside_the_directory(template: Path, tmp_path: Path, run_id: str) -> None:
    (tmp_path / "w" / "deep" / "er").mkdir(parents=True)
    work = copy_work(template, tmp_path / "w")
    out = tmp_path / "w" / "deep" / "er" / "out"
    before = {p for p in tmp_path.rglob("*")}
    result = s.ok("prove", run_id, "--log", work.db, "--out", out, "--key", work.key, cwd=out.parent)
    created = {p for p in tmp_path.rglob("*") if not p.name.startswith("evals.db")} - before  # but the log's lock
    files = {p for p in created if p.is_file()}
    assert {p.parent for p in files} == {out} and len(files) == 2, sorted(map(str, created))
    assert created - files == {out}
    [event] = [p for p in files if p.suffix == ".event"]
    proof = event.with_suffix(".tlog-proof")
    assert proof in files and not event.name.startswith(".")
    assert str(event) in result.out
    checked = verify_proof(event, proof, work.vkey, extra=("--output", "json"))
    assert checked.code == 0 and checked.json()["subject"] == run_id


# --- verify-proof on untouched evidence ---------------------------------------------------------


def test_verify_proof_names_the_run_and_the_checkpoint(evidence: tuple[Work, Path, Path]) -> None:
    work, event, proof = evidence
    from auditlog import AuditLog
    with AuditLog.open(work.db, create=False) as log:
        root = log.root(SIZE).hex()
    text = verify_proof(event, proof, work.vkey)
    assert text.code == 0, str(text)
    assert text.out.strip() == (f"ok: run.recorded {RUN} (project gsm8k, seq {RUN_SEQ}) is in the log {ORIGIN} "
                                f"of size {SIZE}, root {root}, signed by {LOG_KEY}")
    report = verify_proof(event, proof, work.vkey, extra=("--output", "json")).json()
    assert report == {"ok": True, "seq": RUN_SEQ, "type": "run.recorded", "project": "gsm8k", "subject": RUN,
                      "origin": ORIGIN, "size": SIZE, "root": root, "signers": [LOG_KEY]}
    assert verify_proof(event, proof, work.vkey, extra=("--origin", ORIGIN)).code == 0
    fails_with(verify_proof(event, proof, work.vkey, extra=("--origin", "example.org/other")), "differs from the expected")


def test_verify_proof_needs_a_vkey(evidence: tuple[Work, Path, Path]) -> None:
    _, event, proof = evidence
    fails_with(verify_proof(event, proof), "--vkey", code=2)
    fails_with(verify_proof(event, proof, origin=None), "--vkey", code=2)


def test_verify_proof_with_an_unrelated_key(evidence: tuple[Work, Path, Path]) -> None:
    work, event, proof = evidence
    fails_with(verify_proof(event, proof, work.witness_vkey), f"no valid signature by a known key (known: {WITNESS_KEY})")


def test_log_and_witness_keys(work: Work) -> None:
    s.ok("checkpoint", "--key", work.key, "--log", work.db)
    cp = work.dir / "cp.txt"
    cp.write_text(_stored_note(work))
    s.ok("cosign", cp, "--key", work.witness_key, "--log", work.db)  # kept in the log: the latest covering one
    s.ok("prove", RUN, "--log", work.db, "--out", work.dir / "out", "--vkey", work.witness_vkey)
    event, proof = work.dir / "out" / f"{RUN_STEM}.event", work.dir / "out" / f"{RUN_STEM}.tlog-proof"
    assert proof.read_text().count("\n— ") == 2
    both = verify_proof(event, proof, work.vkey, work.witness_vkey, extra=("--output", "json"))
    assert both.code == 0 and both.json()["signers"] == [LOG_KEY, WITNESS_KEY]
    assert f"signed by {LOG_KEY}, {WITNESS_KEY}" in verify_proof(event, proof, work.vkey, work.witness_vkey).out
    alone = verify_proof(event, proof, work.witness_vkey, extra=("--output", "json"))
    assert alone.code == 0 and alone.json()["signers"] == [WITNESS_KEY]
    assert independent_verify(event.read_bytes(), proof.read_bytes(), [work.witness_vkey.read_text().strip()]) \
        == (ORIGIN, SIZE, RUN_SEQ, RUN, [WITNESS_KEY])
    # the witness's signature broken: fails under the witness key, whatever the log key says
    broken = work.dir / "broken.tlog-proof"
    lines = proof.read_text().split("\n")
    lines[-2] = _flip_b64(lines[-2], at=-20)
    broken.write_text("\n".join(lines))
    fails_with(verify_proof(event, broken, work.vkey, work.witness_vkey), f"bad signature by {WITNESS_KEY}")


# --- one byte changed ------------------------------------------------------------------------


def _flip_b64(line: str, at: int) -> str:
    """Change one base64 character into another valid one (so the line still decodes)."""
    chars = list(line)
    chars[at] = "B" if chars[at] != "B" else "C"
    return "".join(chars)


def _proof_lines(proof: Path) -> list[str]:
    return proof.read_text().split("\n")


def tamper_event(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    body = bytearray(event.read_bytes())
    at = body.index(b'"model_id":"') + len(b'"model_id":"')
    body[at] ^= 0x01  # acme-7b -> `cme-7b: still a valid event, other bytes
    (out / "e").write_bytes(bytes(body))
    return out / "e", proof


def tamper_proof_line(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    lines = _proof_lines(proof)
    assert lines[1] == f"index {RUN_SEQ}"
    lines[3] = _flip_b64(lines[3], at=5)
    (out / "p").write_text("\n".join(lines))
    return event, out / "p"


def tamper_index(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    (out / "p").write_text(proof.read_text().replace(f"index {RUN_SEQ}\n", f"index {RUN_SEQ + 1}\n", 1))
    return event, out / "p"


def tamper_checkpoint_root(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    lines = _proof_lines(proof)
    at = lines.index(ORIGIN) + 2  # origin, size, root
    lines[at] = _flip_b64(lines[at], at=0)
    (out / "p").write_text("\n".join(lines))
    return event, out / "p"


def tamper_checkpoint_size(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    (out / "p").write_text(proof.read_text().replace(f"\n{ORIGIN}\n{SIZE}\n", f"\n{ORIGIN}\n{SIZE + 1}\n"))
    return event, out / "p"


def tamper_checkpoint_origin(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    (out / "p").write_text(proof.read_text().replace(f"\n{ORIGIN}\n", "\nexample.org/evalz\n"))
    return event, out / "p"


def tamper_signature(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    lines = _proof_lines(proof)
    assert lines[-2].startswith(f"— {LOG_KEY} ") and lines[-1] == ""
    lines[-2] = _flip_b64(lines[-2], at=-30)
    (out / "p").write_text("\n".join(lines))
    return event, out / "p"


def tamper_signature_name(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    (out / "p").write_text(proof.read_text().replace(f"— {LOG_KEY} ", f"— x{LOG_KEY} "))
    return event, out / "p"


def tamper_proof_line_base64(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    lines = _proof_lines(proof)
    lines[2] = "*" + lines[2][1:]
    (out / "p").write_text("\n".join(lines))
    return event, out / "p"


def tamper_header(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    (out / "p").write_text(proof.read_text().replace("@v1", "@v2", 1))
    return event, out / "p"


def tamper_drop_a_proof_line(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    lines = _proof_lines(proof)
    del lines[2]
    (out / "p").write_text("\n".join(lines))
    return event, out / "p"


def tamper_not_utf8(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    data = bytearray(proof.read_bytes())
    data[data.index("—".encode())] = 0xFF
    (out / "p").write_bytes(bytes(data))
    return event, out / "p"


def tamper_event_is_another_event(event: Path, proof: Path, out: Path) -> tuple[Path, Path]:
    """Another genuine event of the same log, under this proof."""
    from auditlog import AuditLog
    db = proof.parent.parent / "evals.db"
    with AuditLog.open(db, create=False) as log:
        (out / "e").write_bytes(log.event(RUN_SEQ + 1).body)
    return out / "e", proof


TAMPERS = [
    (tamper_event, ALTERED),
    (tamper_event_is_another_event, ALTERED),
    (tamper_proof_line, ALTERED),
    (tamper_index, ALTERED),
    (tamper_drop_a_proof_line, ALTERED),
    (tamper_checkpoint_root, BAD_SIGNATURE),
    (tamper_checkpoint_size, BAD_SIGNATURE),
    (tamper_checkpoint_origin, BAD_SIGNATURE),
    (tamper_signature, BAD_SIGNATURE),
    (tamper_signature_name, "no valid signature by a known key"),
    (tamper_proof_line_base64, MALFORMED),
    (tamper_header, MALFORMED),
    (tamper_not_utf8, "not UTF-8"),
]


@pytest.mark.parametrize("tamper, reason", TAMPERS, ids=[t.__name__[len("tamper_"):] for t, _ in TAMPERS])
def test_one_change_fails_with_the_right_reason(evidence: tuple[Work, Path, Path], tmp_path: Path, tamper,  # noqa: ANN001
                                                reason: str) -> None:
    work, event, proof = evidence
    bad_event, bad_proof = tamper(event, proof, tmp_path)
    assert (bad_event.read_bytes(), bad_proof.read_bytes()) != (event.read_bytes(), proof.read_bytes())
    not_a_proof = tamper in (tamper_proof_line_base64, tamper_header, tamper_not_utf8)  # not a tlog-proof at all
    fails_with(verify_proof(bad_event, bad_proof, work.vkey), reason, code=2 if not_a_proof else 1)
    assert verify_proof(event, proof, work.vkey).code == 0  # the originals still pass


def test_every_single_byte_change_is_rejected(evidence: tuple[Work, Path, Path]) -> None:
    """Exhaustive, in process: flip one bit of each byte of either file; never accepted."""
    work, event, proof = evidence
    verifiers = vkeys_of(work.vkey)
    event_bytes, proof_bytes = event.read_bytes(), proof.read_bytes()
    verify_evidence(event_bytes, proof_bytes.decode(), verifiers)

    def rejected(event_bytes: bytes, proof_bytes: bytes) -> bool:
        try:
            verify_evidence(event_bytes, proof_bytes.decode("utf-8"), verifiers)
        except (AuditLogError, UnicodeDecodeError):
            return True
        return False

    for data, which in ((event_bytes, "event"), (proof_bytes, "proof")):
        for i in range(len(data)):
            changed = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
            pair = (changed, proof_bytes) if which == "event" else (event_bytes, changed)
            assert rejected(*pair), f"{which} byte {i} changed and still accepted"
    assert rejected(event_bytes + b" ", proof_bytes) and rejected(event_bytes, proof_bytes + b"\n")


# --- an independent verifier, from the specifications alone --------------------------------------
# Only hashlib, base64, json and cryptography: no auditlog import. Written from
# c2sp.org/tlog-proof, c2sp.org/tlog-checkpoint, c2sp.org/signed-note and RFC 9162 2.1.3.2.


class Rejected(Exception):
    pass


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def independent_verify(event: bytes, proof_file: bytes, vkeys: list[str]) -> tuple[str, int, int, str, list[str]]:
    """(origin, tree size, index, subject, verified signer names), or raise Rejected."""
    text = proof_file.decode("utf-8")
    # tlog-proof: header, optional extra, index, proof hashes, blank line, checkpoint verbatim
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise Rejected("no blank line")
    lines = head.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise Rejected("header")
    lines = lines[1:]
    if lines and lines[0].startswith("extra "):
        lines = lines[1:]
    if not lines or not lines[0].startswith("index "):
        raise Rejected("index line")
    index = int(lines[0][len("index "):])
    path = [base64.b64decode(line, validate=True) for line in lines[1:]]
    if any(len(p) != 32 for p in path):
        raise Rejected("proof hash length")

    # signed note: body (ends in a newline), a blank line, signature lines "— name base64(keyid||sig)"
    split = note.rfind("\n\n")
    body, signature_block = note[:split + 1], note[split + 2:]
    if not signature_block.endswith("\n"):
        raise Rejected("signature block")
    keys = {}
    for vkey in vkeys:  # name+hex(key id)+base64(0x01 || public key)
        name, key_hash, key_data = vkey.split("+", 2)
        raw = base64.b64decode(key_data, validate=True)
        if raw[0] != 0x01 or len(raw) != 33:
            raise Rejected("not an Ed25519 vkey")
        key_id = _sha256(name.encode() + b"\n" + raw)[:4]  # SHA-256(name || 0x0A || 0x01 || key)[:4]
        if key_id.hex() != key_hash:
            raise Rejected("vkey hash does not match")
        keys[(name, key_id)] = Ed25519PublicKey.from_public_bytes(raw[1:])
    signers = []
    for line in signature_block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Rejected("signature line")
        name, b64 = line[2:].split(" ")
        sig = base64.b64decode(b64, validate=True)
        key = keys.get((name, sig[:4]))
        if key is None:
            continue  # unknown keys are ignored
        try:
            key.verify(sig[4:], body.encode("utf-8"))
        except InvalidSignature:
            raise Rejected(f"bad signature by {name}") from None
        signers.append(name)
    if not signers:
        raise Rejected("no signature by a known key")

    # tlog-checkpoint body: origin, decimal tree size, base64 root hash
    origin, size_text, root_b64 = body.split("\n")[:3]
    size, root = int(size_text), base64.b64decode(root_b64, validate=True)

    # RFC 9162 2.1.3.2
    if index >= size:  # 1.
        raise Rejected("index not below tree size")
    fn, sn = index, size - 1  # 2.
    r = _sha256(b"\x00" + event)  # 3. (the leaf hash)
    for p in path:  # 4.
        if sn == 0:  # a.
            raise Rejected("proof too long")
        if fn & 1 or fn == sn:  # b.
            r = _sha256(b"\x01" + p + r)  # i.
            while not fn & 1 and fn != 0:  # ii.
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _sha256(b"\x01" + r + p)  # otherwise i.
        fn, sn = fn >> 1, sn >> 1  # c.
    if sn != 0 or r != root:  # 5.
        raise Rejected("proof does not lead to the root")
    entry = json.loads(event)
    if entry["seq"] != index:
        raise Rejected("event seq is not the proven index")
    return origin, size, index, entry["subject"], signers


def test_an_independent_verifier_accepts_our_evidence(evidence: tuple[Work, Path, Path]) -> None:
    work, event, proof = evidence
    vkey = work.vkey.read_text().strip()
    assert independent_verify(event.read_bytes(), proof.read_bytes(), [vkey]) == (ORIGIN, SIZE, RUN_SEQ, RUN, [LOG_KEY])


def test_the_independent_verifier_is_not_vacuous(evidence: tuple[Work, Path, Path], tmp_path: Path) -> None:
    work, event, proof = evidence
    vkey = work.vkey.read_text().strip()
    for tamper, _reason in TAMPERS:
        if tamper is tamper_not_utf8:
            continue
        bad_event, bad_proof = tamper(event, proof, tmp_path)
        with pytest.raises((Rejected, ValueError)):
            independent_verify(bad_event.read_bytes(), bad_proof.read_bytes(), [vkey])


def test_the_independent_verifier_accepts_evidence_for_every_event(evidence: tuple[Work, Path, Path]) -> None:
    """Every index of the checkpointed tree, including the first, the last and those at subtree edges."""
    from auditlog import AuditLog
    from auditlog.services.checkpoints import covering_checkpoint, evidence_for

    work = evidence[0]
    vkey = work.vkey.read_text().strip()
    with AuditLog.open(work.db, create=False) as log:
        for seq in range(SIZE):
            made = evidence_for(log, seq, covering_checkpoint(log, seq))
            origin, size, index, subject, signers = independent_verify(
                made.event_bytes, made.proof.to_text().encode(), [vkey])
            assert (origin, size, index, signers) == (ORIGIN, SIZE, seq, [LOG_KEY])
            assert subject == log.event(seq).event.subject
