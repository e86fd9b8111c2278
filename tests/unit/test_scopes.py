"""evals.scopes: which scoped metric counts, its mark, and the include list; pure, no log needed."""

from __future__ import annotations

import pytest

from auditlog.errors import InvalidInput
from auditlog.evals.scopes import INCLUDABLE, counts, headline, mark, marks, parse_include, projected, split


@pytest.mark.parametrize(("status", "is_headline", "include", "used", "marked"), [
    (None, False, (), True, None),  # an unscoped metric always counts
    ("valid", True, (), True, None),
    ("valid", False, (), False, "non_headline"),
    ("valid", False, ("non_headline",), True, "non_headline"),
    ("invalid", True, (), False, "invalid"),
    ("invalid", True, ("invalid",), True, "invalid"),
    ("not_applicable", True, ("invalid", "diagnostic"), False, "not_applicable"),
    ("diagnostic", False, ("diagnostic",), True, "diagnostic"),
])
def test_counts_and_mark(status, is_headline, include, used, marked) -> None:  # noqa: ANN001
    assert counts(status, is_headline, include) is used
    assert mark(status, is_headline) == marked


def test_headline_defaults_to_true() -> None:
    assert headline({"status": "valid"}) and not headline({"status": "valid", "headline": False})
    assert marks({"a": "valid", "b": "valid", "c": "invalid"}, ["a", "c"]) == {"b": "non_headline", "c": "invalid"}


def test_parse_include() -> None:
    assert parse_include(None) == frozenset()
    assert parse_include("invalid, diagnostic") == {"invalid", "diagnostic"}
    assert parse_include("all") == set(INCLUDABLE)
    assert parse_include("valid") == frozenset()  # always used anyway
    assert parse_include(["not_applicable"]) == {"not_applicable"}
    with pytest.raises(InvalidInput, match="unknown status 'good'"):
        parse_include("invalid,good")


def test_split_names_only_scoped_addresses() -> None:
    assert split("eval/accuracy") == ("eval", "accuracy")
    assert split("eval/a/b") == ("eval", "a/b")  # the first '/' ends the scope's name
    assert split("accuracy") is None and split("eval/") is None and split("1x/acc") is None


def test_projected_orders_as_the_log_does() -> None:
    run = {"metric_scopes": {"b": {"status": "invalid", "reason": "r", "metrics": {"x": 1, "a": 2.5}},
                             "a-b": {"status": "valid", "headline": False, "metrics": {"y": 0.5}},
                             "a": {"status": "valid", "metrics": {"\U0001f600": 1, "\uff01": 2}}}}
    values, status, reasons, headlines = projected(run)
    # RFC 8785 order (UTF-16 code units): U+1F600 (a surrogate pair, 0xD83D...) before U+FF01
    assert list(values) == ["a-b/y", "a/\U0001f600", "a/\uff01", "b/a", "b/x"]
    assert all(type(v) is float for v in values.values())
    assert status == {"a": "valid", "a-b": "valid", "b": "invalid"} and reasons == {"b": "r"}
    assert headlines == ["a", "b"]
    assert projected({}) == ({}, {}, {}, [])
