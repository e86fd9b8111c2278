"""`auditlog report`: one self-contained HTML page for an auditor or a review meeting."""

from __future__ import annotations

import sys

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, log_option, open_log
from auditlog.cli.options import OutputFile, int64
from auditlog.cli.queries import include_status_option, projections_option
from auditlog.render import plural, safe_text


@cli.command(epilog=EXIT_CODES)
@log_option
@projections_option
@click.option("--out", required=True, type=OutputFile(),
              help="The HTML file to write (replaced atomically if it exists).")
@click.option("--checkpoint", "checkpoint_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="A signed checkpoint the log must extend, as for `verify`. Repeatable.")
@click.option("--vkey", "vkeys", multiple=True, metavar="VKEY|FILE",
              help="A trusted verifier key (or a file holding one): checks --checkpoint and the stored checkpoints' "
                   "signatures. Repeatable.")
@click.option("--project", "projects", multiple=True, help="Chart only this project's trends. Repeatable "
              "(default: every project).")
@click.option("--runs", "max_runs", type=int64(), default=200, show_default=True,
              help="List this many of the newest runs with their evidence.")
@click.option("--experiments", "max_experiments", type=int64(), default=5, show_default=True,
              help="A/B summaries of this many experiments, the latest first.")
@include_status_option
def report(log_path: str, directory: str | None, out: str, checkpoint_files: tuple[str, ...], vkeys: tuple[str, ...],
           projects: tuple[str, ...], max_runs: int, max_experiments: int, include_status: str | None) -> None:
    """Write one self-contained HTML report: verification, checkpoints, verdicts, trends, A/B, runs.

    It runs the real `verify` first (with --checkpoint and --vkey, as `verify` does) and says
    what it checked and what it did not. Offline: inline CSS and SVG, no scripts, nothing
    fetched. When verify finds a problem the report shows that, and no data from the log,
    and the command exits 1 after writing it (docs/report.md).
    """
    from auditlog.app.report import gather, save
    from auditlog.app.report_html import render_report
    from auditlog.evals.scopes import parse_include
    from auditlog.services.checkpoints import checkpoint_anchors
    from auditlog.services.keys import load_verifiers

    if checkpoint_files and not vkeys:
        raise errors.InvalidInput("--vkey", "checking a --checkpoint needs the verifier key(s) that signed it")
    parse_include(include_status)  # an unknown status is refused before the log is opened
    verifiers = load_verifiers(list(vkeys))
    with open_log(log_path) as log:
        origin = log.info().get("origin")
        anchors = checkpoint_anchors(checkpoint_files, verifiers, origin=origin)
        data = gather(log, log_path, directory=directory, checkpoints=anchors, verifiers=verifiers,
                      projects=list(projects) or None, max_runs=max_runs, max_experiments=max_experiments,
                      include_status=include_status)
    save(render_report(data), out)
    if data.ok:
        click.echo(safe_text(f"{out}: verified {plural(data.verification.size, 'event')}; "
                             f"{plural(len(data.runs), 'run')}, {plural(len(data.verdicts), 'verdict')}, "
                             f"{plural(len(data.trends), 'trend chart')}, {plural(len(data.ab), 'A/B summary', 'A/B summaries')}",
                             limit=2000))
        return
    click.echo(safe_text(f"{out}: written; verify FAILED: {data.verification.summary()}", limit=2000), err=True)
    sys.exit(errors.EXIT_INTEGRITY)
