"""C2SP tlog-witness between auditlog and a second implementation, in Go, written from the spec alone.

tests/interop/witness/main.go speaks add-checkpoint from both sides with Go's standard library and
golang.org/x/mod's sumdb/note and sumdb/tlog: as a log (it builds each request itself, the proof by
`tlog.ProveTree` over the log's entries, and checks each answer as the spec says: a 200's lines
cosignatures under the witness key, from tlog-cosignature's text; a 409's `text/x.tlog.size`), and as
a witness (state in memory; the checkpoint under `note.Open`, the proof under `tlog.CheckTree`, the
spec's status codes). `auditlog witness-server` answers the Go log; `auditlog publish --witness` asks
the Go witness, and `auditlog verify` accepts what it cosigned. Each side is also shown to refuse what
is altered. Built like tests/interop/test_go_tlog.py's checker (Debian's Go and x/mod sources, no
download); skipped where they are missing, except in CI.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_support import cli
from tests.interop import gobuild
from tests.publish.publish_support import keygen, make_log
from tests.publish.test_witness_http import WitnessProcess
from tests.support.cli import ok

SOURCE = Path(__file__).parent / "witness"
ORIGIN = "interop.example/evals"
LOG_NAME = "log.interop.example"
go, go_refuses = gobuild.answer, gobuild.refusal


@pytest.fixture(scope="module")
def gowitness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go implementation, built once for this module."""
    return gobuild.build(SOURCE, tmp_path_factory.mktemp("go"))


def go_text(binary: Path, *args: object) -> str:
    done = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


class GoWitness:
    """`witness serve`: the Go witness on a free port of 127.0.0.1, with a key it made at start."""

    def __init__(self, binary: Path, log: Path, trust: list[tuple[str, str]], *flags: str) -> None:
        self.flags = flags
        args = [str(binary), "serve", *flags, "witness.interop.example/go"]
        for origin, vkey in trust:
            args += [origin, vkey]
        self.log = log
        self.stderr = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.process.stdout.readline().decode()  # type: ignore[union-attr]
        assert line.startswith("listening on http://127.0.0.1:"), (line, log.read_text())
        _, _, self.url, _, self.vkey = line.split()

    def requests(self) -> list[dict]:
        """What it was asked (old size, proof lines, checkpoint size) and answered, in order."""
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.stderr.close()


@pytest.fixture
def log(tmp_path: Path) -> dict:
    """A log of 20 events with its key, and a witness key made by auditlog."""
    db = tmp_path / "evals.db"
    make_log(db, 19, origin=ORIGIN, items=1)  # the genesis event and 19 runs
    key, vkey = keygen(tmp_path, LOG_NAME)
    wkey, wvkey = keygen(tmp_path, "witness.interop.example/w1", cosigner=True)
    return {"tmp": tmp_path, "db": db, "key": key, "vkey": vkey, "wkey": wkey, "wvkey": wvkey}


@pytest.fixture
def ours(log: dict) -> Iterator[WitnessProcess]:
    """`auditlog witness-server`, a real process, witnessing the log."""
    server = WitnessProcess(log["wkey"], log["tmp"] / "wstate", [(ORIGIN, log["vkey"])], log["tmp"] / "ours.log")
    try:
        yield server
    finally:
        server.stop()


def grow(log: dict, to: int) -> Path:
    """The log grown to `to` events; its entries for the Go side (base64, one a line); returns that file."""
    from auditlog.services.log import AuditLog

    with AuditLog.open(log["db"], create=False) as opened:
        size = opened.head().size
    if to > size:
        make_log(log["db"], to - size, start=size + 100, origin=ORIGIN, items=1)
    path = log["tmp"] / "entries.txt"
    with AuditLog.open(log["db"], create=False) as opened:
        path.write_text("".join(base64.b64encode(e.body).decode() + "\n" for e in opened.events()))
    return path


def our_checkpoint(log: dict, name: str) -> Path:
    path = log["tmp"] / name
    path.write_text(ok("checkpoint", "--key", log["key"], "--log", log["db"]).out)
    return path


