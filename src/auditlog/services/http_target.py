"""A published log read over HTTP(S): what an outside auditor has, a URL and a key.

tlog-tiles are static files, so anyone can serve them (a public container, a CDN, a mirror) and
anyone can check them: nothing read here is trusted until `verify --from` has checked it against
the signed checkpoint, so plain http:// is as safe to read as https:// (only privacy differs).
Read-only: publishing goes to the storage itself (a directory, az://, s3://, gs://).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

from auditlog.errors import InvalidInput, StorageError

TIMEOUT = 30.0  # seconds for one file
MAX_FILE = 64 << 20  # bytes: a tile is 8 KiB, a bundle 256 events; anything larger is not ours


class HttpTarget:
    """The files under `uri` (http:// or https://), fetched with GET; a 404 is a missing file."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._base = uri if uri.endswith("/") else uri + "/"

    def read(self, name: str) -> bytes | None:
        url = self._base + name
        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity", "User-Agent": "auditlog"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only
                data: bytes = response.read(MAX_FILE + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise StorageError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StorageError(f"{url}: cannot fetch: {reason}") from None
        if len(data) > MAX_FILE:
            raise StorageError(f"{url}: larger than {MAX_FILE >> 20} MiB: not a file of a published log")
        return data

    def exists(self, name: str) -> bool:
        return self.read(name) is not None

    def write(self, name: str, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        raise self._read_only()

    def prepare(self) -> None:
        raise self._read_only()

    def _read_only(self) -> InvalidInput:
        return InvalidInput("--to", f"{self.uri}: an http(s):// location is read-only: publish to its storage "
                                    "(a directory, az://, s3://, gs://)")
