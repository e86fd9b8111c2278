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
from typing import Any

import orjson

from auditlog.core.encoding import MAX_SAFE_INT, canonical_bytes
from auditlog.errors import InvalidInput

_SORTED = orjson.OPT_SORT_KEYS


def canonical_object(members: dict[str, bytes]) -> bytes:
    """The RFC 8785 bytes of an object whose member values are already canonical bytes.

    Lets a caller encode a large value once and place it in several objects (a run in
    its document hash and in its event) by joining bytes instead of encoding again.
    Keys are ordered by UTF-16 code units (RFC 8785 3.2.3).
    """
    try:
        keys = sorted(members)
        if not "".join(keys).isascii():  # only characters above U+FFFF sort differently in UTF-16
            keys = sorted(members, key=_utf16)
        return b"{" + b",".join([_encode_key(key) + b":" + members[key] for key in keys]) + b"}"
    except (UnicodeEncodeError, AttributeError, TypeError):
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


def canonical_scalar(value: Any) -> bytes:
    """canonical_bytes of a top-level value, one C call for the common kinds (a string, an int
    JCS writes exactly, a boolean, null); anything else through the core's encoder."""
    kind = type(value)
    if kind is str:
        try:
            return orjson.dumps(value)  # RFC 8785's string escaping; a lone surrogate raises
        except orjson.JSONEncodeError:
            return canonical_bytes(value)  # which names it
    if (kind is int and -MAX_SAFE_INT <= value <= MAX_SAFE_INT) or kind is bool or value is None:
        return orjson.dumps(value)
    return canonical_bytes(value)


def canonical_plain(value: dict[str, Any]) -> bytes:
    """canonical_bytes of a flat object the caller checked: ASCII keys, and values that are ints within
    +-(2**53 - 1) or finite non-integral floats of magnitude at least 1e-4 (written alike by repr()
    and ECMAScript). One orjson call; sorted ASCII keys are RFC 8785's order."""
    return orjson.dumps(value, option=_SORTED)


def jcs_ready_item(item: dict[str, Any]) -> dict[str, Any] | None:
    """A validated run item (see evals.runs) as orjson writes it in RFC 8785 form, or None when
    one of its values needs the core's encoder.

    Its keys are the fixed ASCII item fields (so orjson's sorted order is JCS's), its strings are
    escaped alike, and its non-integral floats of at least 1e-4 print as repr() and ECMAScript
    print them. What differs: an integral float (a 1.0 score) is written as the int JCS writes,
    and a tiny float, a huge one, an unsafe int or `extra` (any JSON) are left to canonical_bytes.
    """
    score = item["score"]  # validated: in [0, 1]
    copy = None
    if type(score) is float and (score < 1e-4 or score.is_integer()):
        if not score.is_integer():
            return None  # a tiny score: written 0.00003, where repr() writes 3e-05
        copy = dict(item)
        copy["score"] = int(score)
    if len(item) == 3:  # item_id, score and passed only
        return item if copy is None else copy
    for name in ("latency_ms", "cost_usd"):
        value = item.get(name)
        if type(value) is float:
            if value.is_integer():
                if not -1e16 < value < 1e16:
                    return None
                if copy is None:
                    copy = dict(item)
                copy[name] = int(value)
            elif -1e-4 < value < 1e-4:
                return None
        elif type(value) is int and value > MAX_SAFE_INT:
            return None
    tokens = item.get("tokens")
    if (tokens is not None and tokens > MAX_SAFE_INT) or item.get("extra") is not None:
        return None
    return item if copy is None else copy


def canonical_items(prepared: list[dict[str, Any]], items: list[Any]) -> bytes:
    """canonical_bytes(items), given `prepared` (each item through jcs_ready_item): one orjson call."""
    try:
        return orjson.dumps(prepared, option=_SORTED)
    except orjson.JSONEncodeError:
        return canonical_bytes(items)  # a lone surrogate in an id or an error text: named there
