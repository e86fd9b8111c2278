"""--expect-log-id / $AUDITLOG_EXPECT_LOG_ID: every command that opens a log refuses another log,
and refuses to create one (exit 4, one line naming both ids, nothing written). A CI cache that
expired must not silently start a new, empty history.

The walk below runs every command that takes --log (and copy's SRC) through the real CLI; a new
command that opens a log fails `test_every_command_that_opens_a_log_is_walked` until it is added."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
import pytest

from auditlog.cli import cli as group
from tests.ingest.ingest_support import EVAL_OUTPUTS
from tests.support.cli import clean_env, cli

from .test_ci_flow import junit

WRONG = "0123456789abcdef0123456789abcdef"
DATA = EVAL_OUTPUTS
INSPECT = DATA / "inspect" / "log_formats.eval"
LM_EVAL = DATA / "lm-eval" / "results_2024-08-21T03-44-09.494230.json"


def commands(command: click.Command = group, prefix: tuple[str, ...] = ()):  # noqa: ANN201
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands(sub, (*prefix, name))
    else:
        yield prefix, command


def options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", ())}


# Arguments that reach the point where each command opens its log; LOG is replaced by the log's location.
ARGS: dict[tuple[str, ...], list[str]] = {
    ("init",): [],
    ("append", "run"): ["run.json"],
    ("append", "verdict"): ["verdict.json"],
    ("events",): [],
    ("supersede",): ["base", "--by", "cand", "--reason", "r"],
    ("annotate",): ["base", "--tag", "k=v"],
    ("demo",): [],
    ("migrate",): [],
    ("history",): [],
    ("show",): ["base"],
    ("compare",): ["base", "cand"],
    ("trend",): ["--project", "p", "--metric", "accuracy"],
    ("ab",): ["--experiment", "e", "--baseline", "g"],
    ("export",): ["--format", "csv"],
    ("report",): ["--out", "report.html"],
    ("projections", "rebuild"): [],
    ("projections", "status"): [],
    ("projections", "compact"): [],
    ("gate",): ["cand", "--baseline-latest"],
    ("override",): ["1", "--to", "ALLOW", "--reason", "r"],
    ("baseline", "pin"): ["base", "--project", "p"],
    ("ingest", "junit"): ["report.xml", "--project", "p", "--model", "m"],
    ("ingest", "inspect"): [str(INSPECT)],
    ("ingest", "lm-eval"): [str(LM_EVAL), "--project", "p"],
    ("verify",): [],
    ("checkpoint",): ["--key", "ci.key"],
    ("checkpoints",): [],
    ("cosign",): ["cp.txt", "--key", "ci.key"],
    ("prove",): ["base", "--out", "evidence", "--key", "ci.key"],
    ("prove-consistency",): ["--from", "1"],
    ("publish",): ["--to", "published", "--key", "ci.key"],
    ("tui",): [],
    ("copy",): [],  # SRC DST: see invoke
    ("db", "setup-roles"): [],  # a postgresql:// log: see test_setup_roles_checks_the_log_id
    ("import", "evalsig"): ["store"],
    ("export-evalsig",): ["exported"],
    ("project", "configure"): ["p", "--groups", "g"],
    ("project", "show"): ["p"],
}


def invoke(path: tuple[str, ...], log: str, workspace: Path, **env: str):  # noqa: ANN201
    if path == ("copy",):
        args = [log, str(workspace / "copy-of.db")]
    else:
        args = [*ARGS[path], "--log", log]
    return cli(*path, *args, cwd=workspace, env=clean_env(**env))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A log with two runs and a checkpoint, the files the commands read, and the log's id."""
    ws = tmp_path_factory.mktemp("expect")
    junit(ws / "b.xml", set())
    junit(ws / "c.xml", {1, 2})
    junit(ws / "report.xml", {3})
    for name, run_id in (("b.xml", "base"), ("c.xml", "cand")):
        assert cli("ingest", "junit", name, "--project", "p", "--model", "m", "--run-id", run_id,
                   "--log", "evals.db", cwd=ws).code == 0
    (ws / "run.json").write_text(json.dumps({"project_id": "p", "model_id": "m", "run_id": "x",
                                             "items": [{"item_id": "q", "score": 1.0, "passed": True}]}))
    (ws / "verdict.json").write_text(json.dumps({"run_id": "cand", "baseline_run_id": "base",
                                                 "metric": "score", "verdict": "ALLOW"}))
    from tests.import_evalsig.conftest import write_store  # an evalsig store, written by evalsig (a test dependency)
    write_store(ws / "store")
    assert cli("keygen", "--name", "ci.example.org", "--out", "ci.key", cwd=ws).code == 0
    done = cli("checkpoint", "--key", "ci.key", "--log", "evals.db", cwd=ws)
    assert done.code == 0, done
    (ws / "cp.txt").write_bytes(done.stdout)
    return ws


