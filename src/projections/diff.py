"""What differs between two runs' `config` and `environment`, key by key.

Pure: two run documents in, a list of differences out. Nested objects are walked and
named by dotted paths (`config.generation.temperature`, `environment.git.commit`); a list
or a scalar is one value, compared whole. A key is `added` (only in B), `removed` (only in
A) or `changed` (in both, unequal; 1 and 1.0 are equal, as JSON numbers). The rule is
written in docs/projections.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SECTIONS = ("config", "environment")


@dataclass(frozen=True)
class KeyDifference:
    key: str  # a dotted path from the section: config.temperature, environment.packages.torch
    change: str  # added | removed | changed
    a: Any
    b: Any


def settings_diff(run_a: Mapping[str, Any], run_b: Mapping[str, Any]) -> list[KeyDifference]:
    """Every key of `config` and `environment` whose value differs, by section, then key."""
    out: list[KeyDifference] = []
    for section in SECTIONS:
        a, b = _leaves(run_a.get(section), section), _leaves(run_b.get(section), section)
        for key in sorted(a.keys() | b.keys()):
            if key not in b:
                out.append(KeyDifference(key, "removed", a[key], None))
            elif key not in a:
                out.append(KeyDifference(key, "added", None, b[key]))
            elif not _same(a[key], b[key]):
                out.append(KeyDifference(key, "changed", a[key], b[key]))
    return out


def _leaves(value: Any, path: str) -> dict[str, Any]:
    """The values under `path`, each at its dotted path; an absent section has none, an empty
    object is a value of its own (so that `{}` against a missing key still shows)."""
    if value is None and path in SECTIONS:
        return {}
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_leaves(inner, f"{path}.{key}"))
        return out
    if isinstance(value, Mapping) and path in SECTIONS:
        return {}
    return {path: value}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)
