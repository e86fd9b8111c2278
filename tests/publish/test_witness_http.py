"""C2SP tlog-witness over HTTP: `auditlog witness-server` answered with raw requests written from the
spec, and `publish --witness` against it and against a witness written here from the spec alone."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.integration.cli_support import clean_env, cli
from tests.publish import spec_verifier
from tests.publish.publish_support import keygen, make_log

ORIGIN = "test.example/evals"


class WitnessProcess:
    """The real CLI's witness-server on a free port of 127.0.0.1."""

    def __init__(self, wkey: Path, state: Path, trust: list[tuple[str, str]], log: Path) -> None:
        args = [sys.executable, "-m", "auditlog", "witness-server", "--key", str(wkey), "--state", str(state),
                "--listen", "127.0.0.1:0"]
        for origin, vkey in trust:
            args += ["--trust", origin, vkey]
        self.stderr = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, env=clean_env())
        line = self.process.stdout.readline().decode()  # type: ignore[union-attr]
        assert line.startswith("listening on http://127.0.0.1:"), (line, log.read_text())
        self.url = line.split()[2]
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))

    def post(self, body: bytes, path: str = "/add-checkpoint") -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=body)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.stderr.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[dict]:
    db = tmp_path / "evals.db"
    make_log(db, 20)
    key, vkey = keygen(tmp_path)
    wkey, wvkey = keygen(tmp_path, "witness.example/w1", cosigner=True)
    witness = WitnessProcess(wkey, tmp_path / "wstate", [(ORIGIN, vkey)], tmp_path / "witness.log")
    try:
        yield {"db": db, "key": key, "vkey": vkey, "wkey": wkey, "wvkey": wvkey, "witness": witness,
               "tmp": tmp_path}
    finally:
        witness.stop()


def checkpoint(db: Path, key: Path) -> str:
    done = cli("checkpoint", "--key", key, "--log", db)
    assert done.code == 0, done
    return done.out


def proof(db: Path, old: int, new: int) -> list[bytes]:
    from auditlog.services.log import AuditLog
    with AuditLog.open(db, create=False) as log:
        return log.consistency_proof(old, new)


def size_of(note: str) -> int:
    return int(note.split("\n")[1])


def request(old: int, hashes: list[bytes], note: str) -> bytes:
    """The add-checkpoint body, as the spec spells it."""
    return (f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in hashes) + "\n" + note).encode()


def test_the_server_answers_as_the_spec_says(setup):
    witness, db, key = setup["witness"], setup["db"], setup["key"]
    note20 = checkpoint(db, key)
    name, _, public = spec_verifier.vkey_parts(setup["wvkey"])

    status, _, body = witness.post(request(0, [], note20))
    assert status == 200, body
    lines = body.decode().splitlines(keepends=True)
    assert lines and all(line.startswith("\u2014 witness.example/w1 ") and line.endswith("\n") for line in lines)
    assert spec_verifier.cosignature_time(note20 + "".join(lines), name, public) > 1_700_000_000

    # the client's old size must be the size cosigned last: 409, the witness's size as text/x.tlog.size
    make_log(db, 7, start=20)
    note27 = checkpoint(db, key)
    old, new = size_of(note20), size_of(note27)
    status, kind, body = witness.post(request(0, [], note27))
    assert (status, kind.split(";")[0], body) == (409, "text/x.tlog.size", f"{old}\n".encode())
    status, _, body = witness.post(request(5, proof(db, 5, new), note27))
    assert (status, body) == (409, f"{old}\n".encode())

    # a proof that does not lead from the recorded root: 422, and nothing moves
    status, _, _ = witness.post(request(old, proof(db, old - 1, new), note27))
    assert status == 422
    status, _, body = witness.post(request(0, [], note27))
    assert (status, body) == (409, f"{old}\n".encode())

    status, _, body = witness.post(request(old, proof(db, old, new), note27))
    assert status == 200 and spec_verifier.cosignature_time(note27 + body.decode(), name, public)
    # the same size again: the same root is cosigned, another root at that size is a fork (422)
    assert witness.post(request(new, [], note27))[0] == 200
    other = setup["tmp"] / "other.db"
    make_log(other, new - 1, start=100)
    assert witness.post(request(new, [], checkpoint(other, key)))[0] == 422