def altered_signature(checkpoint: Path) -> Path:
    """The checkpoint with one bit of the log's signature flipped (the key ID kept)."""
    text = checkpoint.read_text()
    line = next(x for x in text.splitlines() if x.startswith(f"\u2014 {LOG_NAME} "))
    name, sig = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[30] ^= 0x01
    out = checkpoint.with_suffix(".altered")
    out.write_text(text.replace(line, f"{name} {base64.b64encode(bytes(raw)).decode()}"))
    return out


def test_go_signs_the_checkpoint_we_sign(gowitness: Path, log: dict) -> None:
    """The same tree, key and name: Go's checkpoint (its tree hash, x/mod's note.Sign) is ours byte for byte."""
    entries = grow(log, 20)
    ours = our_checkpoint(log, "cp20.txt").read_text()
    assert go_text(gowitness, "checkpoint", entries, 20, ORIGIN, log["key"], LOG_NAME) == ours


def test_a_go_log_against_our_witness_server(gowitness: Path, log: dict, ours: WitnessProcess) -> None:
    url, wvkey = ours.url, log["wvkey"]
    entries = grow(log, 20)
    cp20 = our_checkpoint(log, "cp20.txt")

    # the first request: old 0, no proof; one cosignature that verifies under the witness key
    first = go(gowitness, "add", url, wvkey, entries, cp20, 0)
    assert first["status"] == 200 and len(first["cosigned_at"]) == 1 and "other_lines" not in first
    # the same checkpoint again, twice on one kept-alive connection: cosigned each time
    again = go(gowitness, "add", "-repeat", url, wvkey, entries, cp20, 20)
    assert again["status"] == 200 and again["reused_connection"] is True

    # an extension, with tlog.ProveTree's proof from 20 to 45
    entries = grow(log, 45)
    cp45 = our_checkpoint(log, "cp45.txt")
    assert go(gowitness, "add", url, wvkey, entries, cp45, 20)["status"] == 200
    # a stale old size, from 0 or from 20: 409, the witness's size as text/x.tlog.size
    for old in (0, 20):
        stale = go(gowitness, "add", url, wvkey, entries, cp45, old)
        assert (stale["status"], stale["size"]) == (409, 45)
        assert stale["content_type"].split(";")[0] == "text/x.tlog.size"

    # a proof with a bit flipped, a hash left out or one too many: 422, and the witness's size stays 45
    entries = grow(log, 60)
    cp60 = our_checkpoint(log, "cp60.txt")
    for tamper in ("proof", "short", "long"):  # a bit flipped, a hash left out, one too many
        assert go(gowitness, "add", "-tamper", tamper, url, wvkey, entries, cp60, 45)["status"] == 422, tamper
    assert go(gowitness, "add", url, wvkey, entries, cp60, 0)["size"] == 45
    assert go(gowitness, "add", url, wvkey, entries, cp60, 45)["status"] == 200

    # an origin it does not witness (signed by the log's key): 404
    other = log["tmp"] / "other.txt"
    other.write_text(go_text(gowitness, "checkpoint", entries, 60, "elsewhere.example/log", log["key"], LOG_NAME))
    assert go(gowitness, "add", url, wvkey, "-", other, 0)["status"] == 404
    # its origin, the log's signature altered, or signed by a key it does not trust (even under the log's name): 403
    assert go(gowitness, "add", url, wvkey, entries, altered_signature(cp60), 60)["status"] == 403
    stranger, _ = keygen(log["tmp"], "stranger.example")
    for name in ("stranger.example", LOG_NAME):
        forged = log["tmp"] / "forged.txt"
        forged.write_text(go_text(gowitness, "checkpoint", entries, 60, ORIGIN, stranger, name))
        assert go(gowitness, "add", url, wvkey, entries, forged, 60)["status"] == 403
    # the log's signature with an unknown key's beside it (another name, or the log's name): that one is ignored
    for name in ("stranger.example", LOG_NAME):
        both = log["tmp"] / "both.txt"
        both.write_text(go_text(gowitness, "checkpoint", entries, 60, ORIGIN, stranger, name, log["key"], LOG_NAME))
        assert go(gowitness, "add", url, wvkey, entries, both, 60)["status"] == 200

    # another tree of the same size, signed by the log's key (a fork): 422 since C2SP/C2SP#280 (409 in v1.0.0)
    fork = log["tmp"] / "fork.txt"
    make_log(log["tmp"] / "fork.db", 59, origin=ORIGIN, items=2)
    fork.write_text(ok("checkpoint", "--key", log["key"], "--log", log["tmp"] / "fork.db").out)
    assert go(gowitness, "add", url, wvkey, "-", fork, 60)["status"] == 422

    # the Go log refuses a cosignature altered by one bit (its check is not vacuous)
    assert "does not verify" in go_refuses(gowitness, "add", "-tamper", "answer", url, wvkey, entries, cp60, 60)


