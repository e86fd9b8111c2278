"""The chain scan's fast path: 512 rows checked at once, where nothing is wrong with them.

`ChainScan.scan` (`auditlog.core.chain`) checks row by row: each stored hash, the link, the
seq, the columns against the bytes (`envelope_matches`) and the body in full
(`check_event_bytes`). That loop is the reference, and it costs about 20 us per event in
Python. `clean_rows` answers the same question for a whole batch with a few calls into C
per batch (`map` over hashlib, orjson and re): either every row passes every check the loop
makes, and it returns what the loop would have computed (the event and leaf hashes), or it
returns None and the loop checks the rows itself, naming what is wrong. So a damaged log
gets exactly the report it got before; only a clean one is proven faster.

Why each step stands for the loop's check (rows r, bodies b, the objects orjson parses o):

- seqs are last_seq + 1, ... in order and ints, and every body is bytes: no gap, no misplaced row;
- sha256(b) equals the stored hash for every row: no hash problem, and each event's computed hash
  is the next one's `prev`;
- `canonical_objects`: each b is orjson's sorted encoding of o and `jcs_safe` (what
  `check_event_bytes`'s fast path requires), so b is RFC 8785's form of o;
- `envelope_members`: every o is an envelope `check_envelope` passes (exactly the nine members;
  v the int 1; seq an int > 0; strings where it wants strings, matching its patterns; actor and
  data objects; no genesis, which the loop checks alone);
- o's prev, project, seq, subject, ts and type equal the previous hash and the row's columns,
  which are exact str and int: so b, being RFC 8785, ends with `envelope_tail` of the columns,
  and `envelope_matches` holds.

Exact types are asked for where the loop accepts subclasses: the fast path may refuse more than
the loop (the loop then decides), never less. tests/unit/test_batch_check.py holds it to that.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import partial
from itertools import chain
from operator import eq, itemgetter, methodcaller
from typing import Any

import orjson

from auditlog.core.chain import Row
from auditlog.core.events import _ENVELOPE_KEYS, _HEX64, _TS, _TYPE, FORMAT, LOG_CREATED, ZERO_HASH, jcs_safe

_members = itemgetter(*_ENVELOPE_KEYS)  # actor, data, prev, project, seq, subject, ts, type, v
_sorted_json = partial(orjson.dumps, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
_hexdigest, _digest = methodcaller("hexdigest"), methodcaller("digest")
_leaf_prefix = b"\x00".__add__
_HEX = re.compile(r"[0-9a-f]*")  # prevs joined: each of 64 of these is check_envelope's _HEX64, one call a batch


def clean_rows(rows: list[Row], last_seq: int, head: str) -> tuple[list[str], list[bytes]] | None:
    """(event hashes, leaf hashes) of `rows` when the scan's loop, having read seq `last_seq` whose bytes
    hash to `head`, would find nothing wrong with any of them; None when it might (it then decides)."""
    if last_seq < 0 or not rows or set(map(len, rows)) != {7} or not _HEX64.match(head) or head == ZERO_HASH:
        return None  # the links are head, then hex digests computed here: each must be of check_envelope's form
    seqs, stored, ts, types, projects, subjects, bodies = zip(*rows)
    if (seqs != tuple(range(last_seq + 1, last_seq + 1 + len(rows))) or set(map(type, seqs)) != {int}
            or set(map(type, bodies)) != {bytes}):
        return None
    computed = list(map(_hexdigest, map(hashlib.sha256, bodies)))
    if computed != list(stored):
        return None
    try:
        objs = canonical_objects(bodies)
        members = envelope_members(objs, (head, *computed[:-1])) if objs is not None else None
    except (ValueError, TypeError):  # not JSON, or an int orjson will not write
        return None
    if (members is None or members[3:8] != [projects, seqs, subjects, ts, types]
            or set(map(type, chain(ts, types, projects, subjects))) != {str}):
        return None
    return computed, list(map(_digest, map(hashlib.sha256, map(_leaf_prefix, bodies))))


def canonical_objects(bodies: Sequence[bytes]) -> list[dict[str, Any]] | None:
    """What orjson parses from each body, when each is an object that orjson's sorted encoding writes back
    byte for byte and `jcs_safe` holds (then it is RFC 8785's form); None otherwise. Raises ValueError (not
    JSON) or TypeError (an int beyond 2**53 - 1)."""
    objs = list(map(orjson.loads, bodies))
    if set(map(type, objs)) != {dict} or not all(map(eq, map(_sorted_json, objs), bodies)):
        return None
    # One search over the batch: no pattern jcs_safe looks for holds a newline, and no such body does.
    return objs if jcs_safe(b"\n".join(bodies)) else None


def envelope_members(objs: Sequence[dict[str, Any]], links: tuple[str, ...] | None = None) -> list[tuple[Any, ...]] | None:
    """Each member as a column (`_ENVELOPE_KEYS` order) when every object is an envelope `check_envelope`
    passes and none is a genesis event (seq 0); None otherwise. With `links` (the hashes the prevs must
    name), each prev must equal its link instead, which also makes it of check_envelope's form when they
    are SHA-256 hex digests, as the scan's are: one comparison instead of a pattern over the batch."""
    try:
        members = list(zip(*map(_members, objs)))
        actors, datas, prevs, projects, seqs, subjects, tss, types, vs = members
    except (KeyError, ValueError):  # a member missing, or no objects
        return None
    holds = (set(map(len, objs)) == {len(_ENVELOPE_KEYS)} and set(map(type, chain(seqs, vs))) == {int}
             and set(vs) == {FORMAT} and min(seqs) > 0 and set(map(type, chain(actors, datas))) == {dict}
             and set(map(type, chain(prevs, projects, subjects, tss, types))) == {str}
             and all(map(_TS.match, tss)) and LOG_CREATED not in types and all(map(_TYPE.match, set(types)))
             and (prevs == links if links is not None else
                  set(map(len, prevs)) == {64} and _HEX.fullmatch("".join(prevs)) and ZERO_HASH not in prevs))
    return members if holds else None
