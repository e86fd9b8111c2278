"""A whole screen for what prevents the TUI from showing a log (there is none, it cannot be read)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from auditlog.tui.data.session import Failure
from auditlog.tui.widgets.cells import line, literal


class ProblemScreen(Screen):
    BINDINGS = [Binding("escape", "app.quit", "Quit")]

    def __init__(self, failure: Failure) -> None:
        super().__init__()
        self.failure = failure

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="problem", classes="panel problem"):
            yield Static(line(("✘ ", "bad"), (self.failure.title, "bad")), id="problem-title")
            yield Static(literal(self.failure.detail, limit=2000), id="problem-detail")
            yield Static(literal(self.failure.advice, "dim", limit=2000), id="problem-advice")
        yield Footer()
