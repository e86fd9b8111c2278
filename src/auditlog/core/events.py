"""The event envelope: explicit type names, a format version, canonical bytes, a hash.

An event is one JSON object canonicalised with RFC 8785. Those bytes are what is
stored, hashed, linked and proven; everything else about an event is derived from them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import chain
from json.encoder import encode_basestring as _encode_basestring
from operator import eq, itemgetter
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
_INTEGRAL = re.compile(rb"\.0[,\]}]")  # 1.0 (JCS: 1); faster than three `in` tests

FORMAT = 1
ZERO_HASH = "0" * 64

LOG_CREATED = "log.created"
RUN_RECORDED = "run.recorded"
VERDICT_RECORDED = "verdict.recorded"
RUN_ANNOTATED = "run.annotated"
RUN_SUPERSEDED = "run.superseded"
VERDICT_OVERRIDDEN = "verdict.overridden"
BASELINE_PINNED = "baseline.pinned"
EVENT_TYPES = frozenset({LOG_CREATED, RUN_RECORDED, VERDICT_RECORDED, RUN_ANNOTATED, RUN_SUPERSEDED,
                         VERDICT_OVERRIDDEN, BASELINE_PINNED})

_ENVELOPE_KEYS = ("actor", "data", "prev", "project", "seq", "subject", "ts", "type", "v")
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX_RUN = re.compile(r"[0-9a-f]*\Z")  # many hashes at once, joined
_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
_ENVELOPE = itemgetter(*_ENVELOPE_KEYS)
_sorted_json = partial(_dumps, option=OPT_SORT_KEYS | OPT_STRICT_INTEGER) if _dumps is not None else None


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


def event_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def seal(event: Event) -> SealedEvent:
    """Canonicalise and hash an event; raises InvalidInput for a bad envelope or values JSON cannot carry."""
    check_envelope(event)
    body = canonical_bytes(event.to_json())
    sealed = SealedEvent(event.seq, event_hash(body), body)
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
    fast path (`canonical_objects`, `envelope_members`) settles the usual body; anything else is
    decided by `parse_event`.
    """
    try:
        objs = canonical_objects([body])
        if objs is not None and envelope_members(objs) is not None:
            return
    except (ValueError, TypeError):
        pass  # parse_event names the reason (or accepts what the fast path could not, such as 2**53 + 1.0)
    parse_event(body)


def canonical_objects(bodies: Sequence[bytes]) -> list[dict[str, Any]] | None:
    """What orjson parses from each body, when each is an object that orjson's sorted encoding writes back
    byte for byte, holding nothing orjson writes unlike RFC 8785 (encoding.py lists what): no integral float
    (`1.0`), no exponent, no character above U+FFFF, no int beyond 2**53 - 1 (OPT_STRICT_INTEGER refuses it).
    None, ValueError or TypeError: let the exact path decide. One call checks a whole batch (the chain scan's)."""
    if _sorted_json is None:
        return None
    objs = list(map(_fast_loads, bodies))
    if set(map(type, objs)) != {dict} or not all(map(eq, map(_sorted_json, objs), bodies)):
        return None
    text = b"\n".join(bodies)  # searched at once: no pattern below spans the newline, which no such body holds
    if _INTEGRAL.search(text) or any(text[m.start() - 1] in b"0123456789" for m in _EXPONENT.finditer(text)):
        return None
    if not text.isascii() and any(lead in text for lead in (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")):
        return None
    return objs


def envelope_members(objs: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """Each member as a column, in `_ENVELOPE_KEYS` order, when every object is an envelope `check_envelope`
    passes (checked for a whole batch at once); None otherwise, and for a genesis event (seq 0), which
    `check_envelope` alone settles."""
    try:
        members = list(zip(*map(_ENVELOPE, objs)))
        actors, datas, prevs, projects, seqs, subjects, tss, types, vs = members
    except (KeyError, ValueError):  # a member missing, or no objects
        return None
    holds = (set(map(len, objs)) == {len(_ENVELOPE_KEYS)} and set(map(type, chain(seqs, vs))) == {int}
             and set(vs) == {FORMAT} and min(seqs) > 0 and set(map(type, chain(actors, datas))) == {dict}
             and set(map(type, chain(prevs, projects, subjects, tss, types))) == {str} and all(map(_TS.match, tss))
             and set(map(len, prevs)) == {64} and _HEX_RUN.match("".join(prevs)) is not None
             and ZERO_HASH not in prevs and LOG_CREATED not in types and all(map(_TYPE.match, set(types))))
    return members if holds else None


def _parse_int(text: str) -> int | float:
    """An integer literal beyond +-(2**53 - 1) can only be a float that RFC 8785 wrote without an
    exponent (1e16 is written 10000000000000000): read it back as that float, so that the bytes
    re-encode to themselves. A literal no float writes that way stays non-canonical, and is refused."""
    value = int(text)
    return float(value) if not -(2**53 - 1) <= value <= 2**53 - 1 else value


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
