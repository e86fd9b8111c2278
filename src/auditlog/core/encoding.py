"""RFC 8785 (JSON Canonicalization Scheme, JCS) canonical JSON: the bytes that are hashed.

Two encoders, one answer. The C `json` encoder is far faster than any Python walk, and
with `sort_keys=True, separators=(",", ":"), ensure_ascii=False` its output already is
JCS for everything except some numbers and some key orders:

- strings: it escapes exactly what JCS 3.2.2.2 escapes (`\\"`, `\\\\`, `\\b \\f \\n \\r \\t`,
  other controls as lowercase `\\u00xx`) and writes every other character raw;
- ints: plain decimal digits, which is JCS for |n| <= 2**53 - 1;
- key order: code point order equals JCS's UTF-16 code unit order unless a key holds a
  character above U+FFFF (its surrogate pair sorts below U+E000..U+FFFF in UTF-16);
- floats: repr() has the shortest round-trip digits, as ECMAScript does, but lays them
  out differently: `1.0` (JCS `1`), `1e-05` (JCS `0.00001`), `1e+16` (JCS `10000000000000000`).

So `_prepare` walks the value once, swapping integral floats for the ints that print the
same text and tiny floats for marked strings (see `_MARK`), and gives up (`_Slow`) on
anything else json would get wrong or JCS refuses. Then `_reference`, a plain encoder
written from the RFC, does the whole value: it is the slow path for rare inputs (astral
keys, subclasses) and it names the JSON path of a bad value, so the fast path pays
nothing for paths.
"""

from __future__ import annotations

import json
import math
import re
from types import ModuleType
from typing import Any

from auditlog.errors import InvalidInput

_orjson: ModuleType | None
try:  # An accelerator, not a requirement: the same bytes, several times faster than json.
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; this keeps the core standalone
    _orjson = None

__all__ = ["canonical_bytes", "canonical_float"]

MAX_SAFE_INT = 2**53 - 1  # RFC 8785 3.2.2.3 / I-JSON: larger ints are not exact as doubles.
_INF = math.inf
_SCALARS = (str, bool, int, float, type(None))
_CONTAINERS = (dict, list, tuple)

# check_circular=False: _prepare has walked every container first, and a cycle is a
# RecursionError there; json's own check would only cost time.
_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
).encode


# orjson, given what _prepare leaves (no tiny floats, no integral floats, no big ints), writes
# what json writes: the same escaping (RFC 8785 3.2.2.2), repr's float digits, and with
# OPT_SORT_KEYS keys in code point order. The hypothesis tests check both paths.
_ORJSON_SORTED = _orjson.OPT_SORT_KEYS if _orjson is not None else 0

# Floats below 1e-4 (a cost of 0.00003 USD, say): repr() writes 3e-05, JCS 0.00003, and no
# Python value makes json print the latter. So `_prepare` puts the string _MARK + "0.00003"
# in their place, and _MARKED unquotes each one afterwards. _MARK is a lone surrogate, which
# no valid string holds. An invalid string holding one either keeps it (encode("utf-8")
# then refuses it) or is taken for a mark: a match ends at the first raw quote, inside or at
# the end of the string where it began, so it cannot swallow a real mark, and the regex
# finds more marks than were placed. Both send the value to the reference encoder.
_MARK = "\udbff"
_MARKED = re.compile('"' + _MARK + '([-+.0-9e]+)"')


class _Slow(Exception):
    """The fast path cannot encode this value as JCS; the reference encoder decides."""


