"""Figures over many runs: a metric's trend across versions, and an A/B experiment's summary.

Both are defined precisely in docs/projections.md, and computed so that the definition
can be checked by recomputing it from the run documents: a mean is math.fsum(values) /
len(values) (statistics.fmean), exact to the last bit whatever the order of the runs.
Runs are selected from the runs table in Arrow; the arithmetic is plain Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from auditlog.errors import InvalidInput, NotFound
from auditlog.render import plural
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


@dataclass(frozen=True)
class ABRow:
    """One task (project) and one group, against the baseline group."""

    task: str
    group: str
    baseline: str
    runs: int
    baseline_runs: int
    items: int  # item ids with a score on both sides
    wins: int  # items whose mean score in `group` is above the baseline's
    losses: int  # below
    ties: int  # equal
    improvement: dict[str, float | None] = field(default_factory=dict)  # figure -> mean(group) - mean(baseline)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ABSummary:
    experiment_id: str
    baseline: str
    groups: list[str]
    rows: list[ABRow]

    def to_json(self) -> dict[str, Any]:
        return {"experiment_id": self.experiment_id, "baseline": self.baseline, "groups": self.groups,
                "rows": [r.to_json() for r in self.rows]}


def ab_summary(view: View, experiment_id: str, *, baseline: str | None = None,
               include_superseded: bool = False) -> ABSummary:
    """Every group of the experiment against the baseline group (default: the first by name), per task.

    An item's score in a group is the mean of its scores over the group's runs of the task;
    an item present on both sides is a win, a loss or a tie as that score is above, below
    or equal to the baseline's. Each figure's improvement is the mean over the group's runs
    minus the mean over the baseline's runs (None when a side has no run with it).
    """
    runs = query_runs(view, experiment_id=experiment_id, include_superseded=include_superseded, newest_first=False)
    if runs.num_rows == 0:
        raise NotFound(f"no runs of experiment {experiment_id!r}")
    headers = [r for r in to_records(runs.drop_columns(["notes"])) if r["experiment_group"] is not None]
    groups = sorted({r["experiment_group"] for r in headers})
    if len(groups) < 2:
        raise InvalidInput("experiment", f"{experiment_id!r} has {plural(len(groups), 'group')} "
                                         f"({', '.join(groups) or 'none'}): an A/B summary needs two")
    baseline = groups[0] if baseline is None else baseline
    if baseline not in groups:
        raise InvalidInput("baseline", f"{baseline!r} is not a group of {experiment_id!r} ({', '.join(groups)})")

    cell_of = {r["seq"]: (r["project_id"], r["experiment_group"]) for r in headers}
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in headers:
        cells[cell_of[r["seq"]]].append(r)
    scores: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    items = view.items(seqs=list(cell_of), columns=["seq", "item_id", "score"])
    for seq, item_id, score in zip(*(items.column(c).to_pylist() for c in ("seq", "item_id", "score"))):
        scores[cell_of[seq]][item_id].append(score)

    rows = []
    for task in sorted({t for t, _ in cells}):
        base_runs = cells.get((task, baseline), [])
        base = {i: mean(v) for i, v in scores[(task, baseline)].items()}
        for group in groups:
            mine = cells.get((task, group), [])
            if group == baseline or not (mine or base_runs):
                continue
            ours = {i: mean(v) for i, v in scores[(task, group)].items()}
            common = base.keys() & ours.keys()
            wins = sum(ours[i] > base[i] for i in common)
            losses = sum(ours[i] < base[i] for i in common)
            rows.append(ABRow(task, group, baseline, len(mine), len(base_runs), len(common), wins, losses,
                              len(common) - wins - losses, _improvements(mine, base_runs)))
    return ABSummary(experiment_id, baseline, groups, rows)


def _improvements(mine: list[dict[str, Any]], base: list[dict[str, Any]]) -> dict[str, float | None]:
    def figures(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for run in runs:
            for name in RUN_FIGURES:
                if run[name] is not None:
                    out[name].append(run[name])
            for name, value in run["metrics"].items():
                out[f"metrics.{name}"].append(value)
        return out

    a, b = figures(mine), figures(base)
    names = [*RUN_FIGURES, *sorted(n for n in a.keys() | b.keys() if n not in RUN_FIGURES)]
    return {n: mean(a[n]) - mean(b[n]) if a.get(n) and b.get(n) else None for n in names}
