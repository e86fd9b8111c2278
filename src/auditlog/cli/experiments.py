"""`auditlog ab`: an A/B experiment's summary, per task and overall, from the projections (projections/ab.py)."""

from __future__ import annotations

from typing import Any

import click

from auditlog.cli.base import EXIT_CODES, cli, log_option, named_as_options, records_output
from auditlog.cli.queries import _echo, _view, include_status_option, projections_option, scopes_text
from auditlog.render import json_text

AB_COLUMNS = ["task", "group", "baseline", "runs", "baseline_runs", "items", "wins", "losses", "ties"]
AB_FIGURE_COLUMNS = ["task", "group", "figure", "baseline", "value", "improvement", "improvement_pct"]
ALL_TASKS = "(all tasks)"  # the overall rows' task, in tables (null in JSON and CSV)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--experiment", required=True, help="The experiment id.")
@click.option("--baseline", help="The group the others are compared with (default: the first by name).")
@click.option("--lower-is-better", "lower", multiple=True, metavar="METRIC",
              help="A metric where less is better, reported as a reduction; repeatable, and read as by "
                   "`project configure` (lm-eval's task/mae,none is one name) (default: those the configuration "
                   "of each task's project declares (auditlog project configure), else those whose name says "
                   "latency, cost, token, duration, seconds, error or loss; \"\" for none).")
@click.option("--figures", "figure_rows", is_flag=True,
              help="Print one record per task, group and figure (with jsonl/csv; the table shows them anyway).")
@click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs.")
@include_status_option
@records_output()
def ab(log_path: str, directory: str | None, experiment: str, baseline: str | None, lower: tuple[str, ...],
       figure_rows: bool, include_superseded: bool, include_status: str | None, output: str) -> None:
    """An A/B experiment, per task and overall: item wins, losses and ties of each group against the
    baseline group, and every figure's average improvement, absolute and relative (%), with latency,
    tokens and cost as reductions (see docs/projections.md for the exact definitions)."""
    import projections
    from auditlog.evals.config import parse_metric_names
    declared = parse_metric_names(lower, "--lower-is-better") if lower else None
    from auditlog.app.configs import declared_lower_is_better
    from auditlog.app.verified import view_tree
    with _view(log_path, directory) as (log, view):
        tree = view_tree(view)  # each task's configuration in force now, where --lower-is-better is not given
        declared_for = None if declared is not None else (lambda task: declared_lower_is_better(log, tree, task))
        with named_as_options("experiment", "baseline"):
            summary = projections.ab_summary(view, experiment, baseline=baseline,
                                             include_superseded=include_superseded, lower_is_better_metrics=declared,
                                             include_status=include_status, declared_for=declared_for)
    if output == "json":
        click.echo(json_text(summary.to_json(), indent=2))
        return
    rows = [*summary.rows, *summary.overall]
    figures: list[dict[str, Any]] = [
        {"task": r.task, "group": r.group, "figure": f.name, "lower_is_better": f.lower_is_better,
         "baseline": f.baseline, "value": f.value, "improvement": f.improvement, "improvement_pct": f.improvement_pct,
         **({"scopes": scopes_text(f.included, f.left_out)} if f.included or f.left_out else {})}
        for r in rows for f in r.figures]
    marked = ["scopes"] if any("scopes" in f for f in figures) else []  # scoped values not valid headline ones
    if output == "table":
        _echo([{**r.to_json(), "task": ALL_TASKS if r.task is None else r.task} for r in rows], "table", AB_COLUMNS)
        _echo([{**f, "task": ALL_TASKS if f["task"] is None else f["task"],
                "figure": f"{f['figure']} reduction" if f["lower_is_better"] else f["figure"],
                "improvement_pct": _percent(f["improvement_pct"])} for f in figures], "table",
              [*AB_FIGURE_COLUMNS, *marked])
        return
    if figure_rows:
        _echo(figures, output, ["task", "group", "figure", "lower_is_better", *AB_FIGURE_COLUMNS[3:], *marked])
        return
    records = []
    for row in rows:
        record = {k: v for k, v in row.to_json().items() if k not in ("improvement", "figures")}
        record.update({f"improvement.{k}": v for k, v in row.improvement.items()})
        records.append(record)
    improvements = dict.fromkeys(k for r in records for k in r if k.startswith("improvement."))
    _echo(records, output, [*AB_COLUMNS, *improvements])


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:+.1f}%"