def test_our_witness_server_refuses_malformed_requests_built_in_go(gowitness: Path, log: dict,
                                                                   ours: WitnessProcess) -> None:
    entries = grow(log, 20)
    cp20 = our_checkpoint(log, "cp20.txt")
    statuses = go(gowitness, "malformed", ours.url, cp20, log["key"], LOG_NAME)
    # a proof from size 0 is an inconsistent request since C2SP/C2SP#280: 422; the rest are malformed: 400
    assert statuses.pop("a proof from size 0") == 422
    assert statuses and set(statuses.values()) == {400}, statuses
    # none of them moved the witness: the first valid request is still from size 0
    assert go(gowitness, "add", ours.url, log["wvkey"], entries, cp20, 0)["status"] == 200


def test_our_witness_server_cosigns_a_checkpoint_with_extension_lines(gowitness: Path, log: dict,
                                                                      ours: WitnessProcess) -> None:
    """tlog-checkpoint allows extension lines after the root; a cosignature covers the whole body."""
    entries = grow(log, 20)
    extended = log["tmp"] / "extended.txt"
    extended.write_text(go_text(gowitness, "checkpoint", entries, 20, ORIGIN, "-ext", "an extension line",
                                log["key"], LOG_NAME))
    assert go(gowitness, "add", ours.url, log["wvkey"], entries, extended, 0)["status"] == 200


@pytest.fixture
def go_witness(gowitness: Path, log: dict, request: pytest.FixtureRequest) -> Iterator[GoWitness]:
    """The Go witness, witnessing the log; flags from `@pytest.mark.parametrize("go_witness", [...], indirect=True)`."""
    flags = getattr(request, "param", ())
    server = GoWitness(gowitness, log["tmp"] / "go.log", [(ORIGIN, log["vkey"])], *flags)
    try:
        yield server
    finally:
        server.stop()


def publish(log: dict, witness: GoWitness, out: Path) -> object:
    return cli("publish", "--log", log["db"], "--to", out, "--key", log["key"], "--witness", witness.url, witness.vkey)


def verify(log: dict, witness: GoWitness, out: Path) -> object:
    return cli("verify", "--from", out, "--vkey", log["vkey"], "--witness-vkey", witness.vkey, "--witnesses", 1)


def asked(witness: GoWitness) -> list[tuple[int, int, int]]:
    """(old size, checkpoint size, status) of each request the Go witness answered; each had a proof
    exactly when 0 < old size < checkpoint size."""
    requests = witness.requests()
    assert all((r["proof"] > 0) == (0 < r["old"] < r["size"]) for r in requests), requests
    return [(r["old"], r["size"], r["status"]) for r in requests]


def test_our_publish_against_a_go_witness(gowitness: Path, log: dict, go_witness: GoWitness) -> None:
    out = log["tmp"] / "pub"
    grow(log, 20)
    assert (done := publish(log, go_witness, out)).code == 0, done
    assert (done := verify(log, go_witness, out)).code == 0, done
    entries = grow(log, 45)
    assert (done := publish(log, go_witness, out)).code == 0, done
    assert (done := verify(log, go_witness, out)).code == 0, done
    # the first request from 0 without a proof, the next from 20 with the log's proof
    assert asked(go_witness) == [(0, 20, 200), (20, 45, 200)]
    # the published checkpoint is the Go witness's state: Go's log side gets a cosignature on it, from 45
    reply = go(gowitness, "add", go_witness.url, go_witness.vkey, entries, out / "checkpoint", 45)
    assert reply["status"] == 200


