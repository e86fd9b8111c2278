"""What every command shares: the group, common options, and turning errors into exit codes.

Every AuditLogError becomes one line on stderr and its documented exit code:
0 ok, 1 integrity failure, 2 invalid input or usage, 3 not found,
4 lock timeout or I/O error, 5 conflict; Ctrl-C 130 and SIGTERM 143, with one line
that says whether anything was written; a reader that goes away (`| head`) exit 0,
quietly. Heavy libraries are imported inside the commands that need them, so
`append` and `verify` start fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from auditlog import errors
from auditlog.cli.options import NonEmpty
from auditlog.render import safe_text
from auditlog.store import writes

EXIT_CODES = """\b
Exit codes:
  0  ok
  1  integrity failure (verify found a problem)
  2  invalid input or usage
  3  not found (log, run, event)
  4  lock timeout, storage error, or not the expected log (--expect-log-id)
  5  conflict (contradicts what is recorded or written, e.g. a run id with other content)
  130  interrupted (Ctrl-C, SIGINT); one line says whether anything was written
  143  terminated (SIGTERM); the same"""
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


# `--log "$LOG"` with the variable unset: not ./auditlog.db, a new log started there (an empty $AUDITLOG_DB
# is "not set", as CI systems write an unset variable, and gives the default).
LOG_PATH = NonEmpty("give the log's path, or leave --log out for $AUDITLOG_DB, then ./auditlog.db")
EXPECTED_LOG_ID = "auditlog.expect_log_id"  # where --expect-log-id waits in click's context for open_log


def log_option(func: Callable[..., Any]) -> Callable[..., Any]:
    func = expect_log_id_option(func)
    return click.option("--log", "log_path", cls=EnvDefaultOption, envvar="AUDITLOG_DB", default="auditlog.db",
                        type=LOG_PATH, show_default=True, help="The log: a SQLite file or a postgresql:// URL. "
                             "Defaults to $AUDITLOG_DB, then ./auditlog.db.")(func)


def expect_log_id_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--expect-log-id on every command that opens a log. Kept in the context rather than handed to
    each command, so that open_log applies it and no command can forget to."""
    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        ctx.meta[EXPECTED_LOG_ID] = value or None

    return click.option("--expect-log-id", metavar="ID", envvar="AUDITLOG_EXPECT_LOG_ID", expose_value=False,
                        callback=remember,
                        help="Refuse any log but the one with this id, and refuse to create one (exit 4): "
                             "a lost CI cache must not start an empty log. Default: $AUDITLOG_EXPECT_LOG_ID.")(func)


