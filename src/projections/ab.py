"""An A/B experiment's summary: per task and overall, each group against the baseline group.

Wins, losses and ties over the items both groups ran; and for every figure (pass rate, mean
score, each metric, and the items' latency, tokens and cost) the group's mean, the
baseline's, and the improvement, absolute and relative (%). A figure where lower is better
(latency, tokens, cost, and metrics named so or declared so) is reported as a reduction, so
that a positive improvement is always better: code-chef's way (accuracy +18.5%, latency
reduction +24.2%). Defined precisely in docs/projections.md; means are math.fsum / count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from auditlog.errors import InvalidInput, NotFound
from auditlog.evals.scopes import counts, mark, parse_include
from auditlog.render import plural
from projections.direction import ITEM_FIGURES, lower_is_better
from projections.queries import query_runs
from projections.trends import RUN_FIGURES, mean
from projections.view import View, to_records


@dataclass(frozen=True)
class ABFigure:
    """One figure of a group against the baseline group."""

    name: str  # pass_rate, mean_score, metrics.<name>, latency_ms, tokens, cost_usd
    lower_is_better: bool
    baseline: float | None  # the baseline group's mean
    value: float | None  # this group's mean
    improvement: float | None  # value - baseline; baseline - value (a reduction) when lower is better
    improvement_pct: float | None  # improvement / |baseline| * 100; None when the baseline is 0
    # runs (both sides) whose scoped value was used only because include_status asked, by mark
    included: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)  # runs whose scoped value was not used, by mark

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v or k not in ("included", "left_out")}

    @property
    def label(self) -> str:
        return f"{self.name} reduction" if self.lower_is_better else self.name


@dataclass(frozen=True)
class ABRow:
    """One task (project) and one group, against the baseline group; task None: every task (overall)."""

    task: str | None
    group: str
    baseline: str
    runs: int
    baseline_runs: int
    items: int  # item ids with a score on both sides
    wins: int  # items whose mean score in `group` is above the baseline's
    losses: int  # below
    ties: int  # equal
    improvement: dict[str, float | None] = field(default_factory=dict)  # figure -> mean(group) - mean(baseline)
    figures: list[ABFigure] = field(default_factory=list)  # every figure, improvements signed so + is better

    def to_json(self) -> dict[str, Any]:
        """Its fields; a figure's marks only when it has some (a log without scopes prints what it always did)."""
        out = asdict(self)
        out["figures"] = [f.to_json() for f in self.figures]
        return out

    def figure(self, name: str) -> ABFigure:
        return next(f for f in self.figures if f.name == name)


@dataclass(frozen=True)
class ABSummary:
    experiment_id: str
    baseline: str
    groups: list[str]
    rows: list[ABRow]  # per task, then group
    overall: list[ABRow] = field(default_factory=list)  # per group, over every task

    def to_json(self) -> dict[str, Any]:
        return {"experiment_id": self.experiment_id, "baseline": self.baseline, "groups": self.groups,
                "rows": [r.to_json() for r in self.rows], "overall": [r.to_json() for r in self.overall]}


def ab_summary(view: View, experiment_id: str, *, baseline: str | None = None, include_superseded: bool = False,
               lower_is_better_metrics: Collection[str] | None = None,
               declared_for: Callable[[str], Collection[str] | None] | None = None,
               include_status: str | Iterable[str] | None = None) -> ABSummary:
    """Every group of the experiment against the baseline group (default: the first by name), per task,
    then overall.

    An item's score in a group is the mean of its scores over the group's runs of the task;
    an item present on both sides is a win, a loss or a tie as that score is above, below
    or equal to the baseline's. A run figure's mean is over the runs that have it; an item
    figure's (latency_ms, tokens, cost_usd) over the items that record it. `improvement` keeps
    each run figure's plain difference (group - baseline). Overall, per group: the counts are
    summed over the tasks, and each figure's means and improvements (absolute and %) are the
    mean over the tasks where both sides have it. `lower_is_better_metrics`: the metrics where
    less is better (default: by name, see lower_is_better); `declared_for(task)`, when given and
    not None for a task, is that task's own (its project's configuration in force). A scoped
    metric (`metrics.<scope>/<name>`) is a figure only where its scope is valid and headline,
    unless `include_status` names its status (evals.scopes.counts); each figure counts the runs
    it used so (`included`) and those whose value it left out (`left_out`), by their scope's status.
    """
    include = parse_include(include_status)
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
    per_item: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    columns = ["seq", "item_id", "score", *ITEM_FIGURES]
    items = view.items(seqs=list(cell_of), columns=columns)
    for seq, item_id, score, *figures in zip(*(items.column(c).to_pylist() for c in columns)):
        scores[cell_of[seq]][item_id].append(score)
        for name, value in zip(ITEM_FIGURES, figures):
            if value is not None:
                per_item[cell_of[seq]][name].append(value)

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
            marks: dict[tuple[bool, str], dict[str, int]] = defaultdict(dict)
            means_b = {**_run_figures(base_runs, include, marks), **_item_figures(per_item[(task, baseline)])}
            means_g = {**_run_figures(mine, include, marks), **_item_figures(per_item[(task, group)])}
            rows.append(ABRow(task, group, baseline, len(mine), len(base_runs), len(common), wins, losses,
                              len(common) - wins - losses, _improvements(mine, base_runs, include),
                              _figures(means_g, means_b, _declared(task, lower_is_better_metrics, declared_for),
                                       marks)))
    return ABSummary(experiment_id, baseline, groups, rows, [_overall(group, baseline, [r for r in rows if r.group == group])
                                                           for group in groups if group != baseline])