def test_the_server_refuses_what_the_spec_says_it_must(setup):
    witness, db, key, tmp = setup["witness"], setup["db"], setup["key"], setup["tmp"]
    note = checkpoint(db, key)
    malformed = [
        b"old 01\n\n" + note.encode(),  # a leading zero
        b"old -1\n\n" + note.encode(),
        b"old 0\n" + note.encode(),  # no empty line before the checkpoint
        b"old 0\nAAAA\n\n" + note.encode(),  # a proof line that is not a hash, and a proof from 0
        request(5, [b"\x00" * 32] * 64, note),  # more than 63 proof lines
        request(size_of(note) + 1, [], note),  # old above the checkpoint's size
        b"old 0\n\nnot a checkpoint\n",
    ]
    for body in malformed:
        assert witness.post(body)[0] == 400, body[:40]
    # an origin it does not witness: 404; its origin signed by a key it does not trust: 403
    other = tmp / "other.db"
    make_log(other, 3, origin="elsewhere.example/log")
    assert witness.post(request(0, [], checkpoint(other, key)))[0] == 404
    stranger, _ = keygen(tmp, "stranger.example")
    assert witness.post(request(0, [], checkpoint(db, stranger)))[0] == 403
    assert witness.post(request(0, [], note), path="/elsewhere")[0] == 404
    # nothing above was cosigned: the first valid request is still from size 0
    assert witness.post(request(0, [], note))[0] == 200


def test_publish_asks_the_witness_and_verify_requires_it(setup):
    db, key, vkey, wvkey, witness, tmp = (setup[k] for k in ("db", "key", "vkey", "wvkey", "witness", "tmp"))
    out = tmp / "pub"
    done = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", witness.url, wvkey, "-o", "json")
    assert done.code == 0, done
    assert done.json()["cosigned_by"] == ["witness.example/w1"]
    assert cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey).code == 0
    # more events: the request starts from the published size, with the log's consistency proof
    make_log(db, 30, start=20)
    assert cli("publish", "--log", db, "--to", out, "--key", key, "--witness", witness.url, wvkey).code == 0
    name, _, public = spec_verifier.vkey_parts(wvkey)
    assert "\n51\n" in (out / "checkpoint").read_text()  # the genesis and 50 runs
    assert spec_verifier.cosignature_time((out / "checkpoint").read_text(), name, public)
    assert cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey, "--witnesses", "1").code == 0


def test_a_fork_is_refused_and_the_checkpoint_left_as_it_was(setup):
    db, key, vkey, wvkey, witness, tmp = (setup[k] for k in ("db", "key", "vkey", "wvkey", "witness", "tmp"))
    assert cli("publish", "--log", db, "--to", tmp / "pub", "--key", key, "--witness", witness.url, wvkey).code == 0
    fork = tmp / "fork.db"  # the same origin and key, other events
    make_log(fork, 25, start=500)
    out = tmp / "forkpub"
    refused = cli("publish", "--log", fork, "--to", out, "--key", key, "--witness", witness.url, wvkey)
    assert refused.code == 1, refused
    assert "0 of 1 witnesses cosigned size 26" in refused.err and "HTTP 422" in refused.err
    assert not (out / "checkpoint").exists()
    # the holder may publish without the witness, but then verify --witnesses refuses it
    anyway = cli("publish", "--log", fork, "--to", out, "--key", key, "--witness", witness.url, wvkey,
                 "--witnesses", "0")
    assert anyway.code == 0 and "warning: a witness did not cosign" in anyway.err, anyway
    assert cli("verify", "--from", out, "--vkey", vkey).code == 0
    assert cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey).code == 1


def test_an_unreachable_witness_leaves_the_checkpoint(setup, tmp_path):
    db, key, wvkey = setup["db"], setup["key"], setup["wvkey"]
    out = tmp_path / "pub"
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    before = (out / "checkpoint").read_bytes()
    make_log(db, 2, start=20)
    setup["witness"].stop()
    down = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", setup["witness"].url, wvkey)
    assert down.code == 4 and "cannot reach the witness" in down.err, down
    assert (out / "checkpoint").read_bytes() == before
    bad = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", "ftp://x", wvkey)
    assert bad.code == 2 and "--witness" in bad.err
    too_many = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", setup["witness"].url, wvkey,
                   "--witnesses", "2")
    assert too_many.code == 2 and "--witnesses" in too_many.err


