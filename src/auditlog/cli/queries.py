"""Commands that read the projections: history, trend, export (show, compare: show.py; ab: experiments.py).

Each opens the log, catches the projections up (incrementally) through the
`projections` package, asks it one question and renders the answer. The projections
package and pyarrow are imported inside the commands, so `import auditlog.cli` stays light.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from click.core import ParameterSource

from auditlog import errors
from auditlog.cli.base import (
    EXIT_CODES,
    cli,
    log_option,
    named_as_options,
    open_log,
    parse_tags,
    records_output,
    table_width,
    wide_option,
)
from auditlog.cli.options import DAYS_MAX, OutputFile, int64
from auditlog.cli.progress import progress
from auditlog.render import plural, render, runs_by_status, safe_text

HISTORY_COLUMNS = ["run_id", "project_id", "model_id", "model_version", "n_items", "pass_rate", "mean_score",
                   "verdict", "status", "recorded_at", "config_seq", "seq"]


def projections_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--projections", "directory", metavar="DIR",
                        help="The projections directory (default: <log>.projections beside a log file; for a "
                             "postgresql:// log, ~/.cache/auditlog/projections/<log id>).")(func)


def projections_dir(log: Any, log_path: str, directory: str | None) -> str:
    """--projections, else the default for this log."""
    from auditlog.app.verified import projections_directory
    return projections_directory(log, log_path, directory)


where_option = click.option(
    "--where", metavar="EXPR", help="Only runs for which this expression holds, e.g. \"metrics.accuracy > 0.8 and "
    "tags.branch = 'main'\" (the filter language: docs/projections.md).")

include_status_option = click.option(
    "--include-status", metavar="STATUS,...", help="Also use scoped metrics of these scope statuses: invalid, "
    "not_applicable, diagnostic, non_headline (valid scopes marked headline: false), or all; the output marks "
    "what it included (default: valid headline metrics only; docs/documents.md#metric-scopes).")


def scopes_text(included: dict[str, int], left_out: dict[str, int]) -> str | None:
    """A point's or figure's marks in a table or CSV cell (evals.scopes.counted_text)."""
    from auditlog.evals.scopes import counted_text
    return counted_text(included, left_out)


def scope_text(run: dict[str, Any]) -> str | None:
    """A run's scopes whose metrics trends and A/B summaries leave out by default: `judge: invalid`."""
    from auditlog.evals.scopes import marks
    return ", ".join(f"{name}: {mark}" for name, mark in marks(run["scope_status"], run["headline_scopes"]).items()) \
        or None


