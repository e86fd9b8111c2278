"""Commands that read the projections: history, show, compare, trend, ab, export, projections rebuild/status/compact.

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
from auditlog.cli.base import EXIT_CODES, cli, log_option, open_log, output_option, parse_tags
from auditlog.render import FORMATS, json_text, render, safe_text

HISTORY_COLUMNS = ["run_id", "project_id", "model_id", "model_version", "n_items", "pass_rate", "mean_score",
                   "verdict", "status", "recorded_at", "seq"]
ITEM_COLUMNS = ["item_id", "score", "passed", "latency_ms", "tokens", "cost_usd", "error"]


def projections_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--projections", "directory", metavar="DIR",
                        help="The projections directory (default: <log>.projections beside a log file; for a "
                             "postgresql:// log, ~/.cache/auditlog/projections/<log id>).")(func)


def projections_dir(log: Any, log_path: str, directory: str | None) -> str:
    """--projections, else the default for this log."""
    from auditlog.app.verified import projections_directory
    return projections_directory(log, log_path, directory)


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
        click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(project: str | None, model: str | None, experiment: str | None, since: str | None, until: str | None,
             verdict: str | None, tags: tuple[str, ...], include_superseded: bool) -> dict[str, Any]:
    return {"project_id": project, "model_id": model, "experiment_id": experiment, "since": since, "until": until,
            "verdict": verdict, "tags": parse_tags(tags), "include_superseded": include_superseded}


@contextmanager
def _view(log_path: str, directory: str | None) -> Iterator[Any]:
    """The log, opened (never created), and its projections caught up."""
    import projections
    with open_log(log_path) as log:
        yield log, projections.open(log, projections_dir(log, log_path, directory))


def _echo(records: list[dict[str, Any]], output: str, columns: list[str] | None = None) -> None:
    click.echo(render(records, output, columns if output in ("table", "csv") else None), nl=False)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@run_filters
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many runs.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Skip this many runs first.")
@output_option(*FORMATS)
def history(log_path: str, directory: str | None, limit: int | None, offset: int, output: str, **filters: Any) -> None:
    """List runs, newest first (superseded runs only with --all), from the projections."""
    import projections
    with _view(log_path, directory) as (_, view):
        runs = projections.list_runs(view, limit=limit, offset=offset, **_filters(**filters))
    _echo(runs, output, HISTORY_COLUMNS if output == "table" else None)


@cli.command(epilog=EXIT_CODES)
@click.argument("run_id")
@log_option
@projections_option
@click.option("--items", "with_items", is_flag=True, help="Also list the run's items.")
@click.option("--failed", is_flag=True, help="List only the items that did not pass (implies --items).")
@output_option(*FORMATS)
def show(run_id: str, log_path: str, directory: str | None, with_items: bool, failed: bool, output: str) -> None:
    """Show one run as recorded, its current state, and every event about it.

    With --output jsonl or csv, prints the items (with --items) or the events."""
    import projections
    from auditlog.app.verified import verified_events_about, verified_run
    with_items = with_items or failed
    with _view(log_path, directory) as (log, view):
        _, run = verified_run(log, view, run_id)
        related = [{"seq": e.seq, "hash": e.hash, "type": e.event.type, "ts": e.event.ts, "actor": e.event.actor,
                    "data": e.event.data} for e in verified_events_about(log, view, run_id)]
        frame = projections.load_run(view, run_id)
    items = frame.item_records(failed_only=failed) if with_items else None
    if output == "json":
        doc = {"run": run, "current": frame.header, "events": related}
        if items is not None:
            doc["items"] = items
        click.echo(json_text(doc, indent=2))
    elif output in ("jsonl", "csv"):
        rows = items if items is not None else [{**e, "data": json.dumps(e["data"], sort_keys=True, ensure_ascii=False),
                                                 "actor": json.dumps(e["actor"], sort_keys=True, ensure_ascii=False)}
                                                for e in related]
        _echo(rows, output, ITEM_COLUMNS if items is not None and output == "csv" else None)
    else:
        _print_show(run, frame.header, related, items)


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
    verdict = f"{current['verdict']} (seq {current['verdict_seq']})" if current["verdict"] else "none"
    for key, value in (("status", status), ("verdict", verdict), ("tags", text(current["tags"])),
                       ("notes", text(current["notes"])), ("pass_rate", current["pass_rate"]),
                       ("mean_score", current["mean_score"])):
        click.echo(f"  {key}: {safe_text(str(value), limit=200)}")
    click.echo("events:")
    for e in related:
        detail = json.dumps({k: v for k, v in e["data"].items() if k != "run"}, ensure_ascii=False, sort_keys=True)
        click.echo(f"  seq {e['seq']}  {e['ts']}  {e['type']}  {e['hash'][:12]}  {safe_text(detail, limit=120)}")
    if items is not None:
        click.echo(f"items ({len(items)}):")
        click.echo(render(items, "table", ITEM_COLUMNS), nl=False)


@cli.command(epilog=EXIT_CODES)
@click.argument("run_a")
@click.argument("run_b")
@log_option
@projections_option
@click.option("--items", "item_rows", is_flag=True,
              help="Print the item changes as records (with jsonl/csv; the table shows them anyway).")
@output_option(*FORMATS)
def compare(run_a: str, run_b: str, log_path: str, directory: str | None, item_rows: bool, output: str) -> None:
    """Compare RUN_B with RUN_A: pass-rate, mean-score and metric deltas (B - A), items that flipped
    pass->fail or fail->pass, items in one run only."""
    from dataclasses import asdict

    import projections
    from auditlog.app.verified import verified_run
    with _view(log_path, directory) as (log, view):
        for run_id in (run_a, run_b):
            verified_run(log, view, run_id)  # its event is the one folded, and in the verified tree
        report = projections.compare_runs(view, run_a, run_b)
    figures = [asdict(f) for f in report.figures]
    changes = [asdict(c) for c in report.changes]
    if output == "json":
        click.echo(json_text(report.to_json(), indent=2))
    elif output != "table":
        _echo(changes if item_rows else figures, output)
    else:
        click.echo(f"A: {safe_text(run_a, 200)}\nB: {safe_text(run_b, 200)}")
        click.echo(render(figures, "table", ["name", "a", "b", "delta"]), nl=False)
        click.echo(f"items in both: {report.common_items}; pass->fail: {len(report.pass_to_fail)}, "
                   f"fail->pass: {len(report.fail_to_pass)}; only in A: {len(report.only_in_a)}, "
                   f"only in B: {len(report.only_in_b)}")
        if changes:
            click.echo(render(changes, "table", ["item_id", "change", "score_a", "score_b"]), nl=False)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--project", required=True, help="The project (task) whose runs to follow.")
@click.option("--metric", required=True, help="A run metric's name, or pass_rate or mean_score.")
@click.option("--by", type=click.Choice(["model_version", "experiment.version", "model_id"]), default="model_version",
              show_default=True, help="One point per value of this.")
@click.option("--group", help="Only runs of this experiment group.")
@click.option("--days", type=click.IntRange(min=0), help="Only runs started (else recorded) in the last N days.")
@click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs.")
@output_option(*FORMATS)
def trend(log_path: str, directory: str | None, project: str, metric: str, by: str, group: str | None,
          days: int | None, include_superseded: bool, output: str) -> None:
    """A metric across versions: per value of --by, the average, min, max, number of runs and the last value."""
    import projections
    with _view(log_path, directory) as (_, view):
        points = projections.trend(view, project, metric, by=by, group=group, days=days,
                                   include_superseded=include_superseded)
    records = [{by: p.key, **{k: v for k, v in p.to_json().items() if k != "key"}} for p in points]
    _echo(records, output, [by, "samples", "avg", "min", "max", "last", "last_run_id", "last_recorded_at"])


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--experiment", required=True, help="The experiment id.")
@click.option("--baseline", help="The group the others are compared with (default: the first by name).")
@click.option("--all", "include_superseded", is_flag=True, help="Include superseded runs.")
@output_option(*FORMATS)
def ab(log_path: str, directory: str | None, experiment: str, baseline: str | None, include_superseded: bool,
       output: str) -> None:
    """An A/B experiment by task: item wins, losses and ties of each group against the baseline group,
    and the average improvement of every metric (see docs/projections.md for the exact definitions)."""
    import projections
    with _view(log_path, directory) as (_, view):
        summary = projections.ab_summary(view, experiment, baseline=baseline, include_superseded=include_superseded)
    if output == "json":
        click.echo(json_text(summary.to_json(), indent=2))
        return
    records = []
    for row in summary.rows:
        record = {k: v for k, v in row.to_json().items() if k != "improvement"}
        record.update({f"improvement.{k}": v for k, v in row.improvement.items()})
        records.append(record)
    _echo(records, output)


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), required=True, help="File format.")
@click.option("--what", type=click.Choice(["runs", "items", "verdicts", "baselines"]), default="runs",
              show_default=True, help="The runs selected, their items, the verdicts on them, or their pins as baselines.")
@run_filters
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here (default: stdout).")
def export(log_path: str, directory: str | None, fmt: str, what: str, out: str | None, **filters: Any) -> None:
    """Export runs, items, verdicts or baseline pins (selected by the same filters as history) as CSV, JSON Lines
    or Parquet."""
    import projections
    if out is None and fmt == "parquet" and sys.stdout.isatty():
        raise errors.InvalidInput("--out", "Parquet is binary: give --out FILE, or redirect stdout to a file")
    with _view(log_path, directory) as (_, view):
        count = projections.export(view, what, fmt, out if out is not None else sys.stdout.buffer, **_filters(**filters))
    if out is not None:
        click.echo(f"exported {count} {what} to {out}", err=True)


@cli.group(name="projections", epilog=EXIT_CODES)
def projections_group() -> None:
    """The Parquet projections beside the log: rebuild, status, compact (queries catch them up by themselves)."""


@projections_group.command(epilog=EXIT_CODES)
@log_option
@click.option("--out", "--projections", "directory", metavar="DIR",
              help="Where to build (default: as --projections of the other commands).")
@output_option("text", "json", default="text")
def rebuild(log_path: str, directory: str | None, output: str) -> None:
    """Rebuild the projections from the whole log (deterministic: the same log gives the same bytes).

    The one way out after the log was rewritten under them, which catch-up refuses."""
    import projections
    with open_log(log_path) as log:
        directory = projections_dir(log, log_path, directory)
        state = projections.rebuild(log, directory)
    if output == "json":
        click.echo(json.dumps({"directory": directory, **state.to_json()}, indent=2, sort_keys=True))
    else:
        counts = state.counts
        click.echo(f"rebuilt {directory}: {counts['runs']} runs, {counts['items']} items, {counts['verdicts']} "
                   f"verdicts, up to seq {state.seq} ({state.hash[:12]})")


@projections_group.command(epilog=EXIT_CODES)
@log_option
@projections_option
@output_option("text", "json", default="text")
def status(log_path: str, directory: str | None, output: str) -> None:
    """Where the projections stand: position, events behind the log, files, staleness (changes nothing).

    Exits 1 when the log no longer holds the events they were built from."""
    import projections
    with open_log(log_path) as log:
        report = projections.status(log, projections_dir(log, log_path, directory))
    if output == "json":
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        _print_status(report)
    if report.problem:
        sys.exit(errors.EXIT_INTEGRITY)


def _print_status(report: Any) -> None:
    click.echo(f"projections: {report.directory}")
    click.echo(f"log: {report.log_size} events, head {report.log_head[:12]}")
    if not report.built:
        click.echo(f"not built: {report.behind} events to apply")
    else:
        where = f"seq {report.position} ({report.position_hash[:12]})"
        lag = ("not usable: see the problem below" if report.problem else "up to date" if report.behind == 0
               else f"{report.behind} events behind, stale since {report.stale_since}")
        click.echo(f"position: {where}: {lag}")
        click.echo(f"schema version: {report.schema_version}; " + ", ".join(f"{v} {k}" for k, v in report.counts.items()))
        click.echo(render(report.files, "table", ["path", "kind", "rows", "bytes"]), nl=False)
    if report.problem:
        click.echo(f"problem: {safe_text(report.problem, limit=1000)}")
    if report.advice:
        click.echo(f"advice: {report.advice}")


@projections_group.command(epilog=EXIT_CODES)
@log_option
@projections_option
def compact(log_path: str, directory: str | None) -> None:
    """Merge each table's part files into one (what a rebuild writes); the tables' contents do not change."""
    import projections
    with open_log(log_path) as log:
        directory = projections_dir(log, log_path, directory)
        before = projections.catch_up(log, directory)
        after = projections.compact(directory)
    click.echo(f"compacted {directory}: {len(before.items)} item part file(s) -> {len(after.items)} "
               f"({after.counts['items']} items)")