def expected_log_id() -> str | None:
    """The --expect-log-id of the running command (None outside one, or when not given)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(EXPECTED_LOG_ID) if ctx is not None else None


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
    """The log at `path`, held to --expect-log-id / $AUDITLOG_EXPECT_LOG_ID when given."""
    from auditlog.services.log import AuditLog
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["auditlog.log_path"] = path  # where to look for the ids a mistyped run id may mean
    return AuditLog.open(path, create=create, lock_timeout=lock_timeout, origin=origin,
                         expect_log_id=expected_log_id())


@contextlib.contextmanager
def named_as_options(*names: str) -> Iterator[None]:
    """An InvalidInput from a library call whose field is a keyword this command takes as an option (`metric`
    for --metric) is re-raised naming the option as the user typed it: "metric: no run ..." named nothing
    on the command line."""
    try:
        yield
    except errors.InvalidInput as exc:
        if exc.field not in names:
            raise
        raise errors.InvalidInput(f"--{exc.field}", exc.reason) from None


def parse_tags(tags: tuple[str, ...], option: str = "--tag") -> dict[str, str]:
    """KEY=VALUE options into a dict; InvalidInput naming the option otherwise."""
    parsed = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise errors.InvalidInput(option, f"{tag!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def parse_excluded_tags(tags: tuple[str, ...], option: str = "--baseline-exclude-tag") -> dict[str, list[str]]:
    """KEY=VALUE options that exclude: {key: [values]}, a key may be given with several values
    (inspect_status=cancelled and inspect_status=error); InvalidInput naming the option otherwise."""
    parsed: dict[str, list[str]] = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise errors.InvalidInput(option, f"{tag!r} is not KEY=VALUE")
        parsed.setdefault(key, []).append(value)
    return parsed


class AuditLogGroup(click.Group):
    """The root group: an AuditLogError from any command becomes one line on stderr and its exit code.

    Mapped here, inside click, so that `CliRunner().invoke(cli, ...)` exits exactly as the installed
    command does; anything else is a bug and keeps its traceback.
    """

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        started = writes.count()
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt as exc:  # while parsing: click would say "Aborted!" and exit 1
            raise click.exceptions.Exit(_interrupted(exc, started)) from None

    def invoke(self, ctx: click.Context) -> Any:
        started = writes.count()
        _promised[0] = errors.EXIT_OK  # in-process (tests), a command before this one promised its own
        try:
            return super().invoke(ctx)
        except errors.AuditLogError as exc:
            if isinstance(exc, errors.RunNotFound) and not exc.closest and "auditlog.log_path" in ctx.meta:
                exc = _suggesting_runs(exc, ctx.meta["auditlog.log_path"])
            click.echo(f"auditlog: error: {safe_text(str(exc), limit=2000)}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM through main's handler
            ctx.exit(_interrupted(exc, started))
        except BrokenPipeError:  # the reader went away (`| head`): it has what it wanted
            _discard_stdout()
            ctx.exit(_promised[0])


_promised = [errors.EXIT_OK]  # the exit code a command's output stands for (exit_after_output)


def exit_after_output(code: int) -> None:
    """Say, before printing, the code this command exits with once it has: a reader that goes away
    early (`| head`) then ends it with that code, not 0, so a pipe never hides a verdict (gate's 10
    and 11, verify's 1)."""
    _promised[0] = code


def _interrupted(exc: KeyboardInterrupt, writes_before: int) -> int:
    """One line on stderr, honest about what was written; returns the exit code (130, or 143).

    An append is all or nothing: one interrupted before its COMMIT rolled back. Reads never
    write to the log (a projections catch-up writes its own files atomically: see
    docs/behaviour.md)."""
    terminated = isinstance(exc, errors.Terminated)
    what = "terminated" if terminated else "interrupted"
    if writes.count() == writes_before:
        said = "nothing was written"
    else:
        said = "what was committed before it stays in the log, the rest was rolled back"
    try:
        click.echo(f"auditlog: {what}; {said}", err=True)
    except OSError:
        pass  # stderr is gone too
    return errors.EXIT_TERMINATED if terminated else errors.EXIT_INTERRUPTED


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what is still buffered does not
    fail again ("Exception ignored ... BrokenPipeError"). In-process (CliRunner) there is no fd."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _suggesting_runs(exc: errors.RunNotFound, log_path: str) -> errors.RunNotFound:
    """`exc` with the log's closest run ids, for "did you mean". Read from the store's indexed columns
    (type, subject) without parsing the events: only names to show, after the command has failed;
    if the log cannot be read now, the error stays as it was."""
    from auditlog.core.events import RUN_RECORDED
    try:
        with open_log(log_path) as log:
            ids = [row.subject for row in log.store.rows() if row.type == RUN_RECORDED]
    except errors.AuditLogError:
        return exc
    return exc.suggesting(ids)


@click.group(cls=AuditLogGroup, epilog=ALL_EXIT_CODES, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="auditlog-evals")
def cli() -> None:
    """A tamper-evident, hash-chained history of eval runs and CI gate verdicts."""


def _terminate(signum: int, frame: object) -> None:
    raise errors.Terminated()


def _handle_process_signals(func: Callable[..., Any]) -> Callable[..., Any]:
    """What only the process meets. SIGTERM raises Terminated, so the stack unwinds as on Ctrl-C
    (transactions roll back, locks are released) and the group maps both to their exit codes;
    an interrupt or a closed pipe that escapes click's own handling still ends quietly here."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        signal.signal(signal.SIGTERM, _terminate)
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt as exc:
            sys.exit(_interrupted(exc, 0))
        except BrokenPipeError:
            _discard_stdout()
            sys.exit(_promised[0])
    return wrapper


main = _handle_process_signals(cli)
