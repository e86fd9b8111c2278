"""Metric scopes: a run's metrics in named blocks, each with a status (AnomaLog's MetricScope).

A run may say that some of its figures are not to be trusted (`invalid`: the judge crashed
halfway), do not apply (`not_applicable`: no tool calls in this suite), or are there to
help a person debug (`diagnostic`). Trends, A/B summaries and comparisons must then not
mix them with the figures that are: `counts` is the one rule that says which scoped
metric is used by default, and which statuses a caller may ask for besides.

A scoped metric is addressed as `scope/name` everywhere (trend --metric, --where, compare,
export), so a scope's name is one plain word (no '/') and an unscoped metric may not be
named like a scoped one of the same run. Pure: standard library and auditlog.errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.evals.fields import check_object, field_path, kind_of, number_problem

STATUSES = ("valid", "invalid", "not_applicable", "diagnostic")
NEEDS_REASON = frozenset({"invalid", "not_applicable"})
SCOPE_KEYS = frozenset({"status", "metrics", "reason", "headline"})
NON_HEADLINE = "non_headline"  # in an include list: valid scopes marked `"headline": false`
INCLUDABLE = ("invalid", "not_applicable", "diagnostic", NON_HEADLINE)
MAX_SCOPE_NAME = 64
_SCOPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def check_scopes(scopes: Any, metrics: Any) -> None:
    """Check a run document's `metric_scopes` (and that no unscoped metric in `metrics` is named
    like one of its scoped metrics); raise InvalidInput naming the path and the reason."""
    where = "$.metric_scopes"
    if not isinstance(scopes, Mapping):
        raise InvalidInput(where, f"must be an object of scopes, not {kind_of(scopes)}")
    for name, scope in scopes.items():
        path = check_scope_name(name, where)
        check_object(scope, path, SCOPE_KEYS, what="an object with a status")
        status = scope.get("status")
        if status not in STATUSES:
            why = "is required" if "status" not in scope else f"must be one of {', '.join(STATUSES)}, not {status!r}"
            raise InvalidInput(f"{path}.status", why)
        reason = scope.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise InvalidInput(f"{path}.reason", f"must be a string, not {kind_of(reason)}")
        if status in NEEDS_REASON and not (reason or "").strip():
            raise InvalidInput(f"{path}.reason", f"is required when the status is {status}: say why")
        if "headline" in scope and type(scope["headline"]) is not bool:
            raise InvalidInput(f"{path}.headline", f"must be true or false, not {kind_of(scope['headline'])}")
        values = scope.get("metrics", {})
        if not isinstance(values, Mapping):
            raise InvalidInput(f"{path}.metrics", f"must be an object of numbers, not {kind_of(values)}")
        for metric, value in values.items():
            at = field_path(f"{path}.metrics", metric)
            if not isinstance(metric, str) or not metric:
                raise InvalidInput(at, "a metric's name must be a non-empty string")
            if type(value) not in (int, float):
                raise InvalidInput(at, f"must be a number, not {kind_of(value)}")
            problem = number_problem(value)
            if problem:
                raise InvalidInput(at, problem)
            if isinstance(metrics, Mapping) and f"{name}/{metric}" in metrics:
                raise InvalidInput(field_path("$.metrics", f"{name}/{metric}"),
                                   f"is also metric {metric!r} of scope {name!r}: a name means one value; "
                                   "rename the metric or move it into the scope")


def check_scope_name(name: Any, parent: str) -> str:
    """A scope's name: a letter or '_', then letters, digits, '_' or '-' (at most 64), so that
    `scope/name` is one word on a command line and in --where. Returns the scope's path."""
    if not isinstance(name, str) or not _SCOPE_NAME.match(name) or len(name) > MAX_SCOPE_NAME:
        raise InvalidInput(f"{parent} key {name!r}", "a scope's name is a letter or '_', then letters, digits, "
                                                     f"'_' or '-', at most {MAX_SCOPE_NAME} characters")
    return f"{parent}.{name}"


def headline(scope: Mapping[str, Any]) -> bool:
    """Whether a scope's metrics are headline metrics: yes unless it says `"headline": false`."""
    return scope.get("headline", True) is not False


def counts(status: str | None, is_headline: bool, include: Iterable[str] = ()) -> bool:
    """Whether a metric is used by a trend, an A/B summary or a comparison's verdict-like figures.

    An unscoped metric (status None) always is; a scoped one when its scope is valid and
    headline, or when `include` names its status (or NON_HEADLINE, for a valid scope that
    is not headline)."""
    if status is None:
        return True
    if status == "valid":
        return is_headline or NON_HEADLINE in include
    return status in include


def mark(status: str | None, is_headline: bool) -> str | None:
    """What a view prints beside a scoped metric that does not count by default: its status, or
    NON_HEADLINE; None for one that does."""
    if status is None or (status == "valid" and is_headline):
        return None
    return status if status != "valid" else NON_HEADLINE


def marks(status: Mapping[str, str] | None, headlines: Iterable[str] | None) -> dict[str, str]:
    """The mark of each scope of a run whose metrics do not count by default (a runs row's
    `scope_status` and `headline_scopes`), by scope name."""
    chosen = set(headlines or ())
    found = {name: mark(value, name in chosen) for name, value in (status or {}).items()}
    return {name: value for name, value in found.items() if value is not None}


def counted_text(included: Mapping[str, int], left_out: Mapping[str, int]) -> str | None:
    """A trend point's or figure's marks in words, `used invalid 2; left out diagnostic 1` (runs,
    by their scope's status); None when every value it could use was valid and headline."""
    parts = [f"{word} " + ", ".join(f"{status} {n}" for status, n in counted.items())
             for word, counted in (("used", included), ("left out", left_out)) if counted]
    return "; ".join(parts) or None


def parse_include(text: str | Iterable[str] | None) -> frozenset[str]:
    """`--include-status invalid,diagnostic` as a set; `all` is every status; InvalidInput names an unknown one."""
    if text is None:
        return frozenset()
    words = [w.strip() for w in (text.split(",") if isinstance(text, str) else text)]
    chosen: set[str] = set()
    for word in words:
        if word == "all":
            chosen.update(INCLUDABLE)
        elif word == "valid" or word == "":
            continue  # valid headline metrics are always used
        elif word in INCLUDABLE:
            chosen.add(word)
        else:
            raise InvalidInput("--include-status", f"unknown status {word!r}; one or more of "
                                                   f"{', '.join(INCLUDABLE)} or all, comma-separated")
    return frozenset(chosen)


def projected(run: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str], dict[str, str], list[str]]:
    """A recorded run's scopes as the runs table holds them: its scoped metrics by `scope/name`,
    each scope's status, the reasons given, and the headline scopes (every map and list in
    RFC 8785 key order, as the log's bytes are)."""
    scopes = run.get("metric_scopes") or {}
    values = {f"{name}/{metric}": float(value) for name, scope in scopes.items()
              for metric, value in (scope.get("metrics") or {}).items()}
    return (dict(sorted(values.items(), key=_utf16)),
            {name: scope["status"] for name, scope in sorted(scopes.items())},
            {name: scope["reason"] for name, scope in sorted(scopes.items()) if scope.get("reason") is not None},
            sorted(name for name, scope in scopes.items() if headline(scope)))


def _utf16(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-16-be", "surrogatepass")


def split(address: str) -> tuple[str, str] | None:
    """`scope/name` as (scope, name); None when `address` names no scoped metric."""
    scope, slash, name = address.partition("/")
    if not slash or not name or not _SCOPE_NAME.match(scope):
        return None
    return scope, name
