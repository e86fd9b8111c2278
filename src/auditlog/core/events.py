"""The event envelope: explicit type names, a format version, canonical bytes, a hash.

An event is one JSON object canonicalised with RFC 8785. Those bytes are what is
stored, hashed, linked and proven; everything else about an event is derived from them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from json.encoder import encode_basestring as _encode_basestring
from typing import Any

from auditlog.core.encoding import canonical_bytes
from auditlog.errors import InvalidInput

_fast_loads: Callable[[bytes | str], Any]
_dumps: Callable[..., bytes] | None
try:  # the fast strict check's parser and encoder; parse_event's stdlib json is the reference
    from orjson import OPT_SORT_KEYS, OPT_STRICT_INTEGER
    from orjson import dumps as _dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads, _dumps = json.loads, None
_EXPONENT = re.compile(rb"e[-+][0-9]")  # a literal first: re scans for it fast (a class first is ~40x slower)
_INTEGRAL = re.compile(rb"\.0[,\]}]")  # 1.0 (JCS: 1); a regex with a literal first beats three `in` tests

FORMAT = 1
ZERO_HASH = "0" * 64

LOG_CREATED = "log.created"
RUN_RECORDED = "run.recorded"
VERDICT_RECORDED = "verdict.recorded"
RUN_ANNOTATED = "run.annotated"
RUN_SUPERSEDED = "run.superseded"
VERDICT_OVERRIDDEN = "verdict.overridden"
BASELINE_PINNED = "baseline.pinned"
PROJECT_CONFIGURED = "project.configured"
EVENT_TYPES = frozenset({LOG_CREATED, RUN_RECORDED, VERDICT_RECORDED, RUN_ANNOTATED, RUN_SUPERSEDED,
                         VERDICT_OVERRIDDEN, BASELINE_PINNED, PROJECT_CONFIGURED})

_ENVELOPE_KEYS = ("actor", "data", "prev", "project", "seq", "subject", "ts", "type", "v")
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")


@dataclass(frozen=True)
class Event:
    """One fact, before or after it was sealed into bytes."""

    seq: int
    ts: str
    type: str
    project: str
    subject: str
    actor: dict[str, Any]
    data: dict[str, Any]
    prev: str
    v: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ENVELOPE_KEYS}


@dataclass(frozen=True)
class SealedEvent:
    """An event with the exact bytes that were hashed, as stored and proven."""

    seq: int
    hash: str
    body: bytes

    @cached_property
    def event(self) -> Event:
        """The parsed envelope (parsed once, on first use)."""
        return parse_event(self.body)


def seal(event: Event) -> SealedEvent:
    """Canonicalise and hash an event; raises InvalidInput for a bad envelope or values JSON cannot carry."""
    check_envelope(event)
    body = canonical_bytes(event.to_json())
    sealed = SealedEvent(event.seq, hashlib.sha256(body).hexdigest(), body)
    sealed.__dict__["event"] = event  # already known: spare the parse
    return sealed


def parse_event(body: bytes) -> Event:
    """Decode stored bytes back into an Event, checking the envelope strictly.

    Raises InvalidInput naming the field; the bytes must be canonical, so that
    parse and seal are inverse functions.
    """
    try:
        obj = json.loads(body, parse_int=_parse_int)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("event", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidInput("event", "not a JSON object")
    if tuple(sorted(obj)) != _ENVELOPE_KEYS:
        raise InvalidInput("event", f"envelope keys are {sorted(obj)}, expected {list(_ENVELOPE_KEYS)}")
    event = Event(**obj)
    check_envelope(event)
    if canonical_bytes(obj) != body:
        raise InvalidInput("event", "bytes are not the RFC 8785 canonical form")
    return event


def check_event_bytes(body: bytes) -> None:
    """Raise InvalidInput unless `body` is exactly one canonical event: JSON, an object with the
    envelope's members and no others, each obeying `check_envelope`, in RFC 8785 form.

    Re-encoding the parsed value must give the same bytes, which also refuses duplicate
    members (a parser keeps one of them; the re-encoding then differs), white space, escapes
    JCS would not write, and any other way two parsers could read one body differently. The
    fast path parses with orjson; anything it cannot settle is decided by `parse_event`.
    """
    try:
        obj = _fast_loads(body)
        written = _dumps is not None and jcs_safe(body) and _dumps(obj, option=OPT_SORT_KEYS | OPT_STRICT_INTEGER) == body
        if type(obj) is dict and len(obj) == len(_ENVELOPE_KEYS) and (written or canonical_bytes(obj) == body):
            check_envelope(Event(**obj))
            return
    except (ValueError, TypeError, InvalidInput):
        pass  # parse_event names the reason (or accepts what the fast path could not, such as 2**53 + 1.0)
    parse_event(body)


def jcs_safe(text: bytes) -> bool:
    """Whether `text` (a body, or many joined by newlines) has nothing orjson writes unlike RFC 8785: an
    integral float (`1.0`), an exponent, a character above U+FFFF (encoding.py). Such bytes that are also
    orjson's sorted, OPT_STRICT_INTEGER encoding of what it parsed are JCS; the rest take the exact path."""
    if _INTEGRAL.search(text) or any(text[m.start() - 1] in b"0123456789" for m in _EXPONENT.finditer(text)):
        return False
    return text.isascii() or not any(lead in text for lead in (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4"))


def _parse_int(text: str) -> int | float:
    """An integer literal beyond +-(2**53 - 1) can only be a float that RFC 8785 wrote without an
    exponent (1e16 is written 10000000000000000): read it back as that float, so that the bytes
    re-encode to themselves. A literal no float writes that way stays non-canonical, and is refused."""
    value = int(text)  # beyond any float (2**1024): left an int, which the canonical check refuses
    return float(value) if not -(2**53 - 1) <= value <= 2**53 - 1 and abs(value) < 2**1024 else value


def check_envelope(event: Event) -> None:
    """The rules every event obeys whatever its type."""
    if event.v != FORMAT or type(event.v) is not int:
        raise InvalidInput("v", f"unsupported event format {event.v!r}")
    if type(event.seq) is not int or event.seq < 0:
        raise InvalidInput("seq", "must be a non-negative integer")
    for name in ("ts", "type", "project", "subject", "prev"):
        if not isinstance(getattr(event, name), str):
            raise InvalidInput(name, "must be a string")
    if not _TS.match(event.ts):
        raise InvalidInput("ts", f"{event.ts!r} is not RFC 3339 UTC with microseconds and Z")
    if not _TYPE.match(event.type):
        raise InvalidInput("type", f"{event.type!r} is not a dotted lower-case type name")
    if not _HEX64.match(event.prev):
        raise InvalidInput("prev", "must be 64 lower-case hex digits")
    if not isinstance(event.actor, dict) or not isinstance(event.data, dict):
        raise InvalidInput("actor" if not isinstance(event.actor, dict) else "data", "must be an object")
    if (event.seq == 0) != (event.prev == ZERO_HASH):
        raise InvalidInput("prev", "only the genesis event (seq 0) has the all-zero prev")
    if (event.seq == 0) != (event.type == LOG_CREATED):
        raise InvalidInput("type", "seq 0 is the log.created genesis event, and only it")


def envelope_tail(prev: str, project: str, seq: int, subject: str, ts: str, type_: str) -> bytes:
    """The canonical bytes that end every event with these envelope fields.

    RFC 8785 sorts keys, so every field after "data" is a scalar at the end of the
    body. Comparing this tail lets `verify` check the indexed columns and the link
    against the hashed bytes without parsing every event.
    """
    q = _encode_basestring  # json's C escaper (non-ASCII kept raw) is exactly RFC 8785's; TypeError if not str
    return (
        f',"prev":"{prev}","project":{q(project)},"seq":{seq},"subject":{q(subject)},'
        f'"ts":{q(ts)},"type":{q(type_)},"v":{FORMAT}}}'
    ).encode()
