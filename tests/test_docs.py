"""Docs cannot drift: every example in README.md and docs/ runs as written, and the
CLI reference is the commands' own --help."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from auditlog.cli import cli
from auditlog.core.events import parse_event

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


def runnable_shell(block: str) -> str:
    """Installing is the reader's job, not the test's; running the tests would recurse."""
    lines = []
    for line in block.splitlines():
        if line.startswith("pip install"):
            _, sep, rest = line.partition("&&")
            line = rest.strip() if sep else ""
        if "pytest" in line:
            continue
        lines.append(line)
    return "\n".join(lines)


def doc_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AUDITLOG_DB"}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def page_script(doc: Path, scripts: Path) -> str:
    """One bash script for the whole page: its sh and python blocks in the order they appear, in one
    directory (a reader follows a page top to bottom in one shell). Consecutive python blocks run as one
    program, so that they share their names as they would in one session; each is written to `scripts`."""
    parts: list[str] = []
    python: list[str] = []

    def flush() -> None:
        if python:
            program = scripts / f"block{len(parts)}.py"
            program.write_text("\n\n".join(python))
            parts.append(f"{shlex.quote(sys.executable)} {shlex.quote(str(program))}")
            python.clear()

    for lang, body in FENCE.findall(doc.read_text()):
        if lang == "python":
            python.append(body)
        elif lang == "sh":
            flush()
            parts.append(runnable_shell(body))
    flush()
    return "set -euo pipefail\n" + "\n".join(parts)


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d, "sh") or blocks(d, "python")], ids=lambda d: d.name)
def test_examples_run_top_to_bottom_in_one_directory(doc, tmp_path):
    workdir, scripts = tmp_path / "work", tmp_path / "scripts"
    workdir.mkdir()
    scripts.mkdir()
    done = subprocess.run(["bash", "-c", page_script(doc, scripts)], cwd=workdir, env=doc_env(), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, f"{doc.name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


def test_json_examples_parse():
    import json
    for doc in DOCS:
        for body in blocks(doc, "json"):
            json.loads(body)


def test_the_genesis_example_is_a_canonical_event():
    [example] = [b for b in blocks(ROOT / "docs" / "events.md", "text") if b.startswith('{"actor"')]
    event = parse_event(example.strip().encode())
    assert event.seq == 0 and event.type == "log.created"


def test_cli_reference_is_generated_from_help():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_command_has_help_and_is_documented():
    reference = (ROOT / "docs" / "cli.md").read_text()

    def walk(group: click.Group, prefix: str = ""):
        for name, command in group.commands.items():
            yield f"{prefix}{name}", command
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix}{name} ")

    for name, command in walk(cli):
        assert (command.help or "").strip(), f"auditlog {name} has no help text"
        assert f"## auditlog {name}\n" in reference, f"auditlog {name} is not in docs/cli.md"


def test_no_command_that_exists_is_promised_for_a_later_release():
    """A page that says a later release adds `auditlog X` while X exists leaves a reader unsure whether
    to use it (ci.md said so of `auditlog publish`: new-user review 2, finding 10)."""
    promise = re.compile(r"(?:later|future|next|coming) (?:release|version)s? (?:adds?|brings?|will add)\s+"
                         r"`auditlog ([\w-]+)", re.I)
    stale = [f"{doc.relative_to(ROOT)}: auditlog {name}" for doc in DOCS
             for name in promise.findall(" ".join(doc.read_text().split())) if name in cli.commands]
    assert stale == []
