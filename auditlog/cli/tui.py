"""`auditlog tui`: the terminal UI. textual is imported when the command runs, never before."""

from __future__ import annotations

import sys

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, log_option


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--verify", "start_verify", is_flag=True,
              help="Open on the Verify screen: check every hash, link, Merkle subtree and checkpoint first.")
@click.option("--projections", "directory", metavar="DIR",
              help="The projections directory (default: <log>.projections beside a log file).")
def tui(log_path: str, start_verify: bool, directory: str | None) -> None:
    """Browse the log in the terminal: runs, a run's detail and proof, compare, trends, verify, events.

    Keys: enter opens a run, space marks one and c compares two, t shows a trend, v verifies
    the chain, e shows the raw events, ? lists every key, q quits. See docs/tui.md.
    """
    try:
        from auditlog.tui.app import run
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in {"textual", "rich"}:
            raise
        raise errors.InvalidInput("tui", f"the terminal UI needs textual (pip install 'textual>=8'): {exc}") from None
    code = run(log_path, projections_dir=directory, verify=start_verify)
    if code:
        sys.exit(code)
