"""How a document's fields are named in errors: the one spelling every check of a run, its
scopes or a project configuration uses, so a mistake reads the same wherever it is found."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from auditlog.core.encoding import MAX_SAFE_INT
from auditlog.errors import InvalidInput


def field_path(parent: str, key: Any) -> str:
    """`$.metrics.accuracy`, or `$.metrics["pass@1"]` for a key that is not an identifier."""
    return f"{parent}.{key}" if isinstance(key, str) and key.isidentifier() else f"{parent}[{json.dumps(key)}]"


def kind_of(value: Any) -> str:
    """A JSON value's kind in words, for "must be a number, not a string"."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def check_object(value: Any, path: str, allowed: frozenset[str], required: tuple[str, ...] = (),
                 what: str = "an object") -> None:
    """InvalidInput unless `value` is an object with only `allowed` fields and every `required` one."""
    if not isinstance(value, Mapping):
        raise InvalidInput(path, f"must be {what}, not {kind_of(value)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidInput(field_path(path, unknown[0]), f"unknown field (allowed: {', '.join(sorted(allowed))})")
    for name in required:
        if name not in value:
            raise InvalidInput(field_path(path, name), "is required")


def number_problem(value: int | float) -> str | None:
    """Why a number cannot be in a document (None when it can): NaN and Infinity, and an integer beyond
    +-(2**53 - 1), which JSON numbers do not hold exactly. Integers are compared, not passed to
    math.isfinite, which raised OverflowError (a traceback) for one beyond a float's range."""
    if type(value) is int:
        if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            return None
        shown = str(value) if value.bit_length() <= 128 else f"of about {int(value.bit_length() * 0.30103) + 1} digits"
        return f"integer {shown} is outside +-(2**53 - 1), the range JSON numbers hold exactly"
    return None if math.isfinite(value) else f"must be finite, not {value!r}"
