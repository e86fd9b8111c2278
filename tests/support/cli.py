"""The one way tests run the `auditlog` command: in-process by default, a real process on request.

`cli(*args)` invokes the click group through `click.testing.CliRunner`: errors are mapped inside
the group, so the exit code, stdout and stderr are the installed command's, without the cost of
starting Python. `cli(*args, process=True)` runs `python -m auditlog ARGS` in a fresh process, for
tests where the process is the point: import cost, what the real entry point prints, kills,
concurrency, signals. Both return the same `Result`.

In either mode `env` is the command's whole environment (default: this one without $AUDITLOG_DB)
and `cwd` its working directory; in-process, both are set for the call and restored after it.
An exception the command does not map is re-raised in-process (a bug: the test fails with it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 60
PROG_NAME = "python -m auditlog"  # what usage lines say, in both modes


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[:3000]}\n--- stderr\n{self.err[:3000]}"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without $AUDITLOG_DB, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "AUDITLOG_DB"}
    env.update(extra)
    return env


def interruptible() -> None:
    """A Popen preexec_fn: SIGINT's default restored in the child before it starts Python.

    A shell that runs a job in the background without job control (`cmd &` in a script) starts
    it with SIGINT ignored; children inherit that, and Python installs no KeyboardInterrupt
    handler for a signal ignored at startup, so a test of what Ctrl-C does would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: Any, input: bytes | str | None = None, cwd: Path | str | None = None,
        env: dict[str, str] | None = None, process: bool = False, python_flags: tuple[str, ...] = (),
        timeout: float = TIMEOUT) -> Result:
    """`auditlog ARGS`, in-process unless `process` (or `python_flags`) asks for a real one."""
    if process or python_flags:
        return run_process(*args, input=input, cwd=cwd, env=env, python_flags=python_flags, timeout=timeout)
    from click.testing import CliRunner

    from auditlog.cli import cli as group

    if isinstance(input, str):
        input = input.encode("utf-8")
    wanted = env if env is not None else clean_env()
    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    overrides.update(wanted)
    with _chdir(cwd):
        done = CliRunner().invoke(group, [str(a) for a in args], input=input, env=overrides,
                                  prog_name=PROG_NAME, catch_exceptions=False)
    return Result(done.exit_code, done.stdout_bytes, done.stderr_bytes)


def run_process(*args: Any, input: bytes | str | None = None, cwd: Path | str | None = None,
                env: dict[str, str] | None = None, python_flags: tuple[str, ...] = (),
                timeout: float = TIMEOUT) -> Result:
    """`python -m auditlog ARGS` in a fresh process."""
    if isinstance(input, str):
        input = input.encode("utf-8")
    done = subprocess.run(
        [sys.executable, *python_flags, "-m", "auditlog", *map(str, args)],
        input=input if input is not None else b"",
        capture_output=True, cwd=cwd, env=env if env is not None else clean_env(), timeout=timeout, check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@contextlib.contextmanager
def _chdir(cwd: Path | str | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    with contextlib.chdir(cwd):
        yield


def ok(*args: Any, **kwargs: Any) -> Result:
    result = cli(*args, **kwargs)
    assert result.code == 0, str(result)
    assert "Traceback" not in result.err, str(result)
    return result


def one_line_error(result: Result, code: int, *needles: str) -> str:
    """The CLI failed the documented way: exit `code`, one line on stderr naming these words, no traceback."""
    assert result.code == code, str(result)
    assert "Traceback" not in result.err, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
    for needle in needles:
        assert needle in lines[0], str(result)
    return lines[0]