def canonical_bytes(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Accepts dict (str keys), list, tuple, str, int, float, bool and None. Raises
    InvalidInput naming the JSON path (`$.items[3].score`) of a NaN or infinite float,
    an int outside +-(2**53 - 1), a non-str key, a lone surrogate or another type.
    """
    try:
        marks: list[str] = []
        prepared = _prepare(value, marks)
        if _orjson is not None and not marks:
            try:
                out = _orjson.dumps(prepared, option=_ORJSON_SORTED)
            except _orjson.JSONEncodeError:
                raise _Slow from None  # a lone surrogate, or an int beyond 64 bits
            if not out.isascii() and max(out) >= 0xF0 and _astral_key(prepared):
                raise _Slow  # 4-byte UTF-8 is a character above U+FFFF: see below
            return out
        text = _dumps(prepared)
        if marks:
            text, found = _MARKED.subn(r"\1", text)
            if found != len(marks):
                raise _Slow
        # Only a character above U+FFFF (two UTF-16 code units) can make json's code point
        # key order differ from JCS's. isascii() is O(1); the rest runs on non-ASCII text.
        if not text.isascii() and len(text.encode("utf-16-le")) > 2 * len(text):
            if _astral_key(prepared):
                raise _Slow
        return text.encode("utf-8")  # raises UnicodeEncodeError on lone surrogates
    except (_Slow, UnicodeEncodeError, RecursionError):
        return _reference(value)


def _prepare(value: Any, marks: list[str]) -> Any:
    """`value`, copied where needed, such that json.dumps writes it as JCS; or raise _Slow.

    Scalars are checked inline, not through a helper: a function call per value would
    cost more than the rest of the walk. Containers are copied only when something in
    them changes (typically a 1.0 score), so most of the document is shared, not copied.
    """
    container = type(value)
    if container is dict:
        slots = value.items()
    elif container is list or container is tuple:
        slots = enumerate(value)
    elif container in _SCALARS:
        return _prepare([value], marks)[0]
    else:
        raise _Slow  # subclasses (str enums, IntEnum, OrderedDict) and unsupported types
    copy: Any = None
    new: object
    for slot, item in slots:
        if type(slot) is not str and container is dict:
            raise _Slow  # json would quietly turn 1, 1.5, True or None keys into strings
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is float:
            if (1e-4 <= item < _INF or -_INF < item <= -1e-4) and not item.is_integer():
                continue
            new = _float(item, marks)
        elif kind is int:
            if -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                continue
            raise _Slow
        elif kind is dict or kind is list or kind is tuple:
            new = _prepare(item, marks)
            if new is item:
                continue
        else:
            raise _Slow
        if copy is None:
            copy = value.copy() if container is dict else list(value)
        copy[slot] = new
    return value if copy is None else copy


def _float(f: float, marks: list[str]) -> int | str:
    """What json prints as ECMAScript prints `f`, for a float repr() lays out wrong.

    Non-integral floats are below 2**52, and repr() writes them positionally (as ECMAScript
    does) down to 1e-4; so only tiny floats (marked: see _MARK), integral ones and NaN/inf
    come here. Integral floats below 1e16 print as their exact integer in both.
    """
    if -1e-4 < f < 1e-4 and f != 0:
        marks.append(_MARK)
        return _MARK + canonical_float(f)
    if f.is_integer():
        if -1e16 < f < 1e16:
            return int(f)  # -0.0 becomes 0, as JCS wants
        if -1e21 < f < 1e21:  # ECMAScript pads the shortest digits with zeros: 1e+20 -> 1 and 20 zeros
            return int(canonical_float(f))
    raise _Slow


def _astral_key(value: object) -> bool:
    """Whether a prepared value has a dict key with a character above U+FFFF."""
    if type(value) is dict:
        keys = "".join(value)
        if not keys.isascii() and len(keys.encode("utf-16-le")) > 2 * len(keys):
            return True
        value = value.values()
    elif type(value) is not list and type(value) is not tuple:
        return False
    return any(_astral_key(item) for item in value if type(item) in _CONTAINERS)


def canonical_float(f: float) -> str:
    """ECMAScript Number::toString(f) (ECMA-262 7.1.12.1), the number form of RFC 8785 3.2.2.3.

    repr() already yields the shortest digit string that round-trips, closest to the exact
    value, as ECMAScript asks (checked against V8 on 300,000 doubles); only the layout
    differs. So take repr's digits and decimal exponent and lay them out the ECMAScript way.
    """
    if not math.isfinite(f):
        raise InvalidInput("$", f"{_non_finite(f)} is not a JSON number; RFC 8785 admits only finite ones")
    if f == 0:
        return "0"  # -0 too
    mantissa, _, exponent = repr(abs(f)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # Value = 0.<digits> x 10**n; each leading zero stripped moves the point one place left.
    n = len(whole) + int(exponent or 0) - (len(whole) + len(fraction) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        point = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{point}e{'+' if n > 1 else '-'}{abs(n - 1)}"
    return "-" + text if f < 0 else text


def _non_finite(f: float) -> str:
    return "NaN" if math.isnan(f) else "Infinity" if f > 0 else "-Infinity"


_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update({'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


class _Bad(Exception):
    """A value JCS cannot encode; `path` collects JSON path steps while unwinding."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _reference(value: object) -> bytes:
    """RFC 8785 read literally, in pure Python: right for every input, names bad paths, slow."""
    out: list[str] = []
    try:
        _encode(value, out)
    except _Bad as bad:
        raise InvalidInput("$" + "".join(reversed(bad.path)), bad.reason) from None
    except RecursionError:
        raise InvalidInput("$", "value is nested too deeply or contains itself") from None
    return "".join(out).encode("utf-8")


def _encode(value: object, out: list[str]) -> None:
    # isinstance, in this order, so subclasses (IntEnum, str enums) encode as rfc8785 does.
    if value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise _Bad(f"integer {int(value)} is outside +-(2**53 - 1), the range JSON numbers hold exactly")
        out.append(str(int(value)))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Bad(f"{_non_finite(value)} is not a JSON number; RFC 8785 admits only finite ones")
        out.append(canonical_float(float(value)))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            _step(item, out, index)
        out.append("]")
    elif isinstance(value, dict):
        members = []
        for key, item in value.items():
            try:
                if not isinstance(key, str):
                    raise _Bad(f"object keys must be strings, not {type(key).__name__}")
                key_text = _string(key)  # validates the key, so utf-16 below cannot fail
            except _Bad as bad:
                bad.path.append(_segment(key) if isinstance(key, str) else f"[{key!r}]")
                raise
            members.append((key.encode("utf-16-be"), key, key_text, item))
        members.sort(key=lambda member: member[0])  # RFC 8785 3.2.3: by UTF-16 code units
        out.append("{")
        for index, (_, key, key_text, item) in enumerate(members):
            out.append(("," if index else "") + key_text + ":")
            _step(item, out, key)
        out.append("}")
    else:
        raise _Bad(f"{type(value).__name__} is not a JSON type")


def _step(item: object, out: list[str], where: str | int) -> None:
    """Encode a member (key `where`) or element (index `where`); an error learns its path."""
    try:
        _encode(item, out)
    except _Bad as bad:
        bad.path.append(_segment(where))
        raise


def _string(text: str) -> str:
    """RFC 8785 3.2.2.2: escape quote, backslash and controls; write the rest as is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _Bad(f"string is not valid Unicode (lone surrogate at index {error.start})") from None
    return '"' + _ESCAPE.sub(lambda match: _ESCAPES[match.group()], text) + '"'


def _segment(where: str | int) -> str:
    """One JSON path step: `[3]` for an index, `.name` for an identifier key, else `["a b"]`."""
    if isinstance(where, int):
        return f"[{where}]"
    if where.isascii() and where.isidentifier():
        return "." + where
    return "[" + json.dumps(where) + "]"
