"""The auditlog TUI: `auditlog tui --log evals.db [--verify] [--projections DIR]`.

The app opens the log (never creating one) and shows the Runs screen; every other
screen is pushed on top of it and popped with escape. A log that cannot be opened
gets a screen that says why. Long work (catching the projections up, verifying the
chain, loading a run) happens in thread workers, each on a log connection of its own.
"""

from __future__ import annotations

import os
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from auditlog.errors import AuditLogError, NotFound
from auditlog.services.log import AuditLog
from auditlog.tui.data.session import Failure, describe, display_name, open_log, projections_directory
from auditlog.tui.screens.events import EventsScreen
from auditlog.tui.screens.help import HelpScreen
from auditlog.tui.screens.problem import ProblemScreen
from auditlog.tui.screens.runs import RunsScreen
from auditlog.tui.screens.verify import VerifyScreen


class AuditLogApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "auditlog"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("v", "verify", "Verify"),
        Binding("e", "events", "Events"),
        Binding("d", "toggle_dark", "Dark/light"),
    ]

    def __init__(self, location: str | os.PathLike[str], *, projections_dir: str | None = None,
                 verify: bool = False, trust: Any = None, expect_log_id: str | None = None) -> None:
        super().__init__()
        self.expect_log_id = expect_log_id  # None: $AUDITLOG_EXPECT_LOG_ID, if set (AuditLog.open)
        self.trust = trust  # auditlog.tui.data.chain.Trust: checkpoints and keys brought from outside
        self.location = os.fspath(location)
        self.projections_dir = projections_dir
        self.start_with_verify = verify
        self.audit: AuditLog | None = None  # the main thread's connection (App.log is Textual's logger)
        self.directory: str | None = None  # the projections directory
        self.view: Any = None  # the projections View, once the Runs screen has loaded it
        self.exit_code = 0

    def get_default_screen(self) -> Screen:
        self.sub_title = display_name(self.location)
        try:
            self.audit = open_log(self.location, self.expect_log_id)
            self.directory = projections_directory(self.audit, self.location, self.projections_dir)
        except AuditLogError as exc:
            self.exit_code = exc.exit_code
            return ProblemScreen(self._open_failure(exc))
        return RunsScreen()

    def _open_failure(self, exc: AuditLogError) -> Failure:
        if isinstance(exc, NotFound):
            return Failure("No log here", f"There is no log at {self.location}.",
                           "Check --log (or $AUDITLOG_DB). `auditlog append` starts a log with its first run; "
                           "`auditlog demo --log demo.db` builds a demo log to look around.")
        return describe(exc, "The log cannot be opened")

    def on_mount(self) -> None:
        if self.audit is not None and self.start_with_verify:
            self.push_screen(VerifyScreen())

    def on_unmount(self) -> None:
        if self.audit is not None:
            self.audit.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("verify", "events"):  # nothing to read without a log; not from over the help
            return self.audit is not None and not isinstance(self.screen, HelpScreen)
        return True

    async def action_quit(self) -> None:
        self.exit(self.exit_code, return_code=self.exit_code)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(sections()))

    def action_verify(self) -> None:
        if self.audit is not None and not isinstance(self.screen, VerifyScreen):
            self.push_screen(VerifyScreen())

    def action_events(self) -> None:
        if self.audit is not None and not isinstance(self.screen, EventsScreen):
            self.push_screen(EventsScreen())


def sections() -> list[tuple[str, list]]:
    """(title, bindings) for the app and every screen, in the order a reader meets them: what help shows."""
    from auditlog.tui.screens.compare import CompareScreen
    from auditlog.tui.screens.fields import FieldsScreen
    from auditlog.tui.screens.run import RunScreen
    from auditlog.tui.screens.trend import TrendScreen
    from auditlog.tui.widgets.lazy_table import LazyTable

    return [("Everywhere", AuditLogApp.BINDINGS), ("Tables", LazyTable.BINDINGS), ("Runs", RunsScreen.BINDINGS),
            ("Run detail", RunScreen.BINDINGS), ("Run fields in full", FieldsScreen.BINDINGS),
            ("Compare", CompareScreen.BINDINGS),
            ("Trend", TrendScreen.BINDINGS), ("Verify", VerifyScreen.BINDINGS), ("Events", EventsScreen.BINDINGS),
            ("Help", HelpScreen.BINDINGS)]


def run(location: str | os.PathLike[str], *, projections_dir: str | None = None, verify: bool = False,
        trust: Any = None, expect_log_id: str | None = None) -> int:
    """Run the TUI in this terminal; returns the exit code (3 when there was no log to show)."""
    app = AuditLogApp(location, projections_dir=projections_dir, verify=verify, trust=trust,
                      expect_log_id=expect_log_id)
    app.run()
    return app.return_code or 0