def run_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """The run filters history and export share."""
    options = [
        click.option("--project", help="Only runs of this project."),
        click.option("--model", help="Only runs of this model."),
        click.option("--experiment", help="Only runs of this experiment id."),
        click.option("--since", metavar="DATE|TIME", help="Only runs started (else recorded) at or after this "
                     "(YYYY-MM-DD or RFC 3339; UTC unless it says otherwise)."),
        click.option("--until", metavar="DATE|TIME", help="Only runs started (else recorded) at or before this "
                     "(a bare date includes that whole day)."),
        click.option("--verdict", type=click.Choice(["ALLOW", "BLOCK", "NEEDS_REVIEW"]),
                     help="Only runs whose current verdict (the latest, or a person's override of it) is this."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
                     help="Only runs with this tag (annotations included); repeatable, all must match."),
        click.option("--days", type=click.IntRange(min=0, max=DAYS_MAX), help="Only runs started (else recorded) in the last N "
                     "days (instead of --since)."),
        where_option,
        click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(project: str | None, model: str | None, experiment: str | None, since: str | None, until: str | None,
             verdict: str | None, tags: tuple[str, ...], include_superseded: bool, days: int | None,
             where: str | None) -> dict[str, Any]:
    from projections.queries import days_ago, parse_bound
    if days is not None:
        if since is not None:
            raise errors.InvalidInput("--days", "give --days or --since, not both")
        since = days_ago(days).isoformat()
    since_at = None if since is None else parse_bound("--since", since)  # refused here: named as the option
    until_at = None if until is None else parse_bound("--until", until, end=True)
    return {"project_id": project, "model_id": model, "experiment_id": experiment, "since": since_at, "until": until_at,
            "verdict": verdict, "tags": parse_tags(tags), "include_superseded": include_superseded,
            "where": _parsed_where(where)}


def _unknown_names(view: Any, project: str | None, model: str | None) -> list[str]:
    """Lines for stderr when a list came back empty because --project or --model names no run of the log
    at all (a typo reads as "no records" otherwise): the names it does have."""
    import pyarrow.compute as pc

    lines = []
    for column, option, wanted in (("project_id", "--project", project), ("model_id", "--model", model)):
        if wanted is None:
            continue
        known = sorted(pc.unique(view.runs.column(column)).to_pylist())
        if wanted not in known:
            shown = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
            has = f"it has: {shown}" if shown else "it has no runs yet"
            lines.append(safe_text(f"no run of the log has {option} {wanted!r}; {has}", limit=1000))
    return lines


def _parsed_where(where: str | None) -> Any:
    """--where parsed before the log is opened: a mistake costs nothing and names its column."""
    if where is None:
        return None
    from projections.where import parse
    return parse(where)


def published_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--from URI, --vkey and --origin: read a published log's projections (docs/publishing.md) instead of a log."""
    func = click.option("--origin", "origin", metavar="ORIGIN",
                        help="With --from: the origin the published checkpoint must name (one key may sign "
                             "checkpoints of several logs).")(func)
    func = click.option("--vkey", "vkeys", multiple=True, metavar="VKEY|FILE",
                        help="With --from: the log's verifier key, which must sign the published checkpoint.")(func)
    return click.option("--from", "uri", metavar="URI",
                        help="Read the projections published at URI (a directory, az://, s3://, gs://), once "
                             "checked against its signed checkpoint, instead of --log.")(func)


def origin_needs_from(uri: str | None, origin: str | None) -> None:
    """--origin is what a published log's checkpoint must name: without --from it would check nothing.
    And --from reads a published log *instead of* --log: both typed, the log was silently not read, and
    `verify --from URI --log LOG` looked like a check of the one against the other ($AUDITLOG_DB, a
    job's default, is no such request)."""
    if uri is None and origin is not None:
        raise errors.InvalidInput("--origin", "is the origin a published log must name: give --from URI")
    ctx = click.get_current_context(silent=True)
    if uri is not None and ctx is not None and ctx.get_parameter_source("log_path") == ParameterSource.COMMANDLINE:
        raise errors.InvalidInput("--from", "reads a published log instead of --log: give one of them (that a log "
                                            "extends a publication: verify --log LOG --checkpoint its checkpoint)")


@contextmanager
def _view(log_path: str, directory: str | None, uri: str | None = None, vkeys: tuple[str, ...] = (),
          origin: str | None = None) -> Iterator[Any]:
    """The log, opened (never created), and its projections caught up; with `uri`, the published
    log and its projections, checked against its checkpoint (and `origin`, if given)."""
    import projections
    origin_needs_from(uri, origin)
    if uri is not None:
        from auditlog.app.publish import published_view
        from auditlog.services.keys import load_verifiers
        if not vkeys:
            raise errors.InvalidInput("--vkey", "reading a published log needs the log's verifier key")
        yield published_view(uri, load_verifiers(list(vkeys)), directory, origin=origin)
        return
    with open_log(log_path) as log:
        with progress("catching up the projections") as report:
            view = projections.open(log, projections_dir(log, log_path, directory), report)
        yield log, view


def _verified_run(log: Any, view: Any, run_id: str) -> tuple[Any, dict[str, Any]]:
    from auditlog.app.publish import PublishedLog, published_run
    from auditlog.app.verified import verified_run
    return published_run(log, view, run_id) if isinstance(log, PublishedLog) else verified_run(log, view, run_id)


def _echo(records: list[dict[str, Any]], output: str, columns: list[str] | None = None) -> None:
    """Records as --output asks; `columns` are the table's and CSV's (give them: CSV has its header
    even when there are no records)."""
    click.echo(render(records, output, columns if output in ("table", "csv") else None, width=table_width()),
               nl=False)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@run_filters
@click.option("--limit", type=int64(), default=None, help="At most this many runs.")
@click.option("--offset", type=int64(), default=0, show_default=True, help="Skip this many runs first.")
@published_option
@click.option("--json-cells", is_flag=True, help="CSV: each map (metrics, tags) as JSON text in one cell, instead "
              "of a column per key (metrics.accuracy, tags.branch), as history wrote it before.")
@records_output()
def history(log_path: str, directory: str | None, limit: int | None, offset: int, output: str, uri: str | None,
            vkeys: tuple[str, ...], origin: str | None, json_cells: bool, **filters: Any) -> None:
    """List runs, newest first (superseded runs only with --all), from the projections. The table names
    the configuration each run was recorded under (config_seq) and, below it, what each one is.

    A verdict whose figures another tool computed (evalsig; `verdict_computed_by` in the records) shows
    as "ALLOW (evalsig)" in the table. CSV is flat, as `export` writes it (one column per metric and tag).
    A --project or --model that no run of the log has is said on stderr, with the names the log has."""
    import projections
    chosen = _filters(**filters)
    configs: dict[int, Any] = {}
    with _view(log_path, directory, uri, vkeys, origin) as (log, view):
        if output == "csv":
            from projections.export import write_table
            table = projections.query_runs(view, limit=limit, offset=offset, **chosen)
            sys.stdout.flush()
            write_table(table, "csv", sys.stdout.buffer, json_cells=json_cells, exact=False)
            return
        runs = projections.list_runs(view, limit=limit, offset=offset, **chosen)
        unknown = _unknown_names(view, chosen["project_id"], chosen["model_id"]) if not runs else []
        if output == "table":
            named = [r["config_seq"] for r in runs if r["config_seq"] is not None]
            if uri is None:
                from auditlog.app.configs import configurations
                from auditlog.app.verified import view_tree
                configs = configurations(log, view_tree(view), named)
            else:  # a published log: each from its proven entry
                from auditlog.app.configs import published_configurations
                configs = published_configurations(log, view, named)
    columns = HISTORY_COLUMNS if output == "table" else projections.schema.names("runs")
    if output == "table":
        for run in runs:
            if run["verdict"] and run["verdict_computed_by"]:
                run["verdict"] = f"{run['verdict']} ({run['verdict_computed_by']})"
        if any(run["scope_status"] for run in runs):  # mark the scopes not used by default
            columns = [*columns[:7], "scopes", *columns[7:]]
            runs = [{**run, "scopes": scope_text(run)} for run in runs]
    _echo(runs, output, columns)
    for seq, in_force in sorted(configs.items()):
        click.echo(safe_text(f"config seq {seq} ({in_force.project}): {in_force.config.describe()}", limit=1000))
    for line in unknown:  # on stderr, so that the records stay what they are
        click.echo(line, err=True)



@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--project", required=True, help="The project (task) whose runs to follow.")
@click.option("--metric", required=True, help="A run metric's name (scope/name for a scoped metric), or pass_rate "
              "or mean_score.")
@click.option("--by", type=click.Choice(["model_version", "experiment.version", "model_id"]), default="model_version",
              show_default=True, help="One point per value of this.")
@click.option("--model", help="Only runs of this model.")
@click.option("--group", help="Only runs of this experiment group.")
@click.option("--days", type=click.IntRange(min=0, max=DAYS_MAX), help="Only runs started (else recorded) in the last N days.")
@where_option
@click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs.")
@include_status_option
@published_option
@records_output()
def trend(log_path: str, directory: str | None, project: str, metric: str, by: str, model: str | None,
          group: str | None, days: int | None, where: str | None, include_superseded: bool,
          include_status: str | None, output: str, uri: str | None, vkeys: tuple[str, ...],
          origin: str | None) -> None:
    """A metric across versions: per value of --by, the average, min, max, number of runs and the last value.
    A --project or --model that no run of the log has is said on stderr, with the names the log has."""
    import projections
    condition = _parsed_where(where)
    with _view(log_path, directory, uri, vkeys, origin) as (_, view):
        with named_as_options("metric", "by", "days"):
            found = projections.marked_trend(view, project, metric, by=by, group=group, days=days, model_id=model,
                                             include_superseded=include_superseded, where=condition,
                                             include_status=include_status)
        unknown = _unknown_names(view, project, model) if not found.points else []
    points = found.points
    records = [{by: p.key, **{k: v for k, v in p.to_json().items() if k != "key"}} for p in points]
    columns = [by, "samples", "avg", "min", "max", "last", "last_run_id", "last_recorded_at"]
    if output in ("table", "csv") and any(p.included or p.left_out for p in points):  # marked: not valid headline
        columns.append("scopes")
        for record, point in zip(records, points):
            record["scopes"] = scopes_text(point.included, point.left_out)
    _echo(records, output, columns)
    if found.left_out:  # on stderr, so that the records stay what they are
        click.echo(f"left out, by their scope's status: {runs_by_status(found.left_out)}; --include-status {','.join(found.left_out)} "
                   "uses them", err=True)
    for line in unknown:
        click.echo(line, err=True)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--output", "-o", "--format", "fmt", type=click.Choice(["table", "json", "jsonl", "csv", "parquet"]),
              default="csv", show_default=True,
              help="The file format (--format is the older name): table, json, jsonl, csv, or parquet (binary).")
