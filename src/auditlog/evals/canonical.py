"""Canonical JSON (RFC 8785) joined from parts that are canonical already: the writers' encode-once shortcut.

A run document is encoded once and placed, as bytes, both in what its document hash covers
and in its event, instead of being encoded again for each. This is not in the core: an
auditor never needs it, because verify parses every stored body and re-encodes it with
`auditlog.core.encoding.canonical_bytes`, so a body this ever got wrong would be reported,
not trusted (tests/unit/test_canonical_object.py checks the two agree).
"""

from __future__ import annotations

import functools
import json

from auditlog.errors import InvalidInput


def canonical_object(members: dict[str, bytes]) -> bytes:
    """The RFC 8785 bytes of an object whose member values are already canonical bytes.

    Lets a caller encode a large value once and place it in several objects (a run in
    its document hash and in its event) by joining bytes instead of encoding again.
    Keys are ordered by UTF-16 code units (RFC 8785 3.2.3).
    """
    try:
        keys = sorted(members, key=_utf16)
        return b"{" + b",".join(_encode_key(key) + b":" + members[key] for key in keys) + b"}"
    except (UnicodeEncodeError, AttributeError):
        bad = next(key for key in members if type(key) is not str or not _is_valid_text(key))
        raise InvalidInput("$", f"key {bad!r} is not a valid JSON string") from None


@functools.lru_cache(maxsize=4096)  # keys repeat: a document's field names
def _encode_key(key: str) -> bytes:
    return json.encoder.encode_basestring(key).encode("utf-8")


@functools.lru_cache(maxsize=4096)
def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be")


def _is_valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
