"""The chain scan's batch fast path (`auditlog.services.batch`) never accepts what the row-by-row loop rejects.

Chains are forged as a log's holder would: any bytes, hashed and linked correctly, so that only
the property under test can be wrong. For each, the scan with the fast path and the reference
scan without it must give the same problems, size, head and root; and whenever `clean_rows`
vouches for rows, the reference finds nothing wrong in them. Ordinary events must take the
fast path, or it saves nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog.core.chain import ChainScan
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import ZERO_HASH, Event, check_envelope, seal
from auditlog.errors import InvalidInput
from auditlog.services.batch import canonical_objects, clean_rows, envelope_members
from tests.unit.test_fast_body_check import VALUES

TS = "2026-01-01T00:00:00.000001Z"
SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
Body = Callable[[int, str], bytes]  # (seq, prev) -> the bytes stored at seq


def envelope(seq: int, prev: str, **changes: Any) -> dict[str, Any]:
    event = {"actor": {"user": "ci"}, "data": {"n": seq, "score": 0.5}, "prev": prev, "project": "p",
             "seq": seq, "subject": f"run-{seq}", "ts": TS, "type": "run.recorded", "v": 1}
    return {**event, **changes}


def forge(n: int, body: Body, columns: Callable[[int, dict[str, Any]], tuple[Any, ...]] | None = None) -> list[tuple]:
    """A chain of n rows: a real genesis, then `body(seq, prev)` for each, hashed and linked."""
    genesis = seal(Event(0, TS, "log.created", "", "", {"user": "ci"}, {"log_id": "x" * 32, "origin": "o"}, ZERO_HASH))
    rows = [(0, genesis.hash, TS, "log.created", "", "", genesis.body)]
    for seq in range(1, n):
        data = body(seq, rows[-1][1])
        cols = (TS, "run.recorded", "p", f"run-{seq}")
        if columns is not None:
            cols = columns(seq, envelope(seq, rows[-1][1]))
        rows.append((seq, hashlib.sha256(data).hexdigest(), *cols, data))
    return rows


def scans(rows: list[tuple]) -> tuple[Any, Any]:
    """(fast, reference): each scan's problems and what it says of the log."""
    out = []
    for batch in (clean_rows, None):
        scan = ChainScan(rows[0][1], batch=batch)
        problems = [(p.seq, p.kind, p.detail) for p in scan.scan(rows)]
        out.append((problems, scan.size, scan.head, scan.root))
    return out[0], out[1]


def canonical(seq: int, prev: str, **changes: Any) -> bytes:
    return canonical_bytes(envelope(seq, prev, **changes))


def sorted_json(seq: int, prev: str, **changes: Any) -> bytes:
    return orjson.dumps(envelope(seq, prev, **changes), option=orjson.OPT_SORT_KEYS)


HOSTILE: dict[str, Body] = {
    "v is true": lambda seq, prev: canonical(seq, prev).replace(b'"v":1}', b'"v":true}'),
    "seq is true": lambda seq, prev: canonical(seq, prev).replace(f'"seq":{seq},'.encode(), b'"seq":true,'),
    "seq is a float": lambda seq, prev: canonical(seq, prev).replace(f'"seq":{seq},'.encode(), f'"seq":{seq}.0,'.encode()),
    "white space": lambda seq, prev: canonical(seq, prev).replace(b'"actor":', b'"actor": '),
    "a duplicate member": lambda seq, prev: canonical(seq, prev).replace(b'{"actor":', b'{"actor":{},"actor":'),
    "an integral float": lambda seq, prev: sorted_json(seq, prev, data={"n": 2.0}),
    "a big exponent": lambda seq, prev: sorted_json(seq, prev, data={"n": 1e16}),
    "astral keys": lambda seq, prev: sorted_json(seq, prev, data={"\U0001f600": 1, "\ue000": 2}),
    "an escape JCS does not write": lambda seq, prev: canonical(seq, prev).replace(b'"ci"', b'"\\u0063i"'),
    "an extra member": lambda seq, prev: canonical_bytes({**envelope(seq, prev), "w": 1}),
    "a missing member": lambda seq, prev: canonical_bytes({k: v for k, v in envelope(seq, prev).items() if k != "actor"}),
    "prev in upper case": lambda seq, prev: canonical(seq, prev.upper()),
    "prev of the wrong event": lambda seq, prev: canonical(seq, "ab" * 32),
    "an all-zero prev": lambda seq, prev: canonical(seq, ZERO_HASH),
    "a bad timestamp": lambda seq, prev: canonical(seq, prev, ts="2026-01-01 00:00:00Z"),
    "a bad type": lambda seq, prev: canonical(seq, prev, type="Run.Recorded"),
    "a second genesis": lambda seq, prev: canonical(seq, prev, type="log.created"),
    "actor a list": lambda seq, prev: canonical(seq, prev, actor=["ci"]),
    "data a string": lambda seq, prev: canonical(seq, prev, data="x"),
    "project a number": lambda seq, prev: canonical(seq, prev, project=5),
    "v is 2": lambda seq, prev: canonical(seq, prev, v=2),
    "an int beyond 2**53": lambda seq, prev: canonical(seq, prev).replace(b'"n":', b'"n":9007199254740993,"o":'),
    "not JSON": lambda seq, prev: canonical(seq, prev)[:-1],
    "not an object": lambda seq, prev: b"[" + canonical(seq, prev) + b"]",
    "the body of another seq": lambda seq, prev: canonical(seq + 1, prev),
}

