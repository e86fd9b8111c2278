"""A run's fields in full: the run panel keeps one line per field so that none is cut off (tags and
notes always show), and this screen shows every field's whole text, wrapped, for a reviewer who must
read all of a long one (a `NOT CHECKED` configuration, a long note, an environment)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


class FieldsScreen(ModalScreen):
    """Shows `text` (the run panel's fields, unabridged) under `title`; escape closes it."""

    BINDINGS = [Binding("escape,i,q", "dismiss", "Close the fields")]

    def __init__(self, title: str, text: Content) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="fields", classes="panel"):
            yield Static(self.text, id="fields-text")

    def on_mount(self) -> None:
        panel = self.query_one("#fields")
        panel.border_title = self.title_text
        panel.border_subtitle = "escape closes"
        panel.focus()
