"""The --where filter language: the parser's trees and errors, and what it keeps, recomputed in plain Python.

The reference evaluator below follows docs/projections.md (three-valued logic: a missing
value makes a comparison unknown, and only true keeps a run), not where_arrow.py. Random
expressions (hypothesis) are rendered to text, parsed back to the same tree, and must keep
exactly the runs the reference keeps; random text is either parsed or refused with a
WhereError whose column lies within the text.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import projections
from auditlog.errors import InvalidInput
from projections.where import And, Compare, Exists, Field, In, Not, Or, WhereError, parse

OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def reference(run: dict[str, Any], expr: Any) -> bool | None:
    """True, False or None (unknown) for one run record, as docs/projections.md defines it."""
    if isinstance(expr, (Compare, In, Exists)):
        f = expr.field
        value = run[f.column] if f.key is None else run[f.column].get(f.key)
        if isinstance(value, str) and f.kind == "time":
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        if isinstance(expr, Exists):
            return value is not None
        if value is None:
            return None
        if isinstance(expr, In):
            return value in expr.values
        return bool(OPS[expr.op](value, expr.value))
    if isinstance(expr, Not):
        inner = reference(run, expr.operand)
        return None if inner is None else not inner
    values = [reference(run, e) for e in expr.operands]
    if isinstance(expr, And):
        return False if False in values else None if None in values else True
    return True if True in values else None if None in values else False


def kept(expected: dict, text: str, include_superseded: bool = True) -> list[str]:
    expr = parse(text)
    return sorted(r["run_id"] for r in expected.values()
                  if reference(r, expr) is True and (include_superseded or r["status"] == "active"))


def selected(view, text: str, **filters: Any) -> list[str]:  # noqa: ANN001
    return sorted(projections.query_runs(view, where=text, include_superseded=True, **filters)
                  .column("run_id").to_pylist())


def test_the_issue_example_parses_to_its_tree() -> None:
    assert parse("metrics.accuracy > 0.8 and tags.branch = 'main'") == And((
        Compare(Field("metrics", "accuracy", "number"), ">", 0.8), Compare(Field("tags", "branch", "text"), "=", "main")))
    assert parse("not (model_id = 'b')") == Not(Compare(Field("model_id", None, "text"), "=", "b"))
    assert parse("experiment.group in ('a', \"b\") OR metrics.\"acc,none\" exists") == Or((
        In(Field("experiment_group", None, "text"), ("a", "b")), Exists(Field("metrics", "acc,none", "number"))))
    assert parse("model_id not in ('x')") == Not(In(Field("model_id", None, "text"), ("x",)))
    assert parse("tags.who = 'O''Brien'") == Compare(Field("tags", "who", "text"), "=", "O'Brien")
    assert parse("recorded_at <= '2026-01-01'").value == datetime(2026, 1, 1, 23, 59, 59, 999999, UTC)
    # `and` binds tighter than `or`
    assert parse("n_items = 1 or n_items = 2 and n_items = 3") == Or((
        Compare(Field("n_items", None, "number"), "=", 1.0),
        And((Compare(Field("n_items", None, "number"), "=", 2.0), Compare(Field("n_items", None, "number"), "=", 3.0)))))


@pytest.mark.parametrize(("text", "message"), [
    ("metrics.accuracy >", "--where: at column 19: expected a value after '>', not the end"),
    ("metrics.accuracy > 0.8 and", "--where: at column 27: expected a field"),
    ("", "--where: at column 1: the expression is empty"),
    ("model_id = 'x", "--where: at column 12: a string opened with ' is never closed"),
    ("modle_id = 'x'", "--where: at column 1: unknown field 'modle_id'; did you mean model_id"),
    ("project_id = 3", "--where: at column 14: project_id is text: put 3 in quotes"),
    ("metrics.accuracy = 'high'", "--where: at column 20: metrics.accuracy is a number"),
    ("(pass_rate > 0.5", "--where: at column 17: expected ')', not the end"),
    ("pass_rate > 0.5)", "--where: at column 16: expected 'and', 'or' or the end, not ')'"),
    ("pass_rate ! 1", "--where: at column 11: unexpected character '!'"),
    ("pass_rate 1", "--where: at column 11: expected an operator"),
    ("metrics. > 1", "--where: at column 10: expected a key after 'metrics.'"),
    ("recorded_at > 'yesterday'", "--where: at column 15: 'yesterday' is not a date"),
    ("model_id not = 'x'", "--where: at column 14: expected 'in' after 'not'"),
])
def test_a_mistake_is_named_at_its_column(text: str, message: str) -> None:
    with pytest.raises(WhereError) as caught:
        parse(text)
    assert str(caught.value).startswith(message), str(caught.value)
    assert isinstance(caught.value, InvalidInput) and caught.value.exit_code == 2


@pytest.mark.parametrize("text", [
    "metrics.accuracy > 0.5 and project_id = 'gsm8k'",
    "metrics.f1 exists",
    "not metrics.f1 exists",
    "not (metrics.f1 >= 0.5)",   # unknown stays unknown under `not`: runs without f1 are not kept
    "metrics.f1 < 0.5 or tags.suite = 'nightly'",
    "model in ('claude-x', 'llama-z') and not experiment.id = 'exp-ab'",
    "experiment.group not in ('a', 'b')",
    "n_items > 100 and pass_rate <= 0.6",
    "verdict = 'BLOCK' or verdict = 'NEEDS_REVIEW'",
    "status != 'active'",
    "recorded_at >= '2020-01-01' and model_version >= '1.1'",
])
def test_the_runs_kept_are_those_the_definition_keeps(view, expected, text: str) -> None:  # noqa: ANN001
    want = kept(expected, text)
    assert selected(view, text) == want
    assert 0 < len(want) < len(expected) or text in ("recorded_at >= '2020-01-01' and model_version >= '1.1'",)


def test_where_combines_with_the_other_filters_and_the_column_reads(view, expected) -> None:  # noqa: ANN001
    text = "metrics.accuracy > 0.3"
    got = projections.query_runs(view, where=text, project_id="mmlu-pro", newest_first=False, columns=["run_id"])
    want = [r for r in kept(expected, text, include_superseded=False) if expected[r]["project_id"] == "mmlu-pro"]
    assert sorted(got.column("run_id").to_pylist()) == want and want
    page = projections.list_runs(view, where=text, limit=5)
    assert [r["run_id"] for r in page] == [r for r in sorted(kept(expected, text, include_superseded=False),
                                                             key=lambda r: -expected[r]["seq"])][:5]


# --- generated expressions ---------------------------------------------------------------------------------

NUMBER_FIELDS = [Field("metrics", "accuracy", "number"), Field("metrics", "f1", "number"),
                 Field("metrics", "latency_ms", "number"), Field("pass_rate", None, "number"),
                 Field("n_items", None, "number")]
TEXT_FIELDS = [Field("project_id", None, "text"), Field("model_id", None, "text"), Field("tags", "suite", "text"),
               Field("experiment_group", None, "text"), Field("verdict", None, "text")]
TEXTS = ["gsm8k", "mmlu-pro", "claude-x", "nightly", "a", "control", "BLOCK", "ALLOW", "it's"]


def number_predicates() -> st.SearchStrategy[Any]:
    value = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 100.0, 500.0, 150.0])
    return st.builds(Compare, st.sampled_from(NUMBER_FIELDS), st.sampled_from(list(OPS)), value)


def text_predicates() -> st.SearchStrategy[Any]:
    field = st.sampled_from(TEXT_FIELDS)
    compare = st.builds(Compare, field, st.sampled_from(list(OPS)), st.sampled_from(TEXTS))
    within = st.builds(In, field, st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3).map(tuple))
    return compare | within


leaves = number_predicates() | text_predicates() | st.builds(Exists, st.sampled_from(NUMBER_FIELDS + TEXT_FIELDS))
trees = st.recursive(leaves, lambda inner: (
    st.builds(Not, inner)
    | st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple))
    | st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple))), max_leaves=8)


def render(expr: Any) -> str:
    """The expression as text, parenthesised so that it parses back to the same tree."""
    def value(v: Any) -> str:
        return repr(v) if isinstance(v, float) else "'" + v.replace("'", "''") + "'"

    def name(f: Field) -> str:
        return f.name if f.key is None else f"{f.column}.\"{f.key}\""

    if isinstance(expr, Compare):
        return f"{name(expr.field)} {expr.op} {value(expr.value)}"
    if isinstance(expr, In):
        return f"{name(expr.field)} in ({', '.join(value(v) for v in expr.values)})"
    if isinstance(expr, Exists):
        return f"{name(expr.field)} exists"
    if isinstance(expr, Not):
        return f"not ({render(expr.operand)})"
    joiner = " and " if isinstance(expr, And) else " OR "
    return "(" + joiner.join(render(e) for e in expr.operands) + ")"


def flatten(expr: Any) -> Any:
    """The tree the parser makes of render(expr): nested and/or of the same kind are one list."""
    if isinstance(expr, Not):
        return Not(flatten(expr.operand))
    if isinstance(expr, (And, Or)):
        return type(expr)(tuple(flatten(e) for e in expr.operands))
    return expr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trees)
def test_generated_expressions_round_trip_and_keep_what_the_definition_keeps(view, expected, expr) -> None:  # noqa: ANN001
    text = render(expr)
    assert parse(text) == flatten(expr)
    assert selected(view, text) == kept(expected, text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("metrics.accuracy tags'\"()<>=! ,0.5e-andorinotexists\x00é")),
               max_size=40) | st.text(max_size=30))
def test_any_text_is_parsed_or_refused_at_a_column_within_it(text: str) -> None:
    try:
        parse(text)
    except WhereError as error:
        assert 1 <= error.column <= len(text) + 1
        assert "\n" not in str(error)


def test_a_very_long_or_deep_expression_is_refused_not_crashed() -> None:
    with pytest.raises(WhereError, match="nested deeper"):
        parse("(" * 500 + "pass_rate > 0" + ")" * 500)
    with pytest.raises(WhereError, match="longer than"):
        parse("pass_rate > 0 and " * 1000 + "pass_rate > 0")
    with pytest.raises(WhereError, match="nested deeper"):
        parse("not " * 1000 + "pass_rate > 0")
