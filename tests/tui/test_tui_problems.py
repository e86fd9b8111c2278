"""What cannot be shown is said on screen, never as a traceback: a missing log, an unreadable
file, an empty log, projections built from another log, projections that cannot catch up."""

from __future__ import annotations

from pathlib import Path

import projections
from auditlog.errors import StorageError
from auditlog.services.log import AuditLog
from auditlog.tui.data import session
from auditlog.tui.screens.problem import ProblemScreen
from auditlog.tui.screens.runs import RunsScreen
from auditlog.tui.screens.verify import VerifyScreen

from .tui_support import SIZE, app_for, pilot_test, screen_text, settle, small_run


@pilot_test
async def test_a_missing_log_gets_a_screen_and_exit_code_3(tmp_path):
    app = app_for(tmp_path / "nowhere.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ProblemScreen)
        text = screen_text(app)
        assert "No log here" in text and "nowhere.db" in text and "auditlog demo --log demo.db" in text
        await pilot.press("v", "e")  # nothing to verify or list: the keys do nothing
        assert isinstance(app.screen, ProblemScreen)
        await pilot.press("q")
    assert app.return_code == 3
    assert not (tmp_path / "nowhere.db").exists()  # the TUI never creates a log


@pilot_test
async def test_a_file_that_is_not_a_log(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database " * 20)
    app = app_for(junk)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ProblemScreen)
        assert "Cannot read" in screen_text(app) and "file is not a database" in screen_text(app)
        await pilot.press("escape")
    assert app.return_code == 4


@pilot_test
async def test_an_empty_log(tmp_path):
    path = tmp_path / "empty.db"
    AuditLog.open(path).close()  # the genesis event only
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "0 of 0 runs" in text and "no runs in this log yet" in text
        await pilot.press("enter", "c", "t")  # nothing to open, compare or trend: no crash
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("v")
        await settle(pilot)
        assert "✔ INTERNALLY CONSISTENT" in screen_text(app) and "1 events" in screen_text(app)
        await pilot.press("escape", "e")
        await settle(pilot)
        assert "log.created" in screen_text(app)


@pilot_test
async def test_projections_of_another_log_are_refused_with_advice(demo_log, tmp_path):
    other = tmp_path / "other.db"
    with AuditLog.open(other) as log:
        log.record_run(small_run("elsewhere"))
        projections.open(log, tmp_path / "shared.projections")
    app = app_for(demo_log, projections_dir=str(tmp_path / "shared.projections"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Integrity problem: the runs cannot be shown" in text
        assert "built from another log" in text and "auditlog projections rebuild" in text
        await pilot.press("v")  # the log itself is fine
        await settle(pilot)
        assert isinstance(app.screen, VerifyScreen) and "✔ INTERNALLY CONSISTENT" in screen_text(app)


@pilot_test
async def test_projections_behind_the_log_catch_up_in_a_worker(demo_log):
    with AuditLog.open(demo_log, create=False) as log:
        projections.open(log, f"{demo_log}.projections")
        log.record_run(small_run("appended-later", project="mmlu-pro"))
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.loaded.caught_up == 1
        assert screen.selection.run_id(0) == "appended-later" and "17 of 18 runs" in screen_text(app)


@pilot_test
async def test_projections_that_cannot_catch_up_are_shown_stale(demo_log, monkeypatch):
    with AuditLog.open(demo_log, create=False) as log:
        projections.open(log, f"{demo_log}.projections")
        log.record_run(small_run("appended-later"))

    def read_only(log, directory):
        raise StorageError(f"{directory}: read-only file system")

    monkeypatch.setattr(session.projections, "open", read_only)
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "16 of 17 runs" in text and "STALE" in text and "1 event behind the log" in text


@pilot_test
async def test_an_unexpected_error_while_loading_is_shown_not_raised(demo_log, monkeypatch):
    def broken(log, directory):
        raise ValueError("something nobody expected")

    monkeypatch.setattr(session.projections, "open", broken)
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Unexpected ValueError" in screen_text(app) and "something nobody expected" in screen_text(app)
        assert app.is_running


def test_display_names_hide_paths_and_passwords():
    assert session.display_name(Path("/tmp/x/evals.db")) == "evals.db"
    assert session.display_name("postgresql://ci:secret@db.example.org/evals") == "postgresql://db.example.org/evals"


@pilot_test
async def test_projections_of_a_newer_auditlog_say_the_runs_cannot_be_listed(demo_log):
    import json

    directory = Path(f"{demo_log}.projections")
    with AuditLog.open(demo_log, create=False) as log:
        projections.open(log, directory)
        log.record_run(small_run("after-downgrade"))  # so that opening them must catch up
    state = json.loads((directory / "state.json").read_text())
    (directory / "state.json").write_text(json.dumps(dict(state, schema_version=99)))
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "✘ The runs cannot be listed" in text and "was built by a newer" in text and "(schema version 99)" in text
        assert "The projections cannot be used" not in text and "auditlog projections rebuild" in text


def test_invalid_input_is_titled_by_what_failed():
    from auditlog.errors import InvalidInput

    error = InvalidInput("metric", "no run of 'p' here has 'x'")
    titles = {session.describe(error, failed).title for failed in ("Run r cannot be shown", "The log cannot be verified")}
    assert titles == {"Run r cannot be shown", "The log cannot be verified"}
    assert session.describe(error, "x").detail == "metric: no run of 'p' here has 'x'"
    assert session.describe(StorageError("disk"), "x").title == "Cannot read", "other errors keep their own titles"


def test_without_a_terminal_the_command_says_so_instead_of_waiting(tmp_path):
    """`auditlog tui` in a CI step (stdin not a terminal) drew to stderr and waited for keys until the job
    timed out, then ended in a traceback (new-user review 3): one line, exit 2, at once."""
    from tests.support.cli import one_line_error, run_process

    db = tmp_path / "evals.db"
    AuditLog.open(db).close()
    done = run_process("tui", "--log", db, input=b"", timeout=30)  # stdin: an empty pipe
    one_line_error(done, 2, "tui: needs a terminal", "stdin is not one")
    assert done.stdout == b""
