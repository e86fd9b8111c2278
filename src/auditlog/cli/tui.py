"""`auditlog tui`: the terminal UI. textual is imported when the command runs, never before."""

from __future__ import annotations

import sys

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, expected_log_id, log_option


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--verify", "start_verify", is_flag=True,
              help="Open on the Verify screen: check every hash, link, Merkle subtree and checkpoint first.")
@click.option("--projections", "directory", metavar="DIR",
              help="The projections directory (default: <log>.projections beside a log file).")
@click.option("--checkpoint", "checkpoint_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="A signed checkpoint the log must extend, for the Verify screen (as `auditlog verify`). Repeatable.")
@click.option("--vkey", "vkeys", multiple=True, metavar="VKEY|FILE",
              help="A trusted verifier key: checks --checkpoint files and the stored checkpoints. Repeatable.")
def tui(log_path: str, start_verify: bool, directory: str | None, checkpoint_files: tuple[str, ...],
        vkeys: tuple[str, ...]) -> None:
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
    from auditlog.services.checkpoints import checkpoint_anchors
    from auditlog.services.keys import load_verifiers
    from auditlog.tui.data.chain import Trust
    if checkpoint_files and not vkeys:
        raise errors.InvalidInput("--vkey", "checking a --checkpoint needs the verifier key(s) that signed it")
    verifiers = tuple(load_verifiers(list(vkeys)))
    anchors = tuple(checkpoint_anchors(checkpoint_files, verifiers))
    if expected_log_id():  # not the expected log: one line and exit 4 before any screen starts
        from auditlog.cli.base import open_log
        with open_log(log_path):
            pass
    if not sys.stdin.isatty():  # a CI step or a pipe: the app would wait for keys that never come
        raise errors.InvalidInput("tui", "needs a terminal to read keys from, and stdin is not one (a CI job, a "
                                         "pipe?): in a script use auditlog verify, history or show")
    code = run(log_path, projections_dir=directory, verify=start_verify, trust=Trust(anchors, verifiers),
               expect_log_id=expected_log_id())
    if code:
        sys.exit(code)
