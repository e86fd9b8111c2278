"""RFC 8785 canonical JSON: the RFC's own vectors, rfc8785 as an oracle, and the error paths.

`rfc8785` (the PyPI package by Trail of Bits) is the oracle: for every value it accepts,
our bytes must equal its bytes. Our fast path is also checked against our own
reference encoder, so that a bug in one cannot hide behind the other.
"""

from __future__ import annotations

import enum
import json
import math
import struct
from collections import OrderedDict

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog.core import encoding
from auditlog.core.encoding import MAX_SAFE_INT, canonical_bytes, canonical_float
from auditlog.errors import InvalidInput


def from_bits(hex_bits: str) -> float:
    """The double with this IEEE-754 bit pattern, as RFC 8785 Appendix B lists them."""
    return struct.unpack(">d", bytes.fromhex(hex_bits))[0]


# --- Known answers from RFC 8785 itself ---------------------------------------------

# RFC 8785 Appendix B, "Number Serialization Samples" (NaN and Infinity rows are errors,
# tested below).
APPENDIX_B = [
    ("0000000000000000", "0"),  # Zero
    ("8000000000000000", "0"),  # Minus zero
    ("0000000000000001", "5e-324"),  # Min pos number
    ("8000000000000001", "-5e-324"),  # Min neg number
    ("7fefffffffffffff", "1.7976931348623157e+308"),  # Max pos number
    ("ffefffffffffffff", "-1.7976931348623157e+308"),  # Max neg number
    ("4340000000000000", "9007199254740992"),  # Max pos int
    ("c340000000000000", "-9007199254740992"),  # Max neg int
    ("4430000000000000", "295147905179352830000"),  # ~2**68
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),  # Round to even
]


@pytest.mark.parametrize(("hex_bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(hex_bits: str, expected: str) -> None:
    value = from_bits(hex_bits)
    assert canonical_float(value) == expected
    assert canonical_bytes(value) == expected.encode()
    assert canonical_bytes({"n": [value]}) == b'{"n":[' + expected.encode() + b"]}"


@pytest.mark.parametrize("hex_bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_rfc8785_appendix_b_nan_and_infinity_are_errors(hex_bits: str) -> None:
    with pytest.raises(InvalidInput):
        canonical_bytes(from_bits(hex_bits))
    with pytest.raises(InvalidInput):
        canonical_float(from_bits(hex_bits))


def test_rfc8785_section_3_2_2_example_gives_section_3_2_4_bytes() -> None:
    # The input of RFC 8785 3.2.2 (after JSON parsing), and the UTF-8 bytes listed in 3.2.4.
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = bytes.fromhex(
        """
        7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
        75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
        5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
        65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
        5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
        30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d
        """
    )
    assert canonical_bytes(value) == expected
    assert expected.decode() == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 3.2.3: U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33
    # although its code point is higher: code point order would get this wrong.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_bytes(value) == expected.encode("utf-8")
    assert canonical_bytes({"nested": [value]}) == b'{"nested":[' + expected.encode("utf-8") + b"]}"


# --- The oracle: rfc8785.dumps -------------------------------------------------------

# Floats where layouts switch or precision ends: repr() and ECMAScript change notation
# at different places, and the fast path decides by range.
BOUNDARY_FLOATS = [
    x
    for edge in (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1.0, 2.0**52, 2.0**53, 1e15, 1e16, 1e17, 1e20, 1e21, 1e22)
    for y in (edge, -edge)
    for x in (math.nextafter(y, 0), y, math.nextafter(y, math.inf), math.nextafter(y, -math.inf))
] + [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 0.5, 1 / 3]


@pytest.mark.parametrize("value", BOUNDARY_FLOATS, ids=repr)
def test_boundary_floats_match_rfc8785(value: float) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert canonical_bytes([value, {"k": value}]) == rfc8785.dumps([value, {"k": value}])
    assert float(canonical_float(value)) == value


any_double = (
    st.integers(0, 2**64 - 1).map(lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0]).filter(math.isfinite)
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # includes subnormals and -0.0
    any_double,  # every exponent equally likely: huge and tiny numbers
    st.integers(-(2**60), 2**60).map(float),  # integral floats, below and above 2**53
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 3e-5, -1e-7, 1e21, 1e16]),
)
ints = st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
characters = st.one_of(
    st.characters(exclude_categories=["Cs"]),  # all of Unicode but lone surrogates
    st.sampled_from(list('\x00\x08\t\n\x0c\r\x1f"\\/\x7f\u2028\ue000\uffff\ufb33\U0001f600\U0010ffff')),
)
texts = st.text(characters, max_size=12)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(texts, children, max_size=5),
    ),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_matches_rfc8785_and_the_reference_encoder(value: object) -> None:
    expected = rfc8785.dumps(value)
    assert canonical_bytes(value) == expected
    assert encoding._reference(value) == expected
    assert _without_orjson(canonical_bytes, value) == expected


def _without_orjson(function, *args):  # noqa: ANN001, ANN202
    """Run the stdlib json fast path, as on a machine without the orjson accelerator."""
    saved, encoding._orjson = encoding._orjson, None
    try:
        return function(*args)
    finally:
        encoding._orjson = saved


def test_orjson_accelerator_is_in_use() -> None:
    assert encoding._orjson is not None, "orjson is a dependency: the fast path should use it"


@settings(max_examples=3000, deadline=None)
@given(floats)
def test_canonical_float_matches_rfc8785(value: float) -> None:
    assert canonical_float(value) == rfc8785.dumps(value).decode()