class SpecWitness:
    """A witness written from tlog-witness and tlog-cosignature alone (hashlib, cryptography), to hold
    `publish --witness` to the spec rather than to our own server: it knows the log at size `known`
    and answers a first request 409 with that size, as the spec says."""

    def __init__(self, name: str, known: int) -> None:
        self.name, self.known, self.requests = name, known, []
        self.private = Ed25519PrivateKey.generate()
        public = self.private.public_key().public_bytes_raw()
        key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
        self.key_id = key_id
        self.vkey = f"{name}+{key_id.hex()}+" + base64.b64encode(b"\x04" + public).decode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, body))
                head, _, note = body.decode().partition("\n\n")
                old = int(head.split("\n")[0].removeprefix("old "))
                size = int(note.split("\n")[1])
                if old != outer.known:
                    return self.reply(409, f"{outer.known}\n".encode(), "text/x.tlog.size")
                checkpoint_body = note.rpartition("\n\n")[0] + "\n"
                t = int(time.time())
                sig = outer.private.sign(f"cosignature/v1\ntime {t}\n{checkpoint_body}".encode())
                outer.known = size
                line = f"\u2014 {outer.name} " + base64.b64encode(outer.key_id + t.to_bytes(8, "big") + sig).decode()
                self.reply(200, (line + "\n").encode(), "text/plain")

            def reply(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/w"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_publish_follows_the_spec_with_a_witness_written_from_it(tmp_path):
    db = tmp_path / "evals.db"
    make_log(db, 40)
    key, vkey = keygen(tmp_path)
    witness = SpecWitness("spec.example/w", known=13)  # it saw size 13 somewhere else
    try:
        done = cli("publish", "--log", db, "--to", tmp_path / "pub", "--key", key, "--witness", witness.url,
                   witness.vkey)
    finally:
        witness.server.shutdown()
    assert done.code == 0, done
    assert [path for path, _ in witness.requests] == ["/w/add-checkpoint"] * 2
    first, second = (body.decode() for _, body in witness.requests)
    assert first.startswith("old 0\n\n")
    head, _, note = second.partition("\n\n")
    assert head.split("\n")[0] == "old 13"
    hashes = [base64.b64decode(line) for line in head.split("\n")[1:]]
    assert hashes == proof(db, 13, 41)  # the RFC 9162 consistency proof from 13 to 41 (the genesis, 40 runs)
    assert "\n41\n" in spec_verifier.open_signed_note(note, "log.example", spec_verifier.vkey_parts(vkey)[2])
    name, _, public = spec_verifier.vkey_parts(witness.vkey)
    assert spec_verifier.cosignature_time((tmp_path / "pub" / "checkpoint").read_text(), name, public)
    assert cli("verify", "--from", tmp_path / "pub", "--vkey", vkey, "--witness-vkey", witness.vkey).code == 0


def test_the_server_takes_one_ascii_content_length(setup):
    witness = setup["witness"]
    note = checkpoint(setup["db"], setup["key"])
    body = request(0, [], note)
    for headers in ([("Content-Length", "\u00b2")], [("Content-Length", str(len(body))), ("Content-Length", "5")],
                    [("Transfer-Encoding", "chunked")]):
        conn = http.client.HTTPConnection("127.0.0.1", witness.port, timeout=30)
        try:
            conn.putrequest("POST", "/add-checkpoint", skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value.encode("utf-8"))
            conn.endheaders()
            assert conn.getresponse().status == 411, headers
        finally:
            conn.close()
    assert witness.post(body)[0] == 200  # still serving, and nothing above moved its record
    assert witness.process.poll() is None


def test_a_refusing_witness_leaves_readers_the_last_publication_whole(setup, tmp_path):
    db, key, vkey, wvkey, witness = (setup[k] for k in ("db", "key", "vkey", "wvkey", "witness"))
    out = tmp_path / "pub"
    assert cli("publish", "--log", db, "--to", out, "--key", key, "--witness", witness.url, wvkey).code == 0
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "projections").rglob("*") if p.is_file()}
    fork = tmp_path / "fork.db"  # the witness saw this origin's other tree: it refuses the next one
    make_log(fork, 30, start=900)
    make_log(db, 5, start=20)
    other = setup["tmp"] / "other-witness"
    wkey2, wvkey2 = keygen(other.parent, "witness.example/w2", cosigner=True)
    witness2 = WitnessProcess(wkey2, other, [(ORIGIN, vkey)], tmp_path / "w2.log")
    try:
        assert cli("publish", "--log", fork, "--to", tmp_path / "elsewhere", "--key", key, "--witness", witness2.url,
                   wvkey2).code == 0
        refused = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", witness.url, wvkey,
                      "--witness", witness2.url, wvkey2)
    finally:
        witness2.stop()
    assert refused.code == 1 and "1 of 2 witnesses cosigned" in refused.err, refused
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "projections").rglob("*") if p.is_file()}
    assert after == before  # the projections of the last publication, untouched
    assert cli("history", "--from", out, "--vkey", vkey).code == 0
    twice = cli("publish", "--log", db, "--to", out, "--key", key, "--witness", witness.url, wvkey,
                "--witness", witness.url, wvkey, "--witnesses", "2")
    assert twice.code == 2 and "the same witness key is given twice" in twice.err
    quorum = cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey, "--witness-vkey", wvkey,
                 "--witnesses", "2")
    assert quorum.code == 2 and "the same witness key is given twice" in quorum.err, quorum
    too_many = cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", wvkey, "--witnesses", "2")
    assert too_many.code == 2 and "2 needed, but 1 witness key given" in too_many.err, too_many
    itself = cli("verify", "--from", out, "--vkey", vkey, "--witness-vkey", vkey)
    assert itself.code == 2 and "is the log's own key: a log does not witness itself" in itself.err, itself
    assert cli("publish", "--log", db, "--to", out, "--key", key, "--witness", witness.url, vkey).code == 2
    own = cli("witness", "--key", key, "--state", tmp_path / "s", "--origin", ORIGIN, "--vkey", vkey, "--checkpoint",
              out / "checkpoint")
    assert own.code == 2 and "made without --cosigner" in own.err, own  # the log's key, as keygen made it
    alone = tmp_path / "moved" / "log.key"  # the same key file moved without its .vkey: its role unknown
    alone.parent.mkdir()
    alone.write_bytes(Path(key).read_bytes())
    alone.chmod(0o600)
    own = cli("witness", "--key", alone, "--state", tmp_path / "s", "--origin", ORIGIN, "--vkey", vkey, "--checkpoint",
              out / "checkpoint")
    assert own.code == 2 and "a log does not witness itself" in own.err, own


