"""A run item's optional fields, checked and readied for orjson in one pass.

Items are most of a run document (one per question of the eval); evals.runs checks their
required fields in one tight loop and hands the rest here, so that each optional value is
looked at once: for its rules, and for how RFC 8785 writes it (evals.canonical.jcs_ready_item's
rules; tests/unit/test_canonical_object.py checks the result against the core's encoder).
"""

from __future__ import annotations

import math
from typing import Any

from auditlog.core.encoding import MAX_SAFE_INT


def checked_optionals(item: dict[str, Any]) -> Any:
    """An item (its required fields checked) with its optional fields checked and readied for orjson:
    False when one is invalid (evals.runs names it); None when a value needs the core's encoder; else
    the item as orjson writes it in RFC 8785 form (a copy where an integral float becomes an int)."""
    ready: Any = item
    score = item["score"]
    if type(score) is float and (score < 1e-4 or score.is_integer()):
        ready = {**item, "score": int(score)} if score.is_integer() else None
    for name in ("latency_ms", "cost_usd"):
        value = item.get(name)
        if value is None:
            continue
        kind = type(value)
        if kind is float:
            if not 0 <= value < math.inf:
                return False
            if value.is_integer():
                if value >= 1e16:
                    ready = None
                elif ready is not None:
                    ready = {**ready, name: int(value)}
            elif value < 1e-4:
                ready = None
        elif kind is int:
            if value < 0:
                return False
            if value > MAX_SAFE_INT:
                ready = None
        else:
            return False
    tokens, error, extra = item.get("tokens"), item.get("error"), item.get("extra")
    if tokens is not None:
        if type(tokens) is not int or tokens < 0:
            return False
        if tokens > MAX_SAFE_INT:
            ready = None
    if error is not None and not isinstance(error, str):
        return False
    if extra is not None:
        if not isinstance(extra, dict):
            return False
        ready = None  # any JSON: the core's encoder
    return ready
