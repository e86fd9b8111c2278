"""Bring the history other tools kept: `auditlog import evalsig STORE`, and `export-evalsig` to give it back."""

from __future__ import annotations

from dataclasses import asdict

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, lock_option, log_option, open_log, records_output, table_width
from auditlog.render import json_text, render, safe_text

OUTCOME_COLUMNS = ["project_id", "run_id", "status", "seq", "verdict_seq", "detail"]


@cli.group(name="import", epilog=EXIT_CODES)
def import_group() -> None:
    """Import the history another tool kept (see docs/import.md)."""


@import_group.command(name="evalsig", epilog=EXIT_CODES)
@click.argument("store", type=click.Path(file_okay=False))
@log_option
@lock_option
@records_output()
def import_evalsig(store: str, log_path: str, lock_timeout: float, output: str) -> None:
    """Import every run of the evalsig store STORE (its root, or one project's directory): each run with
    its items, the gate result evalsig recorded as a verdict computed elsewhere, and the store's files
    (names, SHA-256) as provenance in the events.

    Importing the same store again appends nothing. A run evalsig overwrote since it was imported
    (same run id, other content) is not recorded: it is listed as `changed` with what differs, the
    other runs are imported, and the command exits 5."""
    from auditlog.app.evalsig_import import import_runs, read_store

    runs = read_store(store)  # bad input is refused before any log is opened or created
    with open_log(log_path, create=True, lock_timeout=lock_timeout) as log:
        report = import_runs(log, store, runs)
    rows = [asdict(r) for r in report.runs]
    if output == "json":
        click.echo(json_text({"store": report.store, "runs": rows}, indent=2))
    elif output == "table":
        click.echo(render(rows, "table", OUTCOME_COLUMNS, width=table_width()), nl=False)
        click.echo(safe_text(f"{report.count('recorded')} recorded, {report.count('unchanged')} already recorded, "
                             f"{report.count('verdict recorded')} with a new gate result, "
                             f"{report.count('changed')} changed since imported", limit=500))
    else:
        click.echo(render(rows, output, OUTCOME_COLUMNS), nl=False)
    if report.changed:
        names = ", ".join(r.run_id for r in report.changed[:5]) + (", ..." if len(report.changed) > 5 else "")
        raise errors.Conflict(f"{len(report.changed)} run(s) changed in the store since they were imported, "
                              f"not recorded: {names} (the others were imported)")


@cli.command(name="export-evalsig", epilog=EXIT_CODES)
@click.argument("out", type=click.Path(file_okay=False))
@log_option
@click.option("--project", "project_id", help="Only this project's runs (default: every project).")
@click.option("--projections", "directory", help="The projections directory (default: beside the log).")
def export_evalsig(out: str, log_path: str, project_id: str | None, directory: str | None) -> None:
    """Write the log's runs as an evalsig store in OUT: {project}/manifest.json and one Parquet file per run
    in evalsig's PARQUET_SCHEMA, which evalsig.store reads. Only verified runs are written."""
    from auditlog.app.evalsig_layout import project_runs, write_store

    with open_log(log_path) as log:
        runs = list(project_runs(log, log_path, project_id, directory))
    if not runs:
        raise errors.NotFound(f"no runs to export{'' if project_id is None else f' in project {project_id!r}'}")
    written = write_store(runs, out)
    click.echo(safe_text(f"{len(runs)} run(s) written to {out} ({len(written)} files)", limit=1000))
