"""What every command shares: the group, common options, and turning errors into exit codes.

Every AuditLogError becomes one line on stderr and its documented exit code:
0 ok, 1 integrity failure, 2 invalid input or usage, 3 not found,
4 lock timeout or I/O error, 5 conflict. Heavy libraries are imported inside the
commands that need them, so `append` and `verify` start fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from auditlog import errors
from auditlog.render import safe_text

EXIT_CODES = """\b
Exit codes:
  0  ok
  1  integrity failure (verify found a problem)
  2  invalid input or usage
  3  not found (log, run, event)
  4  lock timeout or storage error
  5  conflict (run id recorded with other content)
  130  interrupted (Ctrl-C, SIGINT); nothing was written
  143  terminated (SIGTERM); nothing was written"""
GATE_CODES = """
  10  gate: the verdict is BLOCK
  11  gate: the verdict is NEEDS_REVIEW (see --fail-on)"""
# The root group's help lists every code any command can exit with.
ALL_EXIT_CODES = EXIT_CODES.replace("\n  130", GATE_CODES + "\n  130", 1)
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}  # inherited by every subcommand's context


class EnvDefaultOption(click.Option):
    """An option whose help shows the default in effect: the environment variable's value when it is set."""

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        value = os.environ.get(self.envvar) if isinstance(self.envvar, str) else None
        if value:
            extra["default"] = f"{value} (from ${self.envvar})"
        return extra


def log_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--log", "log_path", cls=EnvDefaultOption, envvar="AUDITLOG_DB", default="auditlog.db",
                        show_default=True, help="The log: a SQLite file or a postgresql:// URL. "
                             "Defaults to $AUDITLOG_DB, then ./auditlog.db.")(func)


def lock_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--lock-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
                        help="Seconds to wait for other writers before giving up (exit 4).")(func)


def output_option(*choices: str, default: str = "table") -> Callable[..., Any]:
    return click.option("--output", "-o", type=click.Choice(choices), default=default, show_default=True,
                        help="How to print the result.")


def records_output(default: str = "table") -> Callable[..., Any]:
    """-o/--output table|json|jsonl|csv and --wide: what every command that prints records takes."""
    from auditlog.render import FORMATS

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return output_option(*FORMATS, default=default)(wide_option(func))
    return decorate


def wide_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--wide", is_flag=True, expose_value=False, callback=_remember_wide,
                        help="Show every column of a table, however wide (default: cut the middle "
                             "columns to fit the terminal, or $COLUMNS).")(func)


def _remember_wide(ctx: click.Context, _param: click.Parameter, wide: bool) -> None:
    ctx.meta["auditlog.wide"] = wide


def table_width() -> int | None:
    """How wide a table may be: unlimited with --wide; else $COLUMNS when set, the terminal's width
    when stdout is one, and unlimited when it is piped (a program reads it whole)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get("auditlog.wide"):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        import shutil
        return shutil.get_terminal_size().columns
    return None


def open_log(path: str, *, create: bool = False, lock_timeout: float = 30.0, origin: str | None = None):  # noqa: ANN201
    from auditlog.services.log import AuditLog
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["auditlog.log_path"] = path  # where to look for the ids a mistyped run id may mean
    return AuditLog.open(path, create=create, lock_timeout=lock_timeout, origin=origin)


def parse_tags(tags: tuple[str, ...], option: str = "--tag") -> dict[str, str]:
    """KEY=VALUE options into a dict; InvalidInput naming the option otherwise."""
    parsed = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise errors.InvalidInput(option, f"{tag!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


class AuditLogGroup(click.Group):
    """The root group: an AuditLogError from any command becomes one line on stderr and its exit code.

    Mapped here, inside click, so that `CliRunner().invoke(cli, ...)` exits exactly as the installed
    command does; anything else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.AuditLogError as exc:
            if isinstance(exc, errors.RunNotFound) and not exc.closest and "auditlog.log_path" in ctx.meta:
                exc = _suggesting_runs(exc, ctx.meta["auditlog.log_path"])
            click.echo(f"auditlog: error: {safe_text(str(exc), limit=2000)}", err=True)
            ctx.exit(exc.exit_code)


def _suggesting_runs(exc: errors.RunNotFound, log_path: str) -> errors.RunNotFound:
    """`exc` with the log's closest run ids, for "did you mean". Read from the store's indexed columns
    (type, subject) without parsing the events: only names to show, after the command has failed;
    if the log cannot be read now, the error stays as it was."""
    from auditlog.core.events import RUN_RECORDED
    try:
        with open_log(log_path) as log:
            ids = [row[5] for row in log.store.rows() if row[3] == RUN_RECORDED]  # (seq, hash, ts, type, project, subject, body)
    except errors.AuditLogError:
        return exc
    return exc.suggesting(ids)


@click.group(cls=AuditLogGroup, epilog=ALL_EXIT_CODES, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="auditlog-evals")
def cli() -> None:
    """A tamper-evident, hash-chained history of eval runs and CI gate verdicts."""


def _handle_process_signals(func: Callable[..., Any]) -> Callable[..., Any]:
    """What only the process meets: an interrupt or a closed pipe that escapes click's own handling."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("auditlog: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (| head): not an error worth a traceback
            sys.exit(0)
    return wrapper


main = _handle_process_signals(cli)
