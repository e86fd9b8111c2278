"""Commands that read the projections: history, show, compare, trend, export (ab: experiments.py).

Each opens the log, catches the projections up (incrementally) through the
`projections` package, asks it one question and renders the answer. The projections
package and pyarrow are imported inside the commands, so `import auditlog.cli` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import (
    EXIT_CODES,
    cli,
    log_option,
    open_log,
    parse_tags,
    records_output,
    table_width,
    wide_option,
)
from auditlog.cli.progress import progress
from auditlog.render import json_text, number, plural, render, safe_text

HISTORY_COLUMNS = ["run_id", "project_id", "model_id", "model_version", "n_items", "pass_rate", "mean_score",
                   "verdict", "status", "recorded_at", "seq"]
ITEM_COLUMNS = ["item_id", "score", "passed", "latency_ms", "tokens", "cost_usd", "error"]
EVENT_COLUMNS = ["seq", "hash", "type", "ts", "actor", "data"]
FIGURE_COLUMNS = ["name", "a", "b", "delta"]
CHANGE_COLUMNS = ["item_id", "change", "passed_a", "passed_b", "score_a", "score_b"]
SETTING_COLUMNS = ["key", "change", "a", "b"]


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
        click.option("--days", type=click.IntRange(min=0), help="Only runs started (else recorded) in the last N "
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
    if days is not None:
        if since is not None:
            raise errors.InvalidInput("--days", "give --days or --since, not both")
        from projections.queries import days_ago
        since = days_ago(days).isoformat()
    return {"project_id": project, "model_id": model, "experiment_id": experiment, "since": since, "until": until,
            "verdict": verdict, "tags": parse_tags(tags), "include_superseded": include_superseded,
            "where": _parsed_where(where)}


def _parsed_where(where: str | None) -> Any:
    """--where parsed before the log is opened: a mistake costs nothing and names its column."""
    if where is None:
        return None
    from projections.where import parse
    return parse(where)


def published_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--from URI and --vkey: read a published log's projections (docs/publishing.md) instead of a log."""
    func = click.option("--vkey", "vkeys", multiple=True, metavar="VKEY|FILE",
                        help="With --from: the log's verifier key, which must sign the published checkpoint.")(func)
    return click.option("--from", "uri", metavar="URI",
                        help="Read the projections published at URI (a directory, az://, s3://, gs://), once "
                             "checked against its signed checkpoint, instead of --log.")(func)


@contextmanager
def _view(log_path: str, directory: str | None, uri: str | None = None, vkeys: tuple[str, ...] = ()) -> Iterator[Any]:
    """The log, opened (never created), and its projections caught up; with `uri`, the published
    log and its projections, checked against its checkpoint."""
    import projections
    if uri is not None:
        from auditlog.app.publish import published_view
        from auditlog.services.keys import load_verifiers
        if not vkeys:
            raise errors.InvalidInput("--vkey", "reading a published log needs the log's verifier key")
        yield published_view(uri, load_verifiers(list(vkeys)), directory)
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
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many runs.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Skip this many runs first.")
@published_option
@records_output()
def history(log_path: str, directory: str | None, limit: int | None, offset: int, output: str, uri: str | None,
            vkeys: tuple[str, ...], **filters: Any) -> None:
    """List runs, newest first (superseded runs only with --all), from the projections."""
    import projections
    chosen = _filters(**filters)
    with _view(log_path, directory, uri, vkeys) as (_, view):
        runs = projections.list_runs(view, limit=limit, offset=offset, **chosen)
    _echo(runs, output, HISTORY_COLUMNS if output == "table" else projections.schema.names("runs"))


