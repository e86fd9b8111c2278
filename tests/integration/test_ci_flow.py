"""CI as a user runs it. A full script under bash (real processes), the gate's exit codes
and the verdict events (in-process, as the installed command exits), and the example
workflows checked against the real CLI."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from auditlog.cli import cli
from tests.support.cli import cli as run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def junit(path: Path, failing: set[int], n: int = 40) -> Path:
    cases = "".join(f'<testcase classname="evals.t" name="test_{i}" time="0.25">'
                    + ('<failure message="wrong"/>' if i in failing else "") + "</testcase>" for i in range(n))
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="evals" tests="{n}">{cases}'
                    "</testsuite></testsuites>")
    return path


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("AUDITLOG_DB", "AUDITLOG_KEY_PASSPHRASE")}
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")
    e["PYTHONPATH"] = str(ROOT)
    return e


SCRIPT = """
set -u
auditlog keygen --name ci.example.org --out ci.key > /dev/null
auditlog ingest junit baseline.xml --project unit-evals --model agent --run-id base --tag branch=main --log evals.db
auditlog ingest junit candidate.xml --project unit-evals --model agent --run-id cand --tag branch=pr --log evals.db
auditlog gate cand --baseline-latest --baseline-tag branch=main --tolerance 0.01 --log evals.db
gate=$?
auditlog verify --log evals.db || exit 99
auditlog checkpoint --key ci.key --log evals.db > checkpoint.txt || exit 98
auditlog verify --log evals.db --checkpoint checkpoint.txt --vkey ci.vkey || exit 97
exit $gate
"""


@pytest.mark.parametrize("failing, expected", [(set(), 0), ({1, 2, 3, 5, 8, 13, 21, 34}, 10)],
                         ids=["no-change-allows", "regression-blocks"])
def test_a_ci_script_records_gates_verifies_and_checkpoints(tmp_path, failing, expected):
    junit(tmp_path / "baseline.xml", set())
    junit(tmp_path / "candidate.xml", failing)
    done = subprocess.run(["bash", "-c", SCRIPT], cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert done.returncode == expected, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "baseline: base (latest active run of unit-evals/agent, branch=main)" in done.stdout
    assert ("BLOCK:" if expected else "ALLOW:") in done.stdout
    events = [json.loads(line) for line in subprocess.run(
        [sys.executable, "-m", "auditlog", "events", "--log", "evals.db"], cwd=tmp_path, env=env(),
        capture_output=True, text=True, check=True).stdout.splitlines()]
    verdicts = [e["event"] for e in events if e["event"]["type"] == "verdict.recorded"]
    assert len(verdicts) == 1
    verdict = verdicts[0]["data"]["verdict"]
    assert (verdict["run_id"], verdict["baseline_run_id"]) == ("cand", "base")
    assert verdict["verdict"] == ("BLOCK" if expected else "ALLOW")
    assert verdict["policy"]["tolerance"] == 0.01 and verdict["policy"]["mode"] == "non-inferiority"
    assert verdict["delta"] == pytest.approx(-len(failing) / 40)


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    done = run_cli(*args, cwd=tmp_path, env=env())
    return subprocess.CompletedProcess(args, done.code, done.out, done.err)


@pytest.fixture
def two_runs(tmp_path):
    junit(tmp_path / "b.xml", set())
    junit(tmp_path / "c.xml", {0, 1, 2})
    for name, run_id in (("b.xml", "base"), ("c.xml", "cand")):
        assert run(tmp_path, "ingest", "junit", name, "--project", "p", "--model", "m", "--run-id", run_id,
                   "--log", "e.db").returncode == 0
    return tmp_path


def test_exit_codes_follow_the_verdict_and_fail_on(two_runs):
    base = ["gate", "cand", "--baseline", "base", "--log", "e.db"]
    assert run(two_runs, *base, "--tolerance", "0.5").returncode == 0             # ALLOW
    assert run(two_runs, *base, "--tolerance", "0").returncode == 11              # NEEDS_REVIEW
    assert run(two_runs, *base, "--tolerance", "0", "--fail-on", "block").returncode == 0
    assert run(two_runs, *base, "--mode", "superiority").returncode in (10, 11)
    assert run(two_runs, *base, "--mode", "superiority", "--fail-on", "never").returncode == 0
    refused = run(two_runs, "gate", "cand", "--log", "e.db")
    assert refused.returncode == 2 and "--baseline" in refused.stderr
    missing = run(two_runs, "gate", "cand", "--baseline", "nope", "--log", "e.db")
    assert missing.returncode == 3 and len(missing.stderr.strip().splitlines()) == 1


def test_json_output_and_override_and_pinned_baseline(two_runs):
    out = run(two_runs, "gate", "cand", "--baseline", "base", "--tolerance", "0.5", "--output", "json",
              "--log", "e.db")
    report = json.loads(out.stdout)
    assert report["verdict"] == "ALLOW" and report["n_paired"] == 40 and report["delta"] == pytest.approx(-3 / 40)
    over = run(two_runs, "override", str(report["seq"]), "--to", "BLOCK", "--reason", "release freeze",
               "--log", "e.db")
    assert over.returncode == 0 and "verdict.overridden" in over.stdout
    not_a_verdict = run(two_runs, "override", "1", "--to", "ALLOW", "--reason", "x", "--log", "e.db")
    assert not_a_verdict.returncode == 2
    pin = run(two_runs, "baseline", "pin", "base", "--project", "p", "--model", "m", "--log", "e.db")
    assert pin.returncode == 0 and "baseline.pinned" in pin.stdout
    pinned = run(two_runs, "gate", "cand", "--baseline", "pinned", "--tolerance", "0.5", "--log", "e.db")
    assert pinned.returncode == 0 and "baseline: base (pinned)" in pinned.stdout
    wrong = run(two_runs, "baseline", "pin", "base", "--project", "other", "--log", "e.db")
    assert wrong.returncode == 2


def auditlog_commands(workflow: dict) -> list[list[str]]:
    """Every `auditlog ...` command line in a workflow's scripts, continuation lines joined."""
    scripts = []

    def walk(node):  # noqa: ANN001, ANN202
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "after_script", "before_script"):
                    scripts.extend([value] if isinstance(value, str) else value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(workflow)
    commands = []
    for script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            for part in line.replace("&&", ";").split(";"):
                words = shlex.split(part.split(" > ")[0].split(" || ")[0], posix=True)
                while words and words[0] in ("then", "if", "umask"):
                    words = words[1:]
                if words and words[0] == "auditlog":
                    commands.append(words[1:])
    return commands


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_example_workflows_use_real_commands_and_options(name):
    workflow = yaml.safe_load((EXAMPLES / name).read_text())
    commands = auditlog_commands(workflow)
    assert {c[0] for c in commands} >= {"ingest", "gate", "verify", "checkpoint"}
    for args in commands:
        command: click.Command | None = cli
        words = list(args)
        # contexts chained to the root's settings, as the CLI makes them: a leaf parsed without them
        # would cache a help option without -h on the shared command (click >= 8.1.8), for later tests
        parent = click.Context(cli, info_name="auditlog", **cli.context_settings)
        while isinstance(command, click.Group):  # descend by the command names (groups take no options here)
            name_, words = words[0], words[1:]
            command = command.get_command(parent, name_)
            assert command is not None, f"auditlog {' '.join(args)}: no command {name_!r}"
            if isinstance(command, click.Group):
                parent = click.Context(command, parent=parent, info_name=name_)
        ctx = command.make_context(name_, words, parent=parent)  # the leaf's options and arguments, parsed for real
        assert ctx.command is command


def test_append_run_can_gate_in_the_same_step(tmp_path):
    docs = {}
    for run_id, failing in (("base", set()), ("cand", set(range(0, 40, 4)))):
        items = [{"item_id": f"t{i}", "score": 0.0 if i in failing else 1.0, "passed": i not in failing}
                 for i in range(40)]
        docs[run_id] = tmp_path / f"{run_id}.json"
        docs[run_id].write_text(json.dumps({"run_id": run_id, "project_id": "p", "model_id": "m", "items": items}))
    assert run(tmp_path, "append", "run", str(docs["base"]), "--log", "e.db").returncode == 0
    done = run(tmp_path, "append", "run", str(docs["cand"]), "--gate-against", "latest", "--log", "e.db")
    assert done.returncode == 10, done.stdout + done.stderr
    assert "run.recorded cand recorded at seq 2" in done.stdout and "baseline: base (latest" in done.stdout
    retry = run(tmp_path, "append", "run", str(docs["cand"]), "--gate-against", "base", "--log", "e.db")
    assert retry.returncode == 10 and "already recorded at seq 2" in retry.stdout
    verdicts = run(tmp_path, "events", "--log", "e.db").stdout.count('"type":"verdict.recorded"')
    assert verdicts == 1  # the same verdict again is an idempotent retry, not a second event
