"""C2SP tlog-witness over HTTP: a witness that answers add-checkpoint, and a log that asks witnesses.

The server (`auditlog witness-server`) is the file-based witness (`services.witness`: the same
checks, record and lock) behind `POST <prefix>/add-checkpoint`, answering with the status codes
the spec names: 400 a malformed request or an old size above the checkpoint's, 403 no trusted
signature, 404 an origin it does not witness, 409 an old size that is not the one it cosigned
last (the body says which, as `text/x.tlog.size`, and nothing else is a 409), 422 a consistency
proof that does not verify or cannot (not empty from size 0 or from the checkpoint's own size),
the same size with another root, a checkpoint of size 0 without the empty tree's root; 200 its
cosignature line.

The client (`auditlog publish --witness URL VKEY`) sends the checkpoint about to be published with
a consistency proof from the size it believes the witness cosigned last (the previous
publication's); a 409 names the witness's size, and the request is sent again from there. What a
witness answers is used only if its line verifies under the witness key the caller gave.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from auditlog.core.checkpoint import parse_checkpoint
from auditlog.core.note import Verifier, unverified_note
from auditlog.errors import AuditLogError, InvalidInput, StorageError, VerificationError
from auditlog.services.signing import Signer
from auditlog.services.witness import OldSizeMismatch, witness_request
from auditlog.tlog import witness_protocol as protocol
from auditlog.tlog.cosignature import CosignerKey, witnessed_by
from auditlog.tlog.witness import Refused

TIMEOUT = 30.0  # seconds for one request, whole (the client's answer; the server's request)
MAX_CONNECTIONS = 64  # the server's threads at once: more wait for one to end
_DECIMAL = re.compile(r"[0-9]{1,9}\Z")
_ATTEMPTS = 3  # a first guess of the witness's size, its answer, and once more if it moved meanwhile


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


class WitnessService:
    """What the server does with one add-checkpoint body, apart from HTTP."""

    def __init__(self, trusted: Mapping[str, Sequence[Verifier]], signer: Signer, state: Path) -> None:
        self.trusted = {origin: list(keys) for origin, keys in trusted.items()}
        self.signer = signer
        self.state = state
        self._lock = threading.Lock()  # one request at a time checks and moves the record

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = protocol.parse_request(body)
            origin = unverified_note(request.note)[0].split("\n", 1)[0]
        except protocol.Unprocessable as exc:
            return _text(422, str(exc))
        except (InvalidInput, VerificationError) as exc:
            return _text(400, str(exc))
        if origin not in self.trusted:
            return _text(404, f"unknown origin {origin[:200]!r}: this witness does not witness that log")
        try:
            with self._lock:
                done = witness_request(request, origin, self.trusted[origin], self.signer, self.state)
        except protocol.Unprocessable as exc:
            return _text(422, str(exc))
        except InvalidInput as exc:
            return _text(400, str(exc))
        except OldSizeMismatch as exc:
            return Answer(409, protocol.format_size(exc.recorded), protocol.SIZE_TYPE)
        except Refused as exc:  # a fork, a proof that does not verify, a bad empty tree (a rollback is a 400 first)
            return _text(422, str(exc))
        except VerificationError as exc:  # the checkpoint is not signed by a key trusted for its origin
            return _text(403, str(exc))
        except AuditLogError as exc:  # the state cannot be read or written: nothing was cosigned
            return _text(503, str(exc))
        return Answer(200, done.line.encode("utf-8"))


def _text(status: int, message: str) -> Answer:
    return Answer(status, (message + "\n").encode("utf-8"))


def make_server(service: WitnessService, host: str, port: int, prefix: str = "") -> ThreadingHTTPServer:
    """An HTTP/1.1 server (keep-alive, as the spec asks) for `service` at `prefix`/add-checkpoint."""
    path = prefix.rstrip("/") + "/" + protocol.PATH

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "auditlog-witness"
        timeout = TIMEOUT  # a client that stops sending holds a thread this long at most

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path != path:
                return self._answer(_text(404, f"no such endpoint: POST {path}"))
            lengths = self.headers.get_all("Content-Length") or []
            if len(set(lengths)) != 1 or not _DECIMAL.match(lengths[0]) or "Transfer-Encoding" in self.headers:
                return self._answer(_text(411, "one Content-Length, in ASCII digits, is required"), close=True)
            if int(lengths[0]) > protocol.MAX_REQUEST:
                return self._answer(_text(413, f"at most {protocol.MAX_REQUEST} bytes"), close=True)
            body = _read_by(self.rfile, time.monotonic() + TIMEOUT, int(lengths[0]))
            if body is None:
                return self._answer(_text(408, f"the body did not arrive within {TIMEOUT:.0f} s"), close=True)
            self._answer(service.add_checkpoint(body))

        def do_GET(self) -> None:  # noqa: N802
            self._answer(_text(405, f"only POST {path}"))

        def _answer(self, answer: Answer, close: bool = False) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return _BoundedServer((host, port), Handler)


class _BoundedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS requests handled at once: a flood of slow clients waits instead of
    taking a thread (and a file descriptor) each."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _read_by(stream: Any, deadline: float, length: int | None = None) -> bytes | None:
    """`length` bytes from `stream` (all of it, when None), or None once `deadline` passes, the stream ends
    short of `length`, or it holds more than a request: the socket's timeout is per read, so a peer
    sending a byte at a time would otherwise hold the reader as long as it likes."""
    chunks: list[bytes] = []
    size = 0
    while length is None or size < length:
        if time.monotonic() > deadline:
            return None
        want = 8192 if length is None else min(length - size, 8192)
        try:
            chunk = stream.read1(want) if hasattr(stream, "read1") else stream.read(want)
        except OSError:
            return None
        if not chunk:
            return None if length is not None else b"".join(chunks)
        size += len(chunk)
        if size > protocol.MAX_REQUEST:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class WitnessRefused(VerificationError):
    """A witness would not cosign: it saw another tree for this origin, or does not take this log."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log asks: its add-checkpoint URL prefix and the key its cosignatures must verify under."""

    url: str
    key: CosignerKey | Verifier

    @property
    def name(self) -> str:
        return self.key.name


