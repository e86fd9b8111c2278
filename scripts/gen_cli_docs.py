"""Write docs/cli.md from the commands' own --help, so the reference cannot drift.

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is stale (the test suite does this)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "src"))  # the installed package first, the checkout as a fallback

from auditlog.cli import cli  # noqa: E402

INTRO = """# CLI reference

Generated from `auditlog --help` by `python scripts/gen_cli_docs.py`; do not edit by hand.
Every command takes `--log` (default `$AUDITLOG_DB`, then `./auditlog.db`) and exits with
the codes listed below.
"""


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name in sorted(group.commands):
        path = (*prefix, name)
        found.append(path)
        command = group.commands[name]
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


def render() -> str:
    runner = CliRunner(env={"AUDITLOG_DB": None})  # the reference shows the defaults, not this shell's
    top = runner.invoke(cli, ["--help"], prog_name="auditlog", terminal_width=100, max_content_width=100).output
    parts = [INTRO, "## auditlog\n", "```text\n" + top + "```\n"]
    for path in commands(cli):
        result = runner.invoke(cli, [*path, "--help"], prog_name="auditlog", terminal_width=100, max_content_width=100)
        parts.append(f"## auditlog {' '.join(path)}\n")
        parts.append("```text\n" + result.output + "```\n")
    return "\n".join(parts)


def main() -> int:
    target = ROOT / "docs" / "cli.md"
    text = render()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("docs/cli.md is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