@cli.command(epilog=EXIT_CODES)
@click.argument("run_id")
@log_option
@projections_option
@click.option("--items", "with_items", is_flag=True, help="Also list the run's items.")
@click.option("--failed", is_flag=True, help="List only the items that did not pass (implies --items).")
@published_option
@records_output()
def show(run_id: str, log_path: str, directory: str | None, with_items: bool, failed: bool, output: str,
         uri: str | None, vkeys: tuple[str, ...]) -> None:
    """Show one run as recorded, its current state, and every event about it.

    With --output jsonl or csv, prints the items (with --items) or the events. With --from,
    the events listed are the run's recorded event only (its current state still shows
    annotations, supersessions and verdicts)."""
    from auditlog.app.run_state import current_state, item_records
    from auditlog.app.verified import verified_about, verified_tree
    with_items = with_items or failed
    if uri is not None:  # a published log: its projections, checked against its checkpoint
        import projections
        with _view(log_path, directory, uri, vkeys) as (log, view):
            recorded, run = _verified_run(log, view, run_id)
            frame = projections.load_run(view, run_id)
        about, current = [recorded], frame.header
        items = frame.item_records(failed_only=failed) if with_items else None
    else:  # through the store's index, checked against the verified tree: no tables read
        with open_log(log_path) as log:
            recorded, about = verified_about(log, verified_tree(log, log_path, directory), run_id)
        run, current = recorded.event.data["run"], current_state(recorded, about)
        items = item_records(recorded, failed_only=failed) if with_items else None
    related = [{"seq": e.seq, "hash": e.hash, "type": e.event.type, "ts": e.event.ts, "actor": e.event.actor,
                "data": e.event.data} for e in about]
    if output == "json":
        doc = {"run": run, "current": current, "events": related}
        if items is not None:
            doc["items"] = items
        click.echo(json_text(doc, indent=2))
    elif output in ("jsonl", "csv"):
        rows = items if items is not None else [{**e, "data": json.dumps(e["data"], sort_keys=True, ensure_ascii=False),
                                                 "actor": json.dumps(e["actor"], sort_keys=True, ensure_ascii=False)}
                                                for e in related]
        _echo(rows, output, ITEM_COLUMNS if items is not None else EVENT_COLUMNS)
    else:
        _print_show(run, current, related, items)


def _print_show(run: dict[str, Any], current: dict[str, Any], related: list[dict[str, Any]],
                items: list[dict[str, Any]] | None) -> None:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)

    for key, value in run.items():
        if key != "items":
            click.echo(f"{key}: {safe_text(text(value), limit=200)}")
    click.echo(f"items: {len(run.get('items') or [])}")
    click.echo("current:")
    status = current["status"]
    if status == "superseded":
        status += f" by {current['superseded_by']} ({current['superseded_reason']})"
    verdict = f"{current['verdict']} (seq {current['verdict_seq']}{_computed_by(related, current)})" \
        if current["verdict"] else "none"
    for key, value in (("status", status), ("verdict", verdict), ("tags", text(current["tags"])),
                       ("notes", text(current["notes"])), ("pass_rate", _figure(current["pass_rate"])),
                       ("mean_score", _figure(current["mean_score"]))):
        click.echo(f"  {key}: {safe_text(str(value), limit=200)}")
    click.echo("events:")
    for e in related:
        detail = json.dumps({k: v for k, v in e["data"].items() if k != "run"}, ensure_ascii=False, sort_keys=True)
        click.echo(f"  seq {e['seq']}  {e['ts']}  {e['type']}  {e['hash'][:12]}  {safe_text(detail, limit=120)}")
    if items is not None:
        click.echo(f"items ({len(items)}):")
        click.echo(render(items, "table", ITEM_COLUMNS, width=table_width()), nl=False)


def _computed_by(related: list[dict[str, Any]], current: dict[str, Any]) -> str:
    """", computed by evalsig" when the current verdict's figures were computed by another tool."""
    by = next((e["data"]["verdict"].get("computed_by") for e in related
               if e["seq"] == current["verdict_seq"] and e["type"] == "verdict.recorded"), None)
    return f", computed by {by}" if by else ""


def _figure(value: float | None) -> str:
    return "n/a" if value is None else number(value)


@cli.command(epilog=EXIT_CODES)
@click.argument("run_a")
@click.argument("run_b")
@log_option
@projections_option
@click.option("--items", "item_rows", is_flag=True,
              help="Print the item changes as records (with jsonl/csv; the table shows them anyway).")
@click.option("--settings", "setting_rows", is_flag=True,
              help="Print what differs in the runs' config and environment as records (with jsonl/csv).")