class Equal:
    """A column value from a store written by something else, equal to anything."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


COLUMNS: dict[str, Callable[[int, dict[str, Any]], tuple[Any, ...]]] = {
    "project column differs": lambda seq, e: (e["ts"], e["type"], "q", e["subject"]),
    "subject column differs": lambda seq, e: (e["ts"], e["type"], e["project"], "run-x"),
    "ts column differs": lambda seq, e: ("2026-01-01T00:00:00.000002Z", e["type"], e["project"], e["subject"]),
    "type column differs": lambda seq, e: (e["ts"], "run.annotated", e["project"], e["subject"]),
    "a column not text": lambda seq, e: (e["ts"], e["type"], b"p", e["subject"]),
    "a column equal to anything": lambda seq, e: (e["ts"], e["type"], Equal(), e["subject"]),
}


def test_ordinary_events_take_the_fast_path() -> None:
    rows = forge(40, canonical)
    vouched = clean_rows(rows[1:], 0, rows[0][1])
    assert vouched is not None
    assert vouched[0] == [row[1] for row in rows[1:]]
    assert vouched[1] == [hashlib.sha256(b"\x00" + row[6]).digest() for row in rows[1:]]
    assert scans(rows)[0][0] == []


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("at", [1, 7, 39])
def test_a_hostile_body_is_left_to_the_loop_and_reported_as_before(name: str, at: int) -> None:
    rows = forge(40, lambda seq, prev: (HOSTILE[name] if seq == at else canonical)(seq, prev))
    fast, reference = scans(rows)
    assert fast == reference
    assert reference[0], f"{name}: the reference scan finds nothing wrong, so this case tests nothing"
    first = next(i for i, row in enumerate(rows) if row[0] == at)
    assert clean_rows(rows[first:first + 1], at - 1, rows[first - 1][1]) is None


def test_what_only_the_loop_can_settle_is_accepted_by_it() -> None:
    """1e-7 is RFC 8785's form too, but the fast path leaves every exponent to the exact check."""
    rows = forge(10, lambda seq, prev: sorted_json(seq, prev, data={"n": 1e-7}) if seq == 4 else canonical(seq, prev))
    assert b"1e-7" in rows[4][6]
    assert clean_rows(rows[4:5], 3, rows[3][1]) is None
    fast, reference = scans(rows)
    assert fast == reference and reference[0] == []


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_a_column_that_differs_from_the_bytes_is_left_to_the_loop(name: str) -> None:
    rows = forge(20, canonical, lambda seq, e: COLUMNS[name](seq, e) if seq == 9 else
                 (e["ts"], e["type"], e["project"], e["subject"]))
    fast, reference = scans(rows)
    assert fast == reference and reference[0]
    assert clean_rows(rows[9:10], 8, rows[8][1]) is None


