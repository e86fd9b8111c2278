"""An option that takes several values after one flag: `--samples a.jsonl b.jsonl c.jsonl`.

A shell glob (`--samples samples_mmlu_*.jsonl`) expands to several words after one flag;
click's options take one value each, so this option takes every following word up to the
next one that starts with `-` (an option), as well as repeating (`--samples a --samples b`).
Arguments of the command therefore go before it.
"""

from __future__ import annotations

from typing import Any

import click


class SeveralValues(click.Option):
    """multiple=True, and each occurrence takes the words after it until the next option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            take_one = option.process

            def take_several(value: Any, state: Any, take_one: Any = take_one) -> None:
                take_one(value, state)
                while state.rargs and not state.rargs[0].startswith("-"):
                    take_one(state.rargs.pop(0), state)

            option.process = take_several