def test_our_publish_follows_the_go_witness_409(gowitness: Path, log: dict, go_witness: GoWitness) -> None:
    """The Go witness told of a larger tree than our last publication (then of none): `publish` asks
    again from the size its 409 names, with the proof from there."""
    out = log["tmp"] / "pub"
    grow(log, 20)
    assert (done := publish(log, go_witness, out)).code == 0, done
    entries = grow(log, 33)
    assert go(gowitness, "add", go_witness.url, go_witness.vkey, entries, our_checkpoint(log, "cp33.txt"), 20)["status"] == 200
    grow(log, 50)
    assert (done := publish(log, go_witness, out)).code == 0, done
    assert asked(go_witness)[2:] == [(20, 50, 409), (33, 50, 200)]
    assert (done := verify(log, go_witness, out)).code == 0, done

    # a second Go witness that never saw this log: our publish from 50 is told 0, and asks again from 0
    fresh = GoWitness(gowitness, log["tmp"] / "fresh.log", [(ORIGIN, log["vkey"])])
    try:
        grow(log, 60)
        assert (done := publish(log, fresh, out)).code == 0, done
        assert asked(fresh) == [(50, 60, 409), (0, 60, 200)]
        assert (done := verify(log, fresh, out)).code == 0, done
    finally:
        fresh.stop()


@pytest.mark.parametrize("go_witness", [("-extra",)], indirect=True)
def test_our_publish_keeps_only_the_go_witness_line_it_knows(log: dict, go_witness: GoWitness) -> None:
    out = log["tmp"] / "pub"
    grow(log, 20)
    assert (done := publish(log, go_witness, out)).code == 0, done
    lines = [line for line in (out / "checkpoint").read_text().splitlines() if line.startswith("\u2014 ")]
    assert [line.split()[1] for line in lines] == [LOG_NAME, "witness.interop.example/go"]
    assert (done := verify(log, go_witness, out)).code == 0, done


@pytest.mark.parametrize("go_witness", [("-tamper",)], indirect=True)
def test_our_publish_refuses_an_altered_go_cosignature(log: dict, go_witness: GoWitness) -> None:
    out = log["tmp"] / "pub"
    grow(log, 20)
    done = publish(log, go_witness, out)
    assert done.code == 1 and "not a valid cosignature by witness.interop.example/go" in done.err, done
    assert not (out / "checkpoint").exists()


def test_our_verify_refuses_an_altered_go_cosignature(log: dict, go_witness: GoWitness) -> None:
    out = log["tmp"] / "pub"
    grow(log, 20)
    assert (done := publish(log, go_witness, out)).code == 0, done
    text = (out / "checkpoint").read_text()
    line = next(x for x in text.splitlines() if x.startswith("\u2014 witness.interop.example/go "))
    name, sig = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[40] ^= 0x01
    (out / "checkpoint").write_text(text.replace(line, f"{name} {base64.b64encode(bytes(raw)).decode()}"))
    assert verify(log, go_witness, out).code == 1


def test_the_go_witness_refuses_what_the_spec_says(gowitness: Path, log: dict, go_witness: GoWitness) -> None:
    """The Go witness is not vacuous: the Go log's requests that auditlog's server refuses, it refuses too."""
    url, wvkey = go_witness.url, go_witness.vkey
    entries = grow(log, 20)
    cp20 = our_checkpoint(log, "cp20.txt")
    statuses = go(gowitness, "malformed", url, cp20, log["key"], LOG_NAME)
    assert statuses and set(statuses.values()) == {400}, statuses
    assert go(gowitness, "add", url, wvkey, entries, cp20, 5)["size"] == 0
    assert go(gowitness, "add", url, wvkey, entries, cp20, 0)["status"] == 200
    entries = grow(log, 45)
    cp45 = our_checkpoint(log, "cp45.txt")
    for tamper in ("proof", "short", "long"):
        assert go(gowitness, "add", "-tamper", tamper, url, wvkey, entries, cp45, 20)["status"] == 422, tamper
    stranger, _ = keygen(log["tmp"], "stranger.example")
    forged = log["tmp"] / "forged.txt"
    forged.write_text(go_text(gowitness, "checkpoint", entries, 45, ORIGIN, stranger, LOG_NAME))
    assert go(gowitness, "add", url, wvkey, entries, forged, 20)["status"] == 403
    assert go(gowitness, "add", url, wvkey, entries, altered_signature(cp45), 20)["status"] == 403
    other = log["tmp"] / "other.txt"
    other.write_text(go_text(gowitness, "checkpoint", entries, 45, "elsewhere.example/log", log["key"], LOG_NAME))
    assert go(gowitness, "add", url, wvkey, "-", other, 0)["status"] == 404
    assert go(gowitness, "add", url, wvkey, entries, cp45, 20)["status"] == 200
    assert "does not verify" in go_refuses(gowitness, "add", "-tamper", "answer", url, wvkey, entries, cp45, 45)


