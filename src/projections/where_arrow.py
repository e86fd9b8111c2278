"""A parsed `--where` expression (where.py) evaluated over the runs table with pyarrow compute.

Comparisons follow SQL's three-valued logic: a run without the field (a metric it does not
have, a tag it does not carry, a null column) makes a comparison unknown; `not` of unknown is
unknown, `and`/`or` are Kleene's, and a run is kept only where the whole expression is true.
`exists` is never unknown. pyarrow is imported by the functions, never by importing this.
"""

from __future__ import annotations

from typing import Any

from projections.where import And, Compare, Exists, Expr, Field, In, Not, Or

_COMPARE = {"=": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal", ">": "greater",
            ">=": "greater_equal"}


def mask(runs: Any, expr: Expr) -> Any:
    """A boolean array over `runs`: true where the expression holds (unknown counts as false)."""
    import pyarrow.compute as pc

    return pc.fill_null(_evaluate(runs, expr), False)


def keep(runs: Any, expr: Expr | None) -> Any:
    """The runs the expression keeps (all of them when it is None)."""
    return runs if expr is None else runs.filter(mask(runs, expr))


def _evaluate(runs: Any, expr: Expr) -> Any:
    import pyarrow.compute as pc

    if isinstance(expr, Compare):
        column = _column(runs, expr.field)
        return getattr(pc, _COMPARE[expr.op])(column, _scalar(expr.value, column))
    if isinstance(expr, In):
        column = _column(runs, expr.field)
        import pyarrow as pa
        found = pc.is_in(column, value_set=pa.array(list(expr.values), column.type))
        return pc.if_else(pc.is_valid(column), found, None)  # a missing value is unknown, not "not in"
    if isinstance(expr, Exists):
        return pc.is_valid(_column(runs, expr.field))
    if isinstance(expr, Not):
        return pc.invert(_evaluate(runs, expr.operand))
    combine = pc.and_kleene if isinstance(expr, And) else pc.or_kleene
    assert isinstance(expr, (And, Or))
    result = _evaluate(runs, expr.operands[0])
    for operand in expr.operands[1:]:
        result = combine(result, _evaluate(runs, operand))
    return result


def _column(runs: Any, field: Field) -> Any:
    import pyarrow.compute as pc

    column = runs.column(field.column)
    if field.key is not None:
        column = pc.map_lookup(column, query_key=field.key, occurrence="first")
    if field.scoped:  # scope/name: in its scope, or outside any (a name one run cannot use for both)
        column = pc.coalesce(column, pc.map_lookup(runs.column("scoped_metrics"), query_key=field.key,
                                                    occurrence="first"))
    return pc.cast(column, "float64") if field.kind == "number" else column  # counts compare with 0.5 too


def _scalar(value: Any, column: Any) -> Any:
    import pyarrow as pa

    return pa.scalar(value, column.type)
