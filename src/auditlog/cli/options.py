"""An option that takes several values after one flag: `--samples a.jsonl b.jsonl c.jsonl`.

A shell glob (`--samples samples_mmlu_*.jsonl`) expands to several words after one flag;
click's options take one value each, so this option takes every following word up to the
next one that starts with `-` (an option), as well as repeating (`--samples a --samples b`).
Arguments of the command therefore go before it. It needs at least one value: followed by
another option (a CI variable that expanded to nothing), or by an empty word, it is refused,
instead of taking the option as its value.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import click

from auditlog import errors


class SeveralValues(click.Option):
    """multiple=True, and each occurrence takes the words after it until the next option.
    `what` names one value in the refusal ("file": "--samples: needs at least one file ...")."""

    def __init__(self, *args: Any, what: str = "value", **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)
        self.what = what

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            take_one = option.process

            def take_several(value: Any, state: Any, take_one: Any = take_one, name: str = name) -> None:
                self._check(name, value, first=True)
                take_one(value, state)
                while state.rargs and not state.rargs[0].startswith("-"):
                    word = state.rargs.pop(0)
                    self._check(name, word, first=False)
                    take_one(word, state)

            option.process = take_several

    def _check(self, name: str, word: Any, *, first: bool) -> None:
        """Refuse an empty word, and as the first value (which click takes whatever it is) another option."""
        if not isinstance(word, str):
            return
        if not word:
            raise errors.InvalidInput(name, f"needs a {self.what}, not an empty word (a variable that expanded "
                                            "to nothing?)")
        if first and word.startswith("-") and word != "-":
            raise errors.InvalidInput(name, f"needs at least one {self.what}, but the next word, {word!r}, is an "
                                            "option (a variable that expanded to nothing?)")


class NonEmpty(click.ParamType):
    """Text that must not be empty: a run id, project or model given as "$RUN_ID" when the variable
    is unset would otherwise be read as "not given" (a derived run id, exit 0) or as a run named ''.
    Refused with exit 2 naming the option or argument, as an empty --samples is. `hint` says what to
    do instead."""

    name = "text"

    def __init__(self, hint: str = "") -> None:
        self.hint = hint

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            name = (param.opts[0] if isinstance(param, click.Option) else param.human_readable_name) if param else "value"
            raise errors.InvalidInput(name, "is empty (a variable that expanded to nothing?)"
                                            + (f": {self.hint}" if self.hint else ""))
        return value


RUN_ID = NonEmpty()  # a run id argument or option

SQLITE_HEADER = b"SQLite format 3\x00"


class OutputFile(click.Path):
    """A file a command writes and replaces (export's and report's --out), but never a SQLite database:
    `--out evals.db` beside `--log evals.db` replaced the log with a CSV file or an HTML page and
    exited 0, a whole history lost to a slip of the keyboard. Only regular files are looked into
    (reading a FIFO or /dev/stdout would wait for input)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return path
            with open(path, "rb") as existing:
                head = existing.read(len(SQLITE_HEADER))
        except OSError:
            return path  # nothing there yet (or unreadable): writing it says what is wrong
        if head == SQLITE_HEADER:
            name = param.opts[0] if isinstance(param, click.Option) else "--out"
            raise errors.InvalidInput(name, f"{os.fsdecode(path)} is a SQLite database (a log?): not replacing it; "
                                            "write to another file")
        return path


INT64_MAX = 2**63 - 1
"""The largest integer SQLite's INTEGER and PostgreSQL's bigint hold (and Go's tlog, a tree size): the top of
every seq, tree size, count or offset option. Beyond it the value reached the store, or pyarrow, and failed
there with a traceback (OverflowError, exit 1); click refuses it instead, exit 2 naming the option."""

JSON_INT_MAX = 2**53 - 1
"""The largest integer a JSON number holds exactly (RFC 8785): the top of an option recorded in a document."""

DAYS_MAX = 365_000
"""A thousand years: the top of a --days option (further back than datetime reaches is an OverflowError)."""


def int64(min: int = 0) -> click.IntRange:
    """An integer option or argument from `min` to INT64_MAX: a seq, tree size, count or offset."""
    return click.IntRange(min=min, max=INT64_MAX)