def request_cosignature(endpoint: WitnessEndpoint, note: str, *, old_size: int,
                        proof_for: Callable[[int], list[bytes]]) -> list[str]:
    """The witness's signature lines on `note` (verified under its key), asking from `old_size` first.

    WitnessRefused when it refuses (another tree for this origin, an unknown origin or key, a proof it
    could not verify); StorageError when it cannot be reached or answers something else."""
    size = parse_checkpoint(unverified_note(note)[0]).size
    url = endpoint.url.rstrip("/") + "/" + protocol.PATH
    for _ in range(_ATTEMPTS):
        proof = proof_for(old_size) if 0 < old_size < size else []
        status, content_type, body = _post(url, protocol.format_request(old_size, proof, note))
        if status == 200:
            return _verified_lines(endpoint, url, note, body)
        reason = body.decode("utf-8", "replace").strip().splitlines()[:1] or [""]
        if status == 409 and content_type.split(";")[0].strip() == protocol.SIZE_TYPE:
            try:
                cosigned = protocol.parse_size(body)
            except InvalidInput as exc:
                raise StorageError(f"{url}: {exc}") from None
            if cosigned > size:
                raise WitnessRefused(f"{url}: the witness cosigned size {cosigned} of this origin, more than the "
                                     f"{size} events published: this log was rolled back, or is another log with "
                                     "the same origin")
            if cosigned == old_size == size:  # the spec's 409 for another root at that size, whatever its body
                raise WitnessRefused(f"{url}: HTTP 409: the witness cosigned another tree of size {size} for this "
                                     "origin")
            if cosigned == old_size:
                raise StorageError(f"{url}: the witness asks for size {cosigned} again")
            old_size = cosigned
            continue
        if status in (403, 404, 409, 422):
            raise WitnessRefused(f"{url}: HTTP {status}: {reason[0][:300]}")
        raise StorageError(f"{url}: HTTP {status}: {reason[0][:300]}")
    raise StorageError(f"{url}: the witness's size kept moving ({_ATTEMPTS} requests)")


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": "auditlog"})
    deadline = time.monotonic() + TIMEOUT
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - the caller's witness URL
            status, kind, answer = response.status, response.headers.get("Content-Type", ""), _read_by(response, deadline)
    except urllib.error.HTTPError as exc:
        status, kind, answer = exc.code, exc.headers.get("Content-Type", ""), _read_by(exc, deadline)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StorageError(f"{url}: cannot reach the witness: {getattr(exc, 'reason', exc)}") from None
    if answer is None:
        raise StorageError(f"{url}: the witness's answer did not arrive within {TIMEOUT:.0f} s, or was longer "
                           f"than {protocol.MAX_REQUEST} bytes")
    return status, kind, answer


def _verified_lines(endpoint: WitnessEndpoint, url: str, note: str, body: bytes) -> list[str]:
    """The answer's lines by the endpoint's key, once they verify on `note` (others are ignored, as the
    spec says a client must)."""
    try:
        note_body, _ = unverified_note(note)
        _, signatures = unverified_note(note_body + "\n" + "".join(protocol.parse_signature_lines(body)))
        own = [s.line() for s in signatures if (s.name, s.key_id) == (endpoint.key.name, endpoint.key.key_id)]
        if not own or endpoint.name not in witnessed_by(note_body + "\n" + "".join(own), [endpoint.key]):
            raise WitnessRefused(f"{url}: the answer holds no cosignature by {endpoint.name}")
    except (InvalidInput, VerificationError) as exc:
        if isinstance(exc, WitnessRefused):
            raise
        raise WitnessRefused(f"{url}: the answer is not a valid cosignature by {endpoint.name} ({exc})") from None
    return own
