"""The body check's fast path (`events.jcs_safe` and orjson's own encoding) accepts only bytes RFC 8785 writes.

It accepts an event body when the bytes are orjson's own encoding of what orjson parsed
and hold nothing orjson writes unlike JCS; anything else goes to the exact path. Whenever
it says yes, the exact encoder must give the very same bytes (checked against the
`rfc8785` package too), for every JSON value hypothesis makes, floats and odd strings
included; and it must say yes for the ordinary events verify reads, or it saves nothing.
"""

from __future__ import annotations

import orjson
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog.core import events
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import Event, check_event_bytes, seal

SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
           | st.sampled_from([1.0, -0.0, 0.0, 1e16, 1e21, 1e-6, 1e-7, 5e-5, 2.0**53, "1.0,", "e-7", "\U0001f600", "\ue000"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                               max_size=4), max_leaves=20)


def accepted(body: bytes) -> bool:
    """The fast path's answer; its TypeError (an int beyond 2**53 - 1) sends the body the exact way too."""
    try:
        return events.jcs_safe(body) and orjson.dumps(orjson.loads(body), option=SORTED) == body
    except TypeError:
        return False


@settings(max_examples=3000, deadline=None)
@given(VALUES)
def test_what_the_fast_path_accepts_is_exactly_rfc_8785(value: object) -> None:
    try:
        body = orjson.dumps({"data": value}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return  # an int orjson cannot write
    if accepted(body):
        assert canonical_bytes(orjson.loads(body)) == body
        assert rfc8785.dumps(orjson.loads(body)) == body


def test_ordinary_events_take_the_fast_path() -> None:
    run = {"run_id": "r", "items": [{"item_id": f"q{i}", "score": i / 7, "passed": i % 2 == 0, "latency_ms": 10.5 + i,
                                      "tokens": 100 + i} for i in range(10)], "metrics": {"accuracy": 0.3, "n": 10}}
    body = seal(Event(3, "2026-01-01T00:00:00.000001Z", "run.recorded", "p", "r", {"user": "ci-é"},
                      {"run": run, "document_sha256": "a" * 64}, "b" * 64)).body
    assert accepted(body)
    check_event_bytes(body)  # and it is accepted in full


def test_integral_floats_and_exponents_still_go_the_exact_way() -> None:
    for body, canonical in ((b'{"a":1.0}', False), (b'{"a":1e-7}', True), (b'{"a":1e+16}', False),
                            (b'{"a":"1.0,"}', True), ('{"\U0001f600":1,"\ue000":2}'.encode(), True)):
        assert not accepted(body)
        try:
            exact = canonical_bytes(orjson.loads(body)) == body
        except Exception:  # noqa: BLE001 - refused by the exact encoder
            exact = False
        assert exact == canonical, body
