"""Figures over many runs: a metric's trend across versions (an A/B experiment's summary is ab.py).

It is defined precisely in docs/projections.md, and computed so that the definition
can be checked by recomputing it from the run documents: a mean is math.fsum(values) /
len(values) (statistics.fmean), exact to the last bit whatever the order of the runs.
Runs are selected from the runs table in Arrow; the arithmetic is plain Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.evals.scopes import counts, mark, parse_include, split
from projections.queries import days_ago, query_runs, run_time
from projections.view import View, to_records
from projections.where import Expr

BY = {"model_version": "model_version", "experiment.version": "experiment_version", "model_id": "model_id"}
RUN_FIGURES = ("pass_rate", "mean_score")


def mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


@dataclass(frozen=True)
class TrendPoint:
    """One value of `by` (a version): the metric over its runs."""

    key: str | None
    samples: int  # runs with a value for the metric
    avg: float
    min: float
    max: float
    last: float  # the value of the most recently recorded run (highest seq)
    last_run_id: str
    last_recorded_at: str
    # samples whose metric does not count by default but was asked for (--include-status), by
    # their scope's status (or non_headline): the point's mark; empty when every sample is valid
    included: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)  # runs of this key whose value was left out, by mark

    def to_json(self) -> dict[str, Any]:
        """Its fields; the marks only when it has some (a log without scopes prints what it always did)."""
        return {k: v for k, v in asdict(self).items() if v or k not in ("included", "left_out")}


@dataclass(frozen=True)
class Trend:
    """A trend's points, and how many runs' values it left out because of their scope's status, by mark."""

    points: list[TrendPoint]
    left_out: dict[str, int]


def trend(view: View, project: str, metric: str, **options: Any) -> list[TrendPoint]:
    """The points of `marked_trend` (same arguments)."""
    return marked_trend(view, project, metric, **options).points


def marked_trend(view: View, project: str, metric: str, *, by: str = "model_version", group: str | None = None,
                 days: int | None = None, now: datetime | None = None, include_superseded: bool = False,
                 model_id: str | None = None, where: str | Expr | None = None,
                 include_status: str | Iterable[str] | None = None) -> Trend:
    """`metric` (a run metric's name, or pass_rate / mean_score) over the runs of `project`, per value
    of `by`, in the order each value first appears in the log.

    `model_id` keeps one model's runs; `where` those an expression of the filter language
    holds for (where.py); `group` keeps runs of that experiment group; `days` keeps
    runs whose time (started_at, else recorded_at) is within that many days before `now`
    (default: the current time).
    Runs without the metric are left out; runs whose `by` is null form the point with key None.
    A scoped metric (`scope/name`) is used only where its scope is valid and headline, unless
    `include_status` names its status (evals.scopes.counts); each point counts the runs it used so
    (`included`) and those it left out (`left_out`), by their scope's status. A key whose every
    value was left out has no point.
    Every run a point uses is confirmed against the log (View.confirm).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if by not in BY:
        raise InvalidInput("by", f"must be one of {', '.join(BY)}, not {by!r}")
    include = parse_include(include_status)
    figure = [metric] if metric in RUN_FIGURES else []
    address = None if figure else split(metric)
    scoped = ["scoped_metrics", "scope_status", "headline_scopes"] if address else []
    runs = query_runs(view, project_id=project, model_id=model_id, include_superseded=include_superseded, newest_first=False,
                      columns=[BY[by], "recorded_at", "started_at", "experiment_group", "metrics", *figure, *scoped],
                      where=where, confirm=False)  # confirmed below: the runs whose values the points use
    if group is not None:
        runs = runs.filter(pc.fill_null(pc.equal(runs.column("experiment_group"), group), False))
    if days is not None:
        if days < 0:
            raise InvalidInput("days", "must not be negative")
        start = pa.scalar(days_ago(days, now), run_time(runs).type)
        runs = runs.filter(pc.greater_equal(run_time(runs), start))
    if metric in RUN_FIGURES:
        values = runs.column(metric)
    else:
        values = pc.map_lookup(runs.column("metrics"), query_key=metric, occurrence="first")
    table = runs.select([BY[by], "run_id", "recorded_at", "seq"])
    if address:  # a run holds `scope/name` in its scope, or (recorded before it had scopes) unscoped
        table = table.append_column("unscoped", pc.is_valid(values)).append_column(
            "status", pc.map_lookup(runs.column("scope_status"), query_key=address[0], occurrence="first"))
        table = table.append_column("headline", runs.column("headline_scopes"))
        values = pc.coalesce(values, pc.map_lookup(runs.column("scoped_metrics"), query_key=metric, occurrence="first"))
    rows = to_records(table.append_column("value", values))
    points: dict[Any, list[dict[str, Any]]] = {}
    left_out: dict[str, int] = {}
    left_by_key: dict[Any, dict[str, int]] = {}
    used = []
    for row in rows:
        if row["value"] is None:
            continue
        row["mark"] = None
        if address and not row["unscoped"]:
            is_headline = address[0] in (row["headline"] or [])
            row["mark"] = mark(row["status"], is_headline)
            if not counts(row["status"], is_headline, include):
                left_out[row["mark"]] = left_out.get(row["mark"], 0) + 1
                per_key = left_by_key.setdefault(row[BY[by]], {})
                per_key[row["mark"]] = per_key.get(row["mark"], 0) + 1
                continue
        used.append(row["seq"])
        points.setdefault(row[BY[by]], []).append(row)
    if left_out:  # only the runs whose values the points use
        view.confirm(runs.filter(pc.is_in(runs.column("seq"), value_set=pa.array(used, pa.int64()))))
    else:
        view.confirm(runs.filter(pc.is_valid(values)))
    if left_out and not points:
        counted = ", ".join(f"{n} {status}" for status, n in sorted(left_out.items()))
        raise InvalidInput("metric", f"{metric!r} of {project!r} is only in scopes that trends leave out ({counted}); "
                                     f"pass --include-status {','.join(sorted(left_out))} to use them")
    if rows and not points:
        known = sorted({k for m in runs.column("metrics").to_pylist() for k, _ in m})
        raise InvalidInput("metric", f"no run of {project!r} here has {metric!r}; try one of: "
                                     f"{', '.join([*RUN_FIGURES, *known])}")
    out = []
    for key, found in points.items():
        found.sort(key=lambda r: r["seq"])
        vals = [r["value"] for r in found]
        marks: dict[str, int] = {}
        for r in found:
            if r["mark"] is not None:
                marks[r["mark"]] = marks.get(r["mark"], 0) + 1
        out.append(TrendPoint(key, len(vals), mean(vals), min(vals), max(vals), vals[-1],
                              found[-1]["run_id"], found[-1]["recorded_at"], dict(sorted(marks.items())),
                              dict(sorted(left_by_key.get(key, {}).items()))))
    return Trend(out, dict(sorted(left_out.items())))
