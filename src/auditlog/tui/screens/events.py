"""Events: the raw log in seq order, a page at a time. Each row shows its hash and its
prev, and whether prev names the hash of the row above (the chain) and the bytes hash to
the stored hash. The highlighted event's bytes are shown below, as indented JSON."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from auditlog.errors import AuditLogError
from auditlog.tui.data.chain import pretty_body
from auditlog.tui.widgets.cells import block, line, literal
from auditlog.tui.widgets.lazy_table import LazyTable
from auditlog.tui.widgets.sources import EventsSource

BODY_LIMIT = 20_000


class EventsScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last (head)"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="events-title")
        yield LazyTable(empty="the log has no events", id="events")
        with VerticalScroll(id="event-body", classes="panel"):
            yield Static(id="event-body-text")
        yield Footer()

    def on_mount(self) -> None:
        app: Any = self.app
        head = app.audit.head()
        self.query_one("#event-body").border_title = "Event bytes"
        self.query_one("#events-title", Static).update(line(
            ("The log ", "strong"), f"{head.size:,} events · head {head.hash[:16]}… · ",
            ("chain ✔", "good"), ": prev is the hash of the event above, and the bytes hash to the stored hash"))
        table = self.query_one(LazyTable)
        table.set_source(EventsSource(app.audit, head.size))
        table.focus()

    @on(LazyTable.Highlighted, "#events")
    def _highlighted(self, event: LazyTable.Highlighted) -> None:
        app: Any = self.app
        text = self.query_one("#event-body-text", Static)
        try:
            body = app.audit.event(event.index).body
        except AuditLogError as exc:
            text.update(literal(str(exc), "bad"))
            return
        self.query_one("#event-body").border_title = f"Event bytes · seq {event.index} · {len(body):,} bytes"
        shown = pretty_body(body)
        if len(shown) > BODY_LIMIT:
            shown = shown[:BODY_LIMIT] + f"\n… ({len(shown) - BODY_LIMIT:,} more characters)"
        text.update(block(shown, limit=BODY_LIMIT + 200))

    def action_first(self) -> None:
        self.query_one(LazyTable).action_jump(0)

    def action_last(self) -> None:
        self.query_one(LazyTable).action_jump(-1)

    def action_back(self) -> None:
        self.app.pop_screen()