@pytest.mark.parametrize("go_witness", [(), ("-fork-size",), ("-fork-409",)], indirect=True)
def test_our_publish_of_a_fork_is_refused_by_the_go_witness(log: dict, go_witness: GoWitness) -> None:
    """Another tree of the same size under the log's origin and key: the current spec's 422 (C2SP/C2SP#280,
    July 2026), or v1.0.0's 409 for a root that is not the one cosigned, whose body it left open (the
    witness's size as text/x.tlog.size, the same as the request's old size, or plain text): each way
    `publish` says the witness refused (exit 1), not that it could not be reached (exit 4)."""
    grow(log, 20)
    assert (done := publish(log, go_witness, log["tmp"] / "pub")).code == 0, done
    fork = {**log, "db": log["tmp"] / "fork.db"}
    make_log(fork["db"], 19, origin=ORIGIN, items=2)
    done = publish(fork, go_witness, log["tmp"] / "fork-pub")
    assert asked(go_witness)[1:] == [(0, 20, 409), (20, 20, 409 if go_witness.flags else 422)]
    assert done.code == 1, done
    assert not (log["tmp"] / "fork-pub" / "checkpoint").exists()


@pytest.mark.parametrize("signature_bytes", [64, 4627])
def test_a_checkpoint_with_sixteen_signatures_is_cosigned(gowitness: Path, log: dict, ours: WitnessProcess,
                                                          go_witness: GoWitness, signature_bytes: int) -> None:
    """signed-note: verifiers "MUST accept at least up to 16 signatures. Remember that post-quantum
    signatures can be up to nearly 5kB in size." The log's own, and 15 by keys the witnesses do not
    know (Ed25519's 64 bytes; ML-DSA-87's 4,627): both witnesses ignore those and cosign."""
    entries = grow(log, 20)
    crowded = log["tmp"] / "crowded.txt"
    crowded.write_text(go_text(gowitness, "checkpoint", entries, 20, ORIGIN, "-unknown", 15, "-unknown-bytes",
                               signature_bytes, log["key"], LOG_NAME))
    assert crowded.read_text().count("\n\u2014 ") == 16
    for url, wvkey in ((ours.url, log["wvkey"]), (go_witness.url, go_witness.vkey)):
        assert go(gowitness, "add", url, wvkey, entries, crowded, 0)["status"] == 200, url


def test_our_witness_server_takes_any_origin_a_checkpoint_may_have(gowitness: Path, log: dict) -> None:
    """tlog-checkpoint: the origin SHOULD be a schema-less URL without spaces or plus, but "clients MUST
    NOT assume that the origin is following this format"."""
    entries = grow(log, 20)
    origins = ("an origin with spaces+plus", "\u00fcn\u00efcode.example/log")
    server = WitnessProcess(log["wkey"], log["tmp"] / "odd", [(o, log["vkey"]) for o in origins], log["tmp"] / "odd.log")
    try:
        for origin in origins:
            cp = log["tmp"] / "odd.txt"
            cp.write_text(go_text(gowitness, "checkpoint", entries, 20, origin, log["key"], LOG_NAME))
            assert go(gowitness, "add", server.url, log["wvkey"], entries, cp, 0)["status"] == 200, origin
    finally:
        server.stop()