@click.option("--what", type=click.Choice(["runs", "items", "verdicts", "baselines", "configs"]), default="runs",
              show_default=True, help="The runs selected, their items, the verdicts on them, their pins as baselines, "
                                      "or their projects' configurations.")
@run_filters
@click.option("--out", type=OutputFile(), help="Write here (default: stdout).")
@click.option("--json-cells", is_flag=True, help="CSV: each map (metrics, tags) as JSON text in one cell, instead "
              "of a column per key (metrics.accuracy, tags.branch).")
@wide_option
def export(log_path: str, directory: str | None, fmt: str, what: str, out: str | None, json_cells: bool,
           **filters: Any) -> None:
    """Export runs, items, verdicts or baseline pins (selected by the same filters as history) as CSV, JSON,
    JSON Lines, Parquet or a table.

    Every column of the projection's public schema, at full precision; CSV is flat (a column per
    metric and per tag), has its header even when nothing is selected, and keeps strings byte for byte.
    A --project or --model that no run of the log has is said on stderr, with the names the log has."""
    import projections
    if out is None and fmt == "parquet" and sys.stdout.isatty():
        raise errors.InvalidInput("--out", "Parquet is binary: give --out FILE, or redirect stdout to a file")
    chosen = _filters(**filters)
    with _view(log_path, directory) as (_, view):
        count = projections.export(view, what, fmt, out if out is not None else sys.stdout.buffer,
                                   width=table_width() if out is None else None, json_cells=json_cells, **chosen)
        unknown = _unknown_names(view, chosen["project_id"], chosen["model_id"]) if not count else []
    if out is not None:
        click.echo(f"exported {plural(count, what.removesuffix('s'))} to {out}", err=True)
    for line in unknown:
        click.echo(line, err=True)
