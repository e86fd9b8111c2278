"""Help: every key of every screen, from the sections the app hands it (so it cannot drift).

The app builds the sections from the screens' own BINDINGS (`auditlog.tui.app.sections`);
this screen only lays them out, and imports no screen and not the app.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from auditlog.tui.widgets.cells import line

ABOUT = ("Strings from the log are shown exactly as recorded (never as markup). Themes: d switches between "
         "Textual's dark and light themes; ctrl+p opens the command palette (every theme).")


class HelpScreen(ModalScreen):
    """Shows `sections`: (title, bindings) pairs, in the order a reader meets them."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    def __init__(self, sections: Sequence[tuple[str, list]]) -> None:
        super().__init__()
        self.sections = list(sections)

    def compose(self) -> ComposeResult:
        lines: list[Content] = []
        for title, bindings in self.sections:
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
