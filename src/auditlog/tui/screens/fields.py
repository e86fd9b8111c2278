"""A run's fields in full: the run panel keeps one line per field so that none is cut off (tags and
notes always show), and this screen shows every field's whole text, wrapped, for a reviewer who must
read all of a long one (a `NOT CHECKED` configuration, a long note, an environment)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from auditlog.tui.widgets.cells import label_width


class FieldsScreen(ModalScreen):
    """Shows `pairs` (the run panel's fields, unabridged) under `title`, each label in a column of its own
    and its value wrapped in the next, so a long value's lines stay under its first; escape closes it."""

    BINDINGS = [Binding("escape,i,q", "dismiss", "Close the fields")]

    def __init__(self, title: str, pairs: Sequence[tuple[str, Content]]) -> None:
        super().__init__()
        self.title_text = title
        self.pairs = list(pairs)

    def compose(self) -> ComposeResult:
        width = label_width(self.pairs)
        with VerticalScroll(id="fields", classes="panel"):
            for label, value in self.pairs:
                with Horizontal(classes="field"):
                    yield Static(Content(label), classes="field-label").set_styles(f"width: {width};")
                    yield Static(value, classes="field-value")

    def on_mount(self) -> None:
        panel = self.query_one("#fields")
        panel.border_title = self.title_text
        panel.border_subtitle = "escape closes"
        panel.focus()
