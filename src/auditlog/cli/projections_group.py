"""`auditlog projections ...`: rebuild, look at and compact the projections (the Parquet tables and
the manifest folded from the log), apart from the queries that read them (queries.py)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, log_option, open_log, output_option
from auditlog.cli.progress import progress
from auditlog.cli.queries import projections_dir, projections_option
from auditlog.render import plural, render, safe_text


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
        with progress("rebuilding the projections") as report:
            state = projections.rebuild(log, directory, report)
    if output == "json":
        click.echo(json.dumps({"directory": directory, **state.to_json()}, indent=2, sort_keys=True))
    else:
        counts = state.counts
        click.echo(f"rebuilt {directory}: {plural(counts['runs'], 'run')}, {plural(counts['items'], 'item')}, "
                   f"{plural(counts['verdicts'], 'verdict')}, up to seq {state.seq} ({state.hash[:12]})")


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
    click.echo(f"log: {plural(report.log_size, 'event')}, head {report.log_head[:12]}")
    if not report.built:
        click.echo(f"not built: {plural(report.behind, 'event')} to apply")
    else:
        where = f"seq {report.position} ({report.position_hash[:12]})"
        lag = ("not usable: see the problem below" if report.problem else "up to date" if report.behind == 0
               else f"{plural(report.behind, 'event')} behind, stale since {report.stale_since}")
        click.echo(f"position: {where}: {lag}")
        counts = ", ".join(plural(v, k.removesuffix("s")) for k, v in report.counts.items())
        click.echo(f"schema version: {report.schema_version}; {counts}")
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
        with progress("catching up the projections") as report:
            before = projections.catch_up(log, directory, report)
        after = projections.compact(directory)
    click.echo(f"compacted {directory}: {plural(len(before.items), 'item part file')} -> {len(after.items)} "
               f"({plural(after.counts['items'], 'item')})")
