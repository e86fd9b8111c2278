"""Read a JSON document from a file or stdin, refusing anything ambiguous.

JSON that Python would accept but that cannot be hashed faithfully is refused
here with the file and the position: NaN and Infinity literals, duplicate keys
(which value was meant?), bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from auditlog.errors import InvalidInput, NotFound, StorageError

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


def read_json_document(path: str) -> Any:
    """Parse the JSON in `path` ('-' for stdin); InvalidInput names the file and the position."""
    return parse_json_document(read_bytes(path), "<stdin>" if path == "-" else path)


READ_CHUNK = 8 << 20  # bytes read at a time when someone is watching the progress


def read_bytes(path: str, limit: int = MAX_DOCUMENT_BYTES,
               progress: Callable[[int], None] | None = None) -> bytes:
    """A file's bytes ('-' for stdin), with our errors: NotFound, InvalidInput, StorageError.

    With `progress`, the file is read in chunks and `progress(bytes_read)` hears each one."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            return sys.stdin.buffer.read(limit + 1)
        with open(path, "rb") as f:
            if progress is None:
                return f.read(limit + 1)
            chunks: list[bytes] = []
            done = 0
            while done <= limit and (chunk := f.read(min(READ_CHUNK, limit + 1 - done))):
                chunks.append(chunk)
                done += len(chunk)
                progress(len(chunk))
            return b"".join(chunks)
    except FileNotFoundError:
        raise NotFound(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(name, "is a directory, not a file") from None
    except OSError as exc:
        raise StorageError(f"{name}: cannot read: {exc.strerror or exc}") from None


def parse_json_document(raw: bytes, name: str) -> Any:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(name, f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    if not raw.strip():
        raise InvalidInput(name, "is empty: expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(name, f"not UTF-8 at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InvalidInput(name, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _Refused as exc:
        raise InvalidInput(name, str(exc)) from None
    except RecursionError:
        raise InvalidInput(name, "nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits: Python will not read it (CVE-2020-10735)
        raise InvalidInput(name, f"cannot be read: {str(exc).split(';')[0]}") from None


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r} in one object")
            seen.add(key)
    return obj


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")
