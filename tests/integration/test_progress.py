"""Long work shows progress on stderr when it is a terminal, and nothing when it is piped;
stdout is the same either way.

Real processes: stderr a pipe, or the slave side of a pseudo-terminal (pty.openpty), as a
person's terminal is. Progress is reported by the layers below through plain callbacks, and
drawn by rich (a transient bar: erased when the work ends).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from auditlog import AuditLog

from . import cli_support as s


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("progress") / "evals.db"
    with AuditLog.open(db) as opened, opened.writer() as w:
        for i in range(4200):  # past verify's first progress report (every 4,096 events)
            w.record_run(s.run_doc(f"r{i:05d}", n_items=2))
    return db


def _run(args: list[str], *, terminal: bool) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of `python -m auditlog ARGS`, stderr a pty or a pipe."""
    argv = [sys.executable, "-m", "auditlog", *args]
    env = s.clean_env(TERM="xterm", COLUMNS="100")
    if not terminal:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=s.TIMEOUT, check=False)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        assert proc.stdout is not None
        stdout = proc.stdout
        outs: list[bytes] = []
        reader = threading.Thread(target=lambda: outs.append(stdout.read()))  # stdout and the pty, both drained
        reader.start()
        err = b""
        while True:  # read as it comes, so the child never blocks on a full terminal
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the pty
                break
            if not chunk:
                break
            err += chunk
        reader.join(timeout=s.TIMEOUT)
        proc.wait(timeout=s.TIMEOUT)
        return proc.returncode, outs[0], err
    finally:
        os.close(master)


OUTPUTS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "eval-outputs").resolve()
NEGOTIATION = sorted(str(p) for p in (OUTPUTS / "lm-eval").glob("samples_negotiationtom_*_2026-07-08T18-15-33.115417.jsonl"))


@pytest.mark.skipif(not NEGOTIATION, reason=f"the real eval outputs are not at {OUTPUTS}")
@pytest.mark.parametrize("args", [
    ["lm-eval", str(OUTPUTS / "lm-eval" / "results_2026-07-08T18-15-33.115417.json"), "--samples", *NEGOTIATION],
    ["inspect", str(OUTPUTS / "inspect" / "log_formats.eval")],
], ids=["lm-eval-samples", "inspect-eval"])
def test_ingest_shows_reading_and_parsing_on_a_terminal_only(tmp_path: Path, args: list[str]) -> None:
    outputs = {}
    for mode in ("piped", "terminal"):
        # --print: the document itself on stdout (a receipt's hash would differ by the writer's clock)
        code, out, err = _run(["ingest", *args, "--print"], terminal=mode == "terminal")
        assert code == 0, (mode, err[-2000:])
        if mode == "piped":
            assert err == b"", err
        else:
            # lm-eval reports each samples file it parsed; an .eval archive each sample it decoded
            assert b"reading" in err and b"parsing" in err and b"bytes" in err, err[:500]
        outputs[mode] = out
    assert outputs["terminal"] == outputs["piped"]


@pytest.mark.parametrize(("args", "word"), [
    (["verify"], b"verifying"),
    (["projections", "rebuild", "--out", "{dir}/rebuilt"], b"rebuilding the projections"),
    (["history", "--projections", "{dir}/{mode}", "-o", "csv"], b"catching up the projections"),
    (["export", "--projections", "{dir}/{mode}", "--format", "jsonl", "--what", "items"], b"catching up the projections"),
    (["copy", "{db}", "{dir}/copy-{mode}.db", "-o", "json"], b"copying"),
], ids=["verify", "rebuild", "history", "export", "copy"])
def test_progress_on_a_terminal_nothing_when_piped(log: Path, tmp_path: Path, args: list[str], word: bytes) -> None:
    outputs = {}
    for mode in ("piped", "terminal"):
        argv = [a.format(dir=tmp_path, mode=mode, db=log) for a in args]
        if argv[0] != "copy":
            argv += ["--log", str(log)]
        code, out, err = _run(argv, terminal=mode == "terminal")
        assert code == 0, (mode, err[-2000:])
        if mode == "piped":
            assert err == b"", err  # not a byte of progress
        else:
            assert word in err, err[:500]
        outputs[mode] = out.replace(b"copy-terminal", b"copy-piped")
    assert outputs["terminal"] == outputs["piped"]


def test_publish_shows_the_events_bundled_on_a_terminal_only(log: Path, tmp_path: Path) -> None:
    assert s.cli("keygen", "--name", "progress.example.org", "--out", tmp_path / "ci.key").code == 0
    outputs = {}
    for mode in ("piped", "terminal"):
        code, out, err = _run(["publish", "--log", str(log), "--to", str(tmp_path / f"published-{mode}"),
                               "--key", str(tmp_path / "ci.key"), "--projections", str(tmp_path / f"proj-{mode}")],
                              terminal=mode == "terminal")
        assert code == 0, (mode, err[-2000:])
        if mode == "piped":
            assert err == b"", err
        else:
            assert b"publishing" in err, err[:500]
        outputs[mode] = out.replace(b"published-terminal", b"published-piped")
    assert outputs["terminal"] == outputs["piped"]
