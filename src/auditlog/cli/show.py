"""Commands that look at one run or two: show and compare.

show reads the run through the store's index, checked against the verified tree (no tables,
no pyarrow); compare goes through the projections, each run's document confirmed first.
"""

from __future__ import annotations

import json
from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, log_option, open_log, records_output, table_width
from auditlog.cli.options import RUN_ID
from auditlog.cli.queries import _echo, _verified_run, _view, origin_needs_from, projections_option, published_option
from auditlog.render import json_text, number, plural, render, safe_text

ITEM_COLUMNS = ["item_id", "score", "passed", "latency_ms", "tokens", "cost_usd", "error"]
EVENT_COLUMNS = ["seq", "hash", "type", "ts", "actor", "data"]
FIGURE_COLUMNS = ["name", "a", "b", "delta", "better", "improvement"]
CHANGE_COLUMNS = ["item_id", "change", "passed_a", "passed_b", "score_a", "score_b"]
SETTING_COLUMNS = ["key", "change", "a", "b"]

@cli.command(epilog=EXIT_CODES)
@click.argument("run_id", type=RUN_ID)
@log_option
@projections_option
@click.option("--items", "with_items", is_flag=True, help="Also list the run's items.")
@click.option("--failed", is_flag=True, help="List only the items that did not pass (implies --items).")
@published_option
@records_output()
def show(run_id: str, log_path: str, directory: str | None, with_items: bool, failed: bool, output: str,
         uri: str | None, vkeys: tuple[str, ...], origin: str | None) -> None:
    """Show one run as recorded, its current state, and every event about it.

    With --output jsonl or csv, prints the items (with --items) or the events. With --from,
    the events listed are the run's recorded event only (its current state still shows
    annotations, supersessions and verdicts)."""
    from auditlog.app.run_state import current_state, item_records
    from auditlog.app.verified import verified_about, verified_tree
    with_items = with_items or failed
    origin_needs_from(uri, origin)
    if uri is not None:  # a published log: its projections, checked against its checkpoint
        import projections
        from auditlog.app.configs import published_run_config
        with _view(log_path, directory, uri, vkeys, origin) as (log, view):
            recorded, run = _verified_run(log, view, run_id)
            frame = projections.load_run(view, run_id)
            config = published_run_config(log, view, recorded)  # the configuration the run was recorded under
        about, current = [recorded], frame.header
        items = frame.item_records(failed_only=failed) if with_items else None
    else:  # through the store's index, checked against the verified tree: no tables read
        from auditlog.app.configs import run_config
        with open_log(log_path) as log:
            tree = verified_tree(log, log_path, directory)
            recorded, about = verified_about(log, tree, run_id)
            config = recorded_under = run_config(log, tree, recorded)
        run, current = recorded.event.data["run"], current_state(recorded, about, recorded_under.violations)
        items = item_records(recorded, failed_only=failed) if with_items else None
    related = [{"seq": e.seq, "hash": e.hash, "type": e.event.type, "ts": e.event.ts, "actor": e.event.actor,
                "data": e.event.data} for e in about]
    if output == "json":
        doc: dict[str, Any] = {"run": run, "current": current, "events": related}
        doc["project_config"] = None if config.in_force is None and config.problem is None else {
            "seq": None if config.in_force is None else config.in_force.seq,
            "config": None if config.in_force is None else config.in_force.config.to_data(),
            "problem": config.problem}
        if items is not None:
            doc["items"] = items
        click.echo(json_text(doc, indent=2))
    elif output in ("jsonl", "csv"):
        rows = items if items is not None else [{**e, "data": json.dumps(e["data"], sort_keys=True, ensure_ascii=False),
                                                 "actor": json.dumps(e["actor"], sort_keys=True, ensure_ascii=False)}
                                                for e in related]
        _echo(rows, output, ITEM_COLUMNS if items is not None else EVENT_COLUMNS)
    else:
        _print_show(run, current, related, items, config.describe())