def log_id(workspace: Path) -> str:
    done = cli("init", "--log", "evals.db", cwd=workspace)
    return done.out.split("log id ")[1].split(",")[0]


def state(workspace: Path) -> tuple[str, list[str]]:
    """What must not change: the log's events (bytes and hashes), and the files in the workspace."""
    events = cli("events", "--log", "evals.db", cwd=workspace)
    assert events.code == 0, events
    return hashlib.sha256(events.stdout).hexdigest(), sorted(p.name for p in workspace.iterdir())


def test_every_command_that_opens_a_log_is_walked():
    takes_log = {path for path, command in commands() if "--log" in options(command)} | {("copy",)}
    assert takes_log == set(ARGS), "add the new command to ARGS"
    for path in takes_log:
        command = group
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert "--expect-log-id" in options(command), f"auditlog {' '.join(path)} has no --expect-log-id"


@pytest.mark.parametrize("path", [p for p in ARGS if p != ("db", "setup-roles")], ids=" ".join)
@pytest.mark.parametrize("how", ["option", "environment"])
def test_another_log_is_refused_and_nothing_is_written(workspace, path, how):
    before = state(workspace)
    real = log_id(workspace)
    if how == "option":
        done = cli(*path, *(invoke_args(path, "evals.db", workspace)), "--expect-log-id", WRONG, cwd=workspace)
    else:
        done = invoke(path, "evals.db", workspace, AUDITLOG_EXPECT_LOG_ID=WRONG)
    assert done.code == 4, done
    [line] = done.err.strip().splitlines()
    assert real in line and WRONG in line and "Traceback" not in done.err
    assert state(workspace) == before


def invoke_args(path: tuple[str, ...], log: str, workspace: Path) -> list[str]:
    return [log, str(workspace / "copy-of.db")] if path == ("copy",) else [*ARGS[path], "--log", log]


@pytest.mark.parametrize("path", [p for p in ARGS if p != ("db", "setup-roles")], ids=" ".join)
def test_no_log_is_refused_and_none_is_created(workspace, path):
    before = state(workspace)
    done = invoke(path, "restored/evals.db", workspace, AUDITLOG_EXPECT_LOG_ID=WRONG)
    assert done.code == 4, done
    [line] = done.err.strip().splitlines()
    assert "restored/evals.db holds no log" in line and WRONG in line and "refusing to start a new one" in line
    assert not (workspace / "restored").exists() and state(workspace) == before


@pytest.mark.parametrize("path", [("verify",), ("append", "run"), ("ingest", "junit"), ("history",), ("copy",)],
                         ids=" ".join)
def test_the_expected_log_is_used_as_usual(workspace, path):
    done = invoke(path, "evals.db", workspace, AUDITLOG_EXPECT_LOG_ID=log_id(workspace))
    assert done.code == 0, done
    (workspace / "copy-of.db").unlink(missing_ok=True)


def test_setup_roles_checks_the_log_id(pg_url):
    assert cli("init", "--log", pg_url).code == 0
    done = cli("db", "setup-roles", "--log", pg_url, "--expect-log-id", WRONG)
    assert done.code == 4 and WRONG in done.err, done
    missing = pg_url.replace("auditlog_test_", "auditlog_missing_")
    done = cli("db", "setup-roles", "--log", missing, "--expect-log-id", WRONG)
    assert done.code == 4 and "holds no log" in done.err, done


def test_the_tui_refuses_another_log(workspace):
    """The TUI's own open path (a library caller's too) honours the environment variable."""
    import asyncio

    from auditlog.tui.app import AuditLogApp
    from auditlog.tui.screens.problem import ProblemScreen

    async def session() -> tuple[type, int]:
        app = AuditLogApp(workspace / "evals.db", expect_log_id=WRONG)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            return type(app.screen), app.exit_code

    screen, code = asyncio.run(session())
    assert screen is ProblemScreen and code == 4


def test_the_library_honours_the_variable(workspace, monkeypatch):
    from auditlog import AuditLog
    from auditlog.errors import UnexpectedLog
    monkeypatch.setenv("AUDITLOG_EXPECT_LOG_ID", WRONG)
    with pytest.raises(UnexpectedLog):
        AuditLog.open(workspace / "evals.db")
    with pytest.raises(UnexpectedLog):
        AuditLog.open(workspace / "elsewhere.db")
    assert not (workspace / "elsewhere.db").exists()
