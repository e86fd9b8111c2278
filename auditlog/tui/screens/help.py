"""Help: every key of every screen, read from the screens' own BINDINGS (so it cannot drift)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from auditlog.tui.widgets.cells import line

ABOUT = ("Strings from the log are shown exactly as recorded (never as markup). Themes: d switches between "
         "Textual's dark and light themes; ctrl+p opens the command palette (every theme).")


def sections() -> list[tuple[str, list]]:
    """(title, bindings) for the app and every screen, in the order a reader meets them."""
    from auditlog.tui.app import AuditLogApp
    from auditlog.tui.screens.compare import CompareScreen
    from auditlog.tui.screens.events import EventsScreen
    from auditlog.tui.screens.run import RunScreen
    from auditlog.tui.screens.runs import RunsScreen
    from auditlog.tui.screens.trend import TrendScreen
    from auditlog.tui.screens.verify import VerifyScreen
    from auditlog.tui.widgets.lazy_table import LazyTable

    return [("Everywhere", AuditLogApp.BINDINGS), ("Tables", LazyTable.BINDINGS), ("Runs", RunsScreen.BINDINGS),
            ("Run detail", RunScreen.BINDINGS), ("Compare", CompareScreen.BINDINGS),
            ("Trend", TrendScreen.BINDINGS), ("Verify", VerifyScreen.BINDINGS), ("Events", EventsScreen.BINDINGS),
            ("Help", HelpScreen.BINDINGS)]


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        lines: list[Content] = []
        for title, bindings in sections():
            lines.append(line((title, "strong")))
            grouped: dict[tuple[str, str], list[str]] = {}
            for binding in Binding.make_bindings(bindings):
                grouped.setdefault((binding.action, binding.description), []).append(self.app.get_key_display(binding))
            for (_action, description), keys in grouped.items():
                lines.append(line(("  " + " / ".join(keys)).ljust(22), (description, "dim")))
            lines.append(Content(""))
        lines.append(line((ABOUT, "dim")))
        with VerticalScroll(id="help", classes="panel"):
            yield Static(Content("\n").join(lines), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "Keys"