def as_json(value: object) -> object:
    """What json.loads gives back for `value`: tuples become lists."""
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    return value


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip(value: object) -> None:
    # JCS numbers are IEEE doubles, so read them back as such: 6.158027104866425e16 is
    # written 61580271048664250, which as a Python int is not the double it came from.
    # == treats 1 and 1.0, 0 and -0.0 as equal: exactly the information JCS keeps.
    assert json.loads(canonical_bytes(value), parse_int=float) == as_json(value)


def test_integral_floats_print_as_integers() -> None:
    assert canonical_bytes({"score": 1.0, "zero": -0.0, "big": 1e20, "list": [0.0, 2.0]}) == (
        b'{"big":100000000000000000000,"list":[0,2],"score":1,"zero":0}'
    )


def test_subclasses_encode_as_their_base_type_like_rfc8785() -> None:
    class Colour(str, enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    value = OrderedDict([("b", Colour.RED), ("a", Level.HIGH), ("c", [True, None])])
    assert canonical_bytes(value) == rfc8785.dumps(value) == b'{"a":3,"b":"red","c":[true,null]}'


def test_does_not_modify_its_input() -> None:
    value = {"items": [{"score": 1.0}, (0.0, 1e-5)], "metrics": {"acc": 0.5}}
    before = repr(value)
    canonical_bytes(value)
    assert repr(value) == before


def test_tiny_floats_are_written_the_ecmascript_way() -> None:
    value = {"cost_usd": 0.00003, "p": [-1e-5, 1e-7, 9.99e-5, 1e-4], "lr": "1e-05"}
    assert canonical_bytes(value) == b'{"cost_usd":0.00003,"lr":"1e-05","p":[-0.00001,1e-7,0.0000999,0.0001]}'


def test_astral_characters_in_values_only_keep_the_fast_path_order() -> None:
    value = {"\ufb33": "\U0001f600", "a": ["\U0001f600\ue000"]}
    assert canonical_bytes(value) == rfc8785.dumps(value)


# --- Errors name the JSON path of the offending value -------------------------------

ERRORS = [
    ({"metrics": {"acc": math.nan}}, "$.metrics.acc", "NaN"),
    ({"items": [0.5, 1.0, math.inf]}, "$.items[2]", "Infinity"),
    ({"items": [{}, {}, {}, {"score": -math.inf}]}, "$.items[3].score", "-Infinity"),
    ({"a b": {"c": math.nan}}, '$["a b"].c', "NaN"),
    (math.nan, "$", "NaN"),
    ({"note": "ok \ud800 not"}, "$.note", "surrogate"),
    ({"items": [{"\udfff": 1}]}, '$.items[0]["\\udfff"]', "surrogate"),
    ({"seed": 2**53}, "$.seed", "2**53"),
    ({"seed": -(2**53)}, "$.seed", "2**53"),
    ([1, [2, 10**30]], "$[1][1]", "2**53"),
    ({"metrics": {1: 0.5}}, "$.metrics[1]", "keys must be strings"),
    ({"metrics": {None: 0.5}}, "$.metrics[None]", "keys must be strings"),
    ({"items": [1, 2, {3}]}, "$.items[2]", "set"),
    ({"when": b"bytes"}, "$.when", "bytes"),
    ({"x": 1e-5, "y": [object()]}, "$.y[0]", "object"),
    # Strings that mimic the fast path's marks for tiny floats (a lone surrogate, then a
    # number) are invalid, and must be refused, not unquoted into numbers.
    ({"a": encoding._MARK + "1e-7", "b": 1e-7}, "$.a", "surrogate"),
    ({"a": [1e-5, 'x"' + encoding._MARK + '1', 2e-5]}, "$.a[1]", "surrogate"),
    ({encoding._MARK + "1e-7": 1e-7}, '$["\\udbff1e-7"]', "surrogate"),
    ([encoding._MARK + "5e-5"], "$[0]", "surrogate"),
]


@pytest.mark.parametrize(("value", "field", "reason"), ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_name_the_json_path(value: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        canonical_bytes(value)
    assert caught.value.field == field
    assert reason in caught.value.reason
    with pytest.raises(Exception):  # the oracle refuses these too  # noqa: B017
        rfc8785.dumps(value)


# Strings holding a lone surrogate, often shaped like the fast path's marks for tiny floats.
surrogate_texts = (
    st.lists(st.one_of(texts, st.sampled_from(["\ud800", "\udfff", encoding._MARK, '"', "1e-7"])), min_size=1)
    .map("".join)
    .filter(lambda text: any("\ud800" <= char <= "\udfff" for char in text))
)


@settings(max_examples=200, deadline=None)
@given(json_values, surrogate_texts)
def test_lone_surrogates_are_refused_anywhere(value: object, bad: str) -> None:
    for document, field in (([value, bad, 1e-5], "$[1]"), ({"v": value, "w": {bad: 1e-5}}, "$.w[")):
        with pytest.raises(InvalidInput) as caught:
            canonical_bytes(document)
        assert caught.value.field.startswith(field)


def test_largest_safe_integers_are_accepted() -> None:
    assert canonical_bytes([MAX_SAFE_INT, -MAX_SAFE_INT]) == rfc8785.dumps([MAX_SAFE_INT, -MAX_SAFE_INT])


def test_a_value_that_contains_itself_is_invalid_not_a_crash() -> None:
    value: dict = {"a": []}
    value["a"].append(value)
    with pytest.raises(InvalidInput) as caught:
        canonical_bytes(value)
    assert caught.value.field == "$"


@pytest.mark.bench
def test_benchmark_quick_run(quick_runs) -> None:  # noqa: ANN001
    result = quick_runs.benchmarks["encoding"]  # scripts/bench/encoding.py --quick, run once (tests/support/bench.py)
    assert result.returncode == 0, result.stderr
    assert "speedup vs rfc8785:" in result.stdout
