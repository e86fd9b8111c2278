"""Docs cannot drift: every example in README.md and docs/ runs as written, and the
CLI reference is the commands' own --help."""

from __future__ import annotations

import os
import re
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


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d, "sh")], ids=lambda d: d.name)
def test_shell_examples_run(doc, tmp_path):
    script = "set -euo pipefail\n" + "\n".join(runnable_shell(b) for b in blocks(doc, "sh"))
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=doc_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{doc.name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d, "python")], ids=lambda d: d.name)
def test_python_examples_run(doc, tmp_path):
    script = "\n\n".join(blocks(doc, "python"))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=doc_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{doc.name}:\n{done.stdout}\n{done.stderr}"


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
