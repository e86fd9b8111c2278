"""Figures over many runs: a metric's trend across versions (an A/B experiment's summary is ab.py).

It is defined precisely in docs/projections.md, and computed so that the definition
can be checked by recomputing it from the run documents: a mean is math.fsum(values) /
len(values) (statistics.fmean), exact to the last bit whatever the order of the runs.
Runs are selected from the runs table in Arrow; the arithmetic is plain Python.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from auditlog.errors import InvalidInput
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def trend(view: View, project: str, metric: str, *, by: str = "model_version", group: str | None = None,
          days: int | None = None, now: datetime | None = None, include_superseded: bool = False,
          model_id: str | None = None, where: str | Expr | None = None) -> list[TrendPoint]:
    """`metric` (a run metric's name, or pass_rate / mean_score) over the runs of `project`, per value
    of `by`, in the order each value first appears in the log.

    `model_id` keeps one model's runs; `where` those an expression of the filter language
    holds for (where.py); `group` keeps runs of that experiment group; `days` keeps
    runs whose time (started_at, else recorded_at) is within that many days before `now`
    (default: the current time).
    Runs without the metric are left out; runs whose `by` is null form the point with key None.
    Every run a point uses is confirmed against the log (View.confirm).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if by not in BY:
        raise InvalidInput("by", f"must be one of {', '.join(BY)}, not {by!r}")
    figure = [metric] if metric in RUN_FIGURES else []
    runs = query_runs(view, project_id=project, model_id=model_id, include_superseded=include_superseded, newest_first=False,
                      columns=[BY[by], "recorded_at", "started_at", "experiment_group", "metrics", *figure],
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
    view.confirm(runs.filter(pc.is_valid(values)))
    rows = to_records(runs.select([BY[by], "run_id", "recorded_at", "seq"]).append_column("value", values))
    points: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        if row["value"] is not None:
            points.setdefault(row[BY[by]], []).append(row)
    if rows and not points:
        known = sorted({k for m in runs.column("metrics").to_pylist() for k, _ in m})
        raise InvalidInput("metric", f"no run of {project!r} here has {metric!r}; try one of: "
                                     f"{', '.join([*RUN_FIGURES, *known])}")
    out = []
    for key, found in points.items():
        found.sort(key=lambda r: r["seq"])
        vals = [r["value"] for r in found]
        out.append(TrendPoint(key, len(vals), mean(vals), min(vals), max(vals), vals[-1],
                              found[-1]["run_id"], found[-1]["recorded_at"]))
    return out