@pytest.mark.parametrize("change", ["stored hash", "seq float", "row too long", "body text", "gap", "reordered"])
def test_a_row_the_store_got_wrong_is_left_to_the_loop(change: str) -> None:
    rows = forge(20, canonical)
    seq, stored, *cols, body = rows[9]
    rows[9] = {"stored hash": (seq, "f" * 64, *cols, body), "seq float": (9.0, stored, *cols, body),
               "row too long": (seq, stored, *cols, body, b""), "body text": (seq, stored, *cols, body.decode()),
               "gap": rows[10], "reordered": rows[10]}[change]
    if change == "reordered":
        rows[10] = (seq, stored, *cols, body)
    if change == "row too long":
        assert clean_rows(rows[9:10], 8, rows[8][1]) is None
        return  # the loop cannot unpack it either: a store never hands out such a row
    fast, reference = scans(rows)
    assert fast == reference and reference[0]


@settings(max_examples=1500, deadline=None)
@given(VALUES, st.integers(1, 5))
def test_any_data_gets_the_same_report_whichever_path(value: object, at: int) -> None:
    """orjson's sorted encoding of any value in `data` (floats, odd strings, astral keys): the fast path
    accepts it only if it is RFC 8785 (which the reference then accepts too)."""
    try:
        body = orjson.dumps(envelope(at, "x", data={"v": value}), option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return  # an int orjson cannot write
    rows = forge(6, lambda seq, prev: orjson.dumps(envelope(seq, prev, data={"v": value}), option=orjson.OPT_SORT_KEYS)
                 if seq == at else canonical(seq, prev))
    fast, reference = scans(rows)
    assert fast == reference
    if clean_rows(rows[at:at + 1], at - 1, rows[at - 1][1]) is not None:
        assert reference[0] == []
        assert rfc8785.dumps(orjson.loads(rows[at][6])) == rows[at][6]
    assert body  # built


MEMBER = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.floats(allow_nan=False), st.text(max_size=3),
                   st.sampled_from(["ab" * 32, "AB" * 32, ZERO_HASH, TS, "run.recorded", "log.created", "x.y"]),
                   st.just({}), st.just([]))


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(st.sampled_from(["actor", "data", "prev", "project", "seq", "subject", "ts", "type", "v", "w"]),
                       MEMBER, min_size=8, max_size=10))
def test_envelope_members_is_never_looser_than_check_envelope(obj: dict[str, Any]) -> None:
    base = envelope(3, "ab" * 32)
    for partial in ({**base, **obj}, obj):
        if envelope_members([partial]) is not None:
            check_envelope(Event(**partial))  # raises if the batch check let through what the reference refuses


def test_envelope_members_accepts_an_ordinary_envelope_and_refuses_genesis() -> None:
    assert envelope_members([envelope(3, "ab" * 32)]) is not None
    assert envelope_members([envelope(0, ZERO_HASH, type="log.created")]) is None
    with pytest.raises(InvalidInput):
        check_envelope(Event(**envelope(3, "ab" * 32, v=True)))
    assert envelope_members([envelope(3, "ab" * 32, v=True)]) is None


def test_envelope_members_with_links_asks_each_prev_to_equal_its_own() -> None:
    """The scan's links are SHA-256 hex digests: equal to them is check_envelope's form; anything else is refused."""
    links = (hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest())
    batch = [envelope(3, links[0]), envelope(4, links[1])]
    assert envelope_members(batch, links) is not None
    assert envelope_members(batch, links[::-1]) is None
    assert envelope_members([envelope(3, links[0].upper()), batch[1]], links) is None
    assert envelope_members(batch, (links[0],)) is None
    rows = forge(5, canonical)
    assert clean_rows(rows[1:], 0, rows[0][1]) is not None
    for head in ("AB" * 32, ZERO_HASH, "ab" * 31 + "a"):  # a first link of another form than a digest's
        linked = forge(5, lambda seq, prev, head=head: canonical(seq, head if seq == 1 else prev))
        assert clean_rows(linked[1:], 0, head) is None


@settings(max_examples=1000, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=4))
def test_canonical_objects_of_a_batch_are_rfc_8785(values: list[object]) -> None:
    try:
        bodies = [orjson.dumps({"data": v}, option=orjson.OPT_SORT_KEYS) for v in values]
    except TypeError:
        return
    try:
        objs = canonical_objects(bodies)
    except (ValueError, TypeError):
        objs = None
    if objs is not None:
        for body in bodies:
            assert rfc8785.dumps(orjson.loads(body)) == body
    alone = []
    for body in bodies:
        try:
            alone.append(canonical_objects([body]) is not None)
        except (ValueError, TypeError):
            alone.append(False)
    assert (objs is not None) == all(alone)  # a batch is clean exactly when each of its bodies is