@published_option
@records_output()
def compare(run_a: str, run_b: str, log_path: str, directory: str | None, item_rows: bool, setting_rows: bool,
            output: str, uri: str | None, vkeys: tuple[str, ...]) -> None:
    """Compare RUN_B with RUN_A: pass-rate, mean-score and metric deltas (B - A), items that flipped
    pass->fail or fail->pass, items in one run only, and what differs in their config and environment,
    key by key (added, removed, changed)."""
    from dataclasses import asdict

    import projections
    if item_rows and setting_rows:
        raise errors.InvalidInput("--settings", "give --items or --settings, not both")
    with _view(log_path, directory, uri, vkeys) as (log, view):
        # each run's event is the one folded, and in the verified tree: its document is what was recorded
        documents = tuple(_verified_run(log, view, run_id)[1] for run_id in (run_a, run_b))
        report = projections.compare_runs(view, run_a, run_b, documents=(documents[0], documents[1]))
    figures = [asdict(f) for f in report.figures]
    changes = [asdict(c) for c in report.changes]
    settings = [{**asdict(d), "a": _setting(d.a), "b": _setting(d.b)} for d in report.differences or []]
    if output == "json":
        click.echo(json_text(report.to_json(), indent=2))
    elif output != "table":
        rows, columns = ((changes, CHANGE_COLUMNS) if item_rows else (settings, SETTING_COLUMNS) if setting_rows
                         else (figures, FIGURE_COLUMNS))
        _echo(rows, output, columns)
    else:
        click.echo(f"A: {safe_text(run_a, 200)}\nB: {safe_text(run_b, 200)}")
        _echo(figures, "table", FIGURE_COLUMNS)
        click.echo(f"items in both: {report.common_items}; pass->fail: {len(report.pass_to_fail)}, "
                   f"fail->pass: {len(report.fail_to_pass)}; only in A: {len(report.only_in_a)}, "
                   f"only in B: {len(report.only_in_b)}")
        if changes:
            _echo(changes, "table", ["item_id", "change", "score_a", "score_b"])
        click.echo(f"config and environment: {plural(len(settings), 'key')} differ" if settings
                   else "config and environment: the same")
        if settings:
            _echo(settings, "table", SETTING_COLUMNS)


def _setting(value: Any) -> Any:
    """A config or environment value for a table or CSV cell: scalars as they are, the rest as JSON text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--project", required=True, help="The project (task) whose runs to follow.")
@click.option("--metric", required=True, help="A run metric's name, or pass_rate or mean_score.")
@click.option("--by", type=click.Choice(["model_version", "experiment.version", "model_id"]), default="model_version",
              show_default=True, help="One point per value of this.")
@click.option("--model", help="Only runs of this model.")
@click.option("--group", help="Only runs of this experiment group.")
@click.option("--days", type=click.IntRange(min=0), help="Only runs started (else recorded) in the last N days.")
@where_option
@click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs.")
@published_option
@records_output()
def trend(log_path: str, directory: str | None, project: str, metric: str, by: str, model: str | None,
          group: str | None, days: int | None, where: str | None, include_superseded: bool, output: str,
          uri: str | None, vkeys: tuple[str, ...]) -> None:
    """A metric across versions: per value of --by, the average, min, max, number of runs and the last value."""
    import projections
    condition = _parsed_where(where)
    with _view(log_path, directory, uri, vkeys) as (_, view):
        points = projections.trend(view, project, metric, by=by, group=group, days=days, model_id=model,
                                   include_superseded=include_superseded, where=condition)
    records = [{by: p.key, **{k: v for k, v in p.to_json().items() if k != "key"}} for p in points]
    _echo(records, output, [by, "samples", "avg", "min", "max", "last", "last_run_id", "last_recorded_at"])


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--output", "-o", "--format", "fmt", type=click.Choice(["table", "json", "jsonl", "csv", "parquet"]),
              default="csv", show_default=True,
              help="The file format (--format is the older name): table, json, jsonl, csv, or parquet (binary).")
@click.option("--what", type=click.Choice(["runs", "items", "verdicts", "baselines"]), default="runs",
              show_default=True, help="The runs selected, their items, the verdicts on them, or their pins as baselines.")
@run_filters
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here (default: stdout).")
@click.option("--json-cells", is_flag=True, help="CSV: each map (metrics, tags) as JSON text in one cell, instead "
              "of a column per key (metrics.accuracy, tags.branch).")
@wide_option
def export(log_path: str, directory: str | None, fmt: str, what: str, out: str | None, json_cells: bool,
           **filters: Any) -> None:
    """Export runs, items, verdicts or baseline pins (selected by the same filters as history) as CSV, JSON,
    JSON Lines, Parquet or a table.

    Every column of the projection's public schema, at full precision; CSV is flat (a column per
    metric and per tag), has its header even when nothing is selected, and keeps strings byte for byte."""
    import projections
    if out is None and fmt == "parquet" and sys.stdout.isatty():
        raise errors.InvalidInput("--out", "Parquet is binary: give --out FILE, or redirect stdout to a file")
    chosen = _filters(**filters)
    with _view(log_path, directory) as (_, view):
        count = projections.export(view, what, fmt, out if out is not None else sys.stdout.buffer,
                                   width=table_width() if out is None else None, json_cells=json_cells, **chosen)
    if out is not None:
        click.echo(f"exported {plural(count, what.removesuffix('s'))} to {out}", err=True)