def test_a_409_naming_the_size_asked_for_the_checkpoints_own_is_a_fork_refused(tmp_path):
    """tlog-witness: "If the old size matches the checkpoint size, the witness MUST check that the root
    hashes are also identical. If they don't match, the witness MUST respond with a 409" and names no
    body for it; a witness may send its size as text/x.tlog.size, which is then the size asked from.
    That is a witness refusing another tree (exit 1), not one that cannot be reached (exit 4)."""
    db = tmp_path / "evals.db"
    make_log(db, 20)
    key, _ = keygen(tmp_path)
    asked = []

    class Forked(BaseHTTPRequestHandler):  # it cosigned size 21 of this origin, with another root
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            asked.append(self.rfile.read(int(self.headers["Content-Length"])).split(b"\n", 1)[0])
            self.send_response(409)
            self.send_header("Content-Type", "text/x.tlog.size")
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"21\n")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forked)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wvkey = SpecWitness("spec.example/w", known=0).vkey
    try:
        done = cli("publish", "--log", db, "--to", tmp_path / "pub", "--key", key, "--witness",
                   f"http://127.0.0.1:{server.server_address[1]}", wvkey)
    finally:
        server.shutdown()
    assert asked == [b"old 0", b"old 21"]
    assert done.code == 1 and "cosigned another tree of size 21" in done.err, done
    assert not (tmp_path / "pub" / "checkpoint").exists()


def test_the_server_takes_a_checkpoint_with_sixteen_post_quantum_sized_signatures(setup):
    """signed-note: verifiers "MUST accept at least up to 16 signatures. Remember that post-quantum
    signatures can be up to nearly 5kB in size." The log's, and 15 of 4,627 bytes by unknown keys."""
    note = checkpoint(setup["db"], setup["key"])
    unknown = "".join(f"\u2014 pq-{i}.example " + base64.b64encode(os.urandom(4 + 4627)).decode() + "\n"
                      for i in range(15))
    body = request(0, [], note + unknown)
    assert len(body) > 64 << 10
    status, _, answer = setup["witness"].post(body)
    assert status == 200, answer