def _print_show(run: dict[str, Any], current: dict[str, Any], related: list[dict[str, Any]],
                items: list[dict[str, Any]] | None, config: str) -> None:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)

    for key, value in run.items():
        if key == "metric_scopes":
            _print_scopes(value)
        elif key != "items":
            click.echo(f"{key}: {safe_text(text(value), limit=200)}")
    click.echo(f"items: {len(run.get('items') or [])}")
    click.echo(f"project config: {safe_text(config, limit=400)}")
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


def _print_scopes(scopes: dict[str, Any]) -> None:
    """One line per scope: its status, marked where trends and A/B summaries leave it out by default."""
    from auditlog.evals.scopes import headline, mark

    click.echo("metric_scopes:")
    for name, scope in scopes.items():
        marked = mark(scope["status"], headline(scope))
        label = scope["status"] + ("" if headline(scope) else ", not headline")
        reason = f" ({scope['reason']})" if scope.get("reason") else ""
        values = ", ".join(f"{metric}={number(v)}" for metric, v in (scope.get("metrics") or {}).items())
        line = f"  {name}: {label}{reason}{'  [left out by default]' if marked else ''}: {values or '-'}"
        click.echo(safe_text(line, limit=240))


def _computed_by(related: list[dict[str, Any]], current: dict[str, Any]) -> str:
    """", computed by evalsig" when the current verdict's figures were computed by another tool."""
    by = next((e["data"]["verdict"].get("computed_by") for e in related
               if e["seq"] == current["verdict_seq"] and e["type"] == "verdict.recorded"), None)
    return f", computed by {by}" if by else ""


def _figure(value: float | None) -> str:
    return "n/a" if value is None else number(value)


@cli.command(epilog=EXIT_CODES)
@click.argument("run_a", type=RUN_ID)
@click.argument("run_b", type=RUN_ID)
@log_option
@projections_option
@click.option("--items", "item_rows", is_flag=True,
              help="Print the item changes as records (with jsonl/csv; the table shows them anyway).")
@click.option("--settings", "setting_rows", is_flag=True,
              help="Print what differs in the runs' config and environment as records (with jsonl/csv).")
@published_option
@records_output()
def compare(run_a: str, run_b: str, log_path: str, directory: str | None, item_rows: bool, setting_rows: bool,
            output: str, uri: str | None, vkeys: tuple[str, ...], origin: str | None) -> None:
    """Compare RUN_B with RUN_A: pass-rate, mean-score and metric deltas (B - A), items that flipped
    pass->fail or fail->pass, items in one run only, and what differs in their config and environment,
    key by key (added, removed, changed)."""
    from dataclasses import asdict

    import projections
    from auditlog.app.configs import declared_lower_is_better
    from auditlog.app.verified import view_tree
    if item_rows and setting_rows:
        raise errors.InvalidInput("--settings", "give --items or --settings, not both")
    with _view(log_path, directory, uri, vkeys, origin) as (log, view):
        # each run's event is the one folded, and in the verified tree: its document is what was recorded
        documents = tuple(_verified_run(log, view, run_id)[1] for run_id in (run_a, run_b))
        declared = declared_lower_is_better(log, view_tree(view), documents[1]["project_id"]) if uri is None else None
        report = projections.compare_runs(view, run_a, run_b, documents=(documents[0], documents[1]),
                                          lower_is_better_metrics=declared)
    figures = [{**f.to_json(), "better": f.better} for f in report.figures]
    columns = FIGURE_COLUMNS
    if any("mark_a" in f or "mark_b" in f for f in figures):  # scoped metrics that trends and A/B leave out
        columns = [*FIGURE_COLUMNS, "mark_a", "mark_b"]
    changes = [asdict(c) for c in report.changes]
    settings = [{**asdict(d), "a": _setting(d.a), "b": _setting(d.b)} for d in report.differences or []]
    if output == "json":
        click.echo(json_text(report.to_json(), indent=2))
    elif output != "table":
        rows, columns = ((changes, CHANGE_COLUMNS) if item_rows else (settings, SETTING_COLUMNS) if setting_rows
                         else (figures, columns))
        _echo(rows, output, columns)
    else:
        click.echo(f"A: {safe_text(run_a, 200)}\nB: {safe_text(run_b, 200)}")
        _echo(figures, "table", columns)
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