def _declared(task: str, given: Collection[str] | None,
              declared_for: Callable[[str], Collection[str] | None] | None) -> Collection[str] | None:
    own = None if declared_for is None else declared_for(task)
    return given if own is None else own


def _run_figures(runs: list[dict[str, Any]], include: frozenset[str],
                 marks: dict[tuple[bool, str], dict[str, int]] | None = None) -> dict[str, list[float]]:
    """Each run figure's values over `runs`; scoped metrics where they count. `marks` counts, by
    (used, figure), the scoped values that do not count by default, by their mark."""
    out: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for name in RUN_FIGURES:
            if run[name] is not None:
                out[name].append(run[name])
        for name, value in run["metrics"].items():
            out[f"metrics.{name}"].append(value)
        headlines = set(run["headline_scopes"] or ())
        for address, value in run["scoped_metrics"].items():
            scope = address.partition("/")[0]
            status, is_headline = run["scope_status"].get(scope), scope in headlines
            used = counts(status, is_headline, include)
            if used:
                out[f"metrics.{address}"].append(value)
            marked = mark(status, is_headline)
            if marked is not None and marks is not None:
                found = marks[(used, f"metrics.{address}")]
                found[marked] = found.get(marked, 0) + 1
    return out


def _item_figures(values: dict[str, list[float]]) -> dict[str, list[float]]:
    return {name: values[name] for name in ITEM_FIGURES if values.get(name)}


def _improvements(mine: list[dict[str, Any]], base: list[dict[str, Any]],
                  include: frozenset[str]) -> dict[str, float | None]:
    a, b = _run_figures(mine, include), _run_figures(base, include)
    names = [*RUN_FIGURES, *sorted(n for n in a.keys() | b.keys() if n not in RUN_FIGURES)]
    return {n: mean(a[n]) - mean(b[n]) if a.get(n) and b.get(n) else None for n in names}


def _order(names: Collection[str]) -> list[str]:
    """pass_rate, mean_score, the metrics by name, then the item figures."""
    metrics = sorted(n for n in names if n.startswith("metrics."))
    return [*(n for n in RUN_FIGURES if n in names), *metrics, *(n for n in ITEM_FIGURES if n in names)]


def _figures(mine: dict[str, list[float]], base: dict[str, list[float]],
             declared: Collection[str] | None, marks: dict[tuple[bool, str], dict[str, int]]) -> list[ABFigure]:
    out = []
    names = mine.keys() | base.keys() | {name for _, name in marks}
    for name in _order(names):
        value = mean(mine[name]) if mine.get(name) else None
        baseline = mean(base[name]) if base.get(name) else None
        out.append(_figure(name, lower_is_better(name, declared), baseline, value,
                           dict(sorted(marks.get((True, name), {}).items())),
                           dict(sorted(marks.get((False, name), {}).items()))))
    return out


def _figure(name: str, lower: bool, baseline: float | None, value: float | None,
            included: dict[str, int], left_out: dict[str, int]) -> ABFigure:
    if baseline is None or value is None:
        return ABFigure(name, lower, baseline, value, None, None, included, left_out)
    improvement = baseline - value if lower else value - baseline
    pct = None if baseline == 0 else improvement / abs(baseline) * 100
    return ABFigure(name, lower, baseline, value, improvement, pct, included, left_out)


def _overall(group: str, baseline: str, rows: list[ABRow]) -> ABRow:
    """One group over every task: counts summed; means and improvements averaged over the tasks."""
    def average(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return mean(known) if known else None

    figures = []
    for name in _order({f.name for r in rows for f in r.figures}):
        both = [f for r in rows for f in r.figures if f.name == name and f.improvement is not None]
        lower = next(f.lower_is_better for r in rows for f in r.figures if f.name == name)
        included: dict[str, int] = {}
        left_out: dict[str, int] = {}
        for f in (f for r in rows for f in r.figures if f.name == name):
            for total, counted in ((included, f.included), (left_out, f.left_out)):
                for marked, n in counted.items():
                    total[marked] = total.get(marked, 0) + n
        figures.append(ABFigure(name, lower, average([f.baseline for f in both]), average([f.value for f in both]),
                                average([f.improvement for f in both]), average([f.improvement_pct for f in both]),
                                dict(sorted(included.items())), dict(sorted(left_out.items()))))
    names = [*RUN_FIGURES, *sorted({n for r in rows for n in r.improvement if n not in RUN_FIGURES})]
    improvement = {n: average([r.improvement.get(n) for r in rows]) for n in names}
    return ABRow(None, group, baseline, sum(r.runs for r in rows), sum(r.baseline_runs for r in rows),
                 sum(r.items for r in rows), sum(r.wins for r in rows), sum(r.losses for r in rows),
                 sum(r.ties for r in rows), improvement, figures)
