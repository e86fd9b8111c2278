"""Runs: every run, newest first, filtered and sorted in Arrow, shown a page at a time.

The projections are caught up in a thread worker when the screen mounts (and on r);
until then the table shows that it is loading, and a log whose projections cannot be
used says why instead. Mark two runs with space and press c to compare them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Select, Static

from auditlog.tui.data import runs as data
from auditlog.tui.data.session import behind, describe, load_view, open_log
from auditlog.tui.messages import ProjectionsFailed, ProjectionsLoading, ProjectionsReady
from auditlog.tui.widgets.cells import line, literal, option
from auditlog.tui.widgets.lazy_table import LazyTable
from auditlog.tui.widgets.sources import RunsSource

SORT_CYCLE = ("recorded", "time", "project", "model", "version", "pass_rate", "mean_score", "verdict", "run_id")
TEXT_SORTS = {"project", "model", "version", "verdict", "run_id"}
VERDICT_OPTIONS = [(Text("ALLOW"), "ALLOW"), (Text("BLOCK"), "BLOCK"), (Text("NEEDS_REVIEW"), "NEEDS_REVIEW"),
                   (Text("no verdict"), data.NO_VERDICT)]


class RunsScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open run"),
        Binding("c", "compare", "Compare marked"),
        Binding("t", "trend", "Trend"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("a", "superseded", "Superseded", show=False),
        Binding("slash", "search", "Search"),
        Binding("escape", "clear", "Clear filters", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = data.RunFilter()
        self.order = data.SortOrder()
        self.selection: data.Selection | None = None
        self.loaded: Any = None
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            yield Select([], prompt="project", id="project")
            yield Select([], prompt="model", id="model")
            yield Select(VERDICT_OPTIONS, prompt="verdict", id="verdict")
            yield Input(placeholder="search run ids and tags (/)", id="search")
        yield Static(id="runs-status")
        yield Static(id="runs-stale")
        with Vertical(id="runs-problem", classes="panel problem"):
            yield Static(id="runs-problem-title")
            yield Static(id="runs-problem-detail")
            yield Static(id="runs-problem-advice")
        yield LazyTable(markable=True, empty="loading the projections…", id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-problem").display = False
        self.query_one("#runs-stale").display = False
        self.query_one(LazyTable).focus()
        self.action_reload()

    # -- loading ------------------------------------------------------------------

    def action_reload(self) -> None:
        table = self.query_one(LazyTable)
        table.loading = True
        self._status(line(("loading the projections…", "dim")))
        self.load()

    @work(thread=True, exclusive=True, group="projections", exit_on_error=False)
    def load(self) -> None:
        app: Any = self.app
        try:
            with open_log(app.location, app.expect_log_id) as log:
                lag = behind(log, app.directory)
                if lag:
                    self.post_message(ProjectionsLoading(lag))
                loaded = load_view(log, app.directory)
        except Exception as exc:  # shown on screen, by type; never a traceback over the UI
            self.post_message(ProjectionsFailed(describe(exc, "The runs cannot be listed")))
            return
        self.post_message(ProjectionsReady(loaded))

    def on_projections_loading(self, message: ProjectionsLoading) -> None:
        events = f"{message.behind:,} new event{'' if message.behind == 1 else 's'}"
        self._status(line((f"catching the projections up: {events} to fold…", "dim")))

    def on_projections_failed(self, message: ProjectionsFailed) -> None:
        failure = message.failure
        table = self.query_one(LazyTable)
        table.loading = False
        table.display = False
        panel = self.query_one("#runs-problem")
        panel.display = True
        self.query_one("#runs-problem-title", Static).update(line(("✘ ", "bad"), (failure.title, "bad")))
        self.query_one("#runs-problem-detail", Static).update(literal(failure.detail, limit=2000))
        self.query_one("#runs-problem-advice", Static).update(literal(failure.advice, "dim", limit=2000))
        self._status(line(("the runs cannot be shown; v verifies the log, e shows its events", "warn")))

    def on_projections_ready(self, message: ProjectionsReady) -> None:
        app: Any = self.app
        self.loaded = message.loaded
        app.view = message.loaded.view.using(app.audit)  # the worker's connection is closed: confirm on the app's
        self.query_one("#runs-problem").display = False
        table = self.query_one(LazyTable)
        table.loading = False
        table.display = True
        if not isinstance(self.focused, Input):
            table.focus()
        view = app.view
        self._options("#project", data.choices(view, "project_id"))
        self._options("#model", data.choices(view, "model_id"))
        table.empty = ("no runs in this log yet: record one with `auditlog append` (or `auditlog ingest`)"
                       if view.runs.num_rows == 0 else "no run matches these filters (escape clears them)")
        self.refresh_runs()

    def _options(self, selector: str, values: list[str]) -> None:
        select = self.query_one(selector, Select)
        current = select.value
        with self.prevent(Select.Changed):  # the filter keeps its value; nothing to refresh
            select.set_options([(option(v), v) for v in values])
            if current in values:
                select.value = current

    # -- the selection ------------------------------------------------------------

    def refresh_runs(self) -> None:
        app: Any = self.app
        if app.view is None:
            return
        table = self.query_one(LazyTable)
        keep = table.cursor_key()
        self.selection = data.select(app.view, self.filter, self.order)
        index = self.selection.index_of(keep) if keep is not None else None
        table.sort_key = None if self.order.key == "recorded" else self.order.key
        table.sort_descending = self.order.descending
        table.set_source(RunsSource(self.selection), cursor=index or 0)
        self._show_status()

    def _show_status(self) -> None:
        if self.selection is None:
            return
        table = self.query_one(LazyTable)
        parts: list[str | tuple[str, str]] = [
            (f"{len(self.selection):,}", "strong"), f" of {self.selection.total:,} runs · sorted by ",
            (self.order.describe(), "strong")]
        if self.filter.include_superseded:
            parts.append(" · with superseded runs")
        if table.marks:
            parts += [" · ", (f"{len(table.marks)} marked", "strong"), " (c compares the last two)"]
        if self.loaded is not None:
            parts.append(f" · projections at seq {self.loaded.view.state.seq}")
        self._status(line(*parts))
        stale = self.query_one("#runs-stale", Static)
        stale.display = bool(self.loaded is not None and self.loaded.stale)
        if stale.display:
            stale.update(line(("STALE ", "warn"), self.loaded.stale))

    def _status(self, content: Any) -> None:
        self.query_one("#runs-status", Static).update(content)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        value: Any = None if event.value is Select.NULL else event.value  # the option's value: a str
        name = {"project": "project", "model": "model", "verdict": "verdict"}.get(event.select.id or "")
        if name and getattr(self.filter, name) != value:
            self.filter = replace(self.filter, **{name: value})
            self.refresh_runs()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.15, lambda: self._apply_search(event.value))

    def _apply_search(self, text: str) -> None:
        if text != self.filter.search:
            self.filter = replace(self.filter, search=text)
            self.refresh_runs()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._apply_search(event.value)
        self.query_one(LazyTable).focus()

    @on(LazyTable.MarksChanged)
    def _marks_changed(self) -> None:
        self._show_status()

    @on(LazyTable.HeaderClicked)
    def _header_clicked(self, event: LazyTable.HeaderClicked) -> None:
        if event.column == self.order.key:
            self.action_reverse()
        else:
            self._sort_by(event.column)

    @on(LazyTable.Selected)
    def _selected(self, event: LazyTable.Selected) -> None:
        self.action_open()

    # -- actions ------------------------------------------------------------------

    def _sort_by(self, key: str) -> None:
        self.order = data.SortOrder(key, descending=key not in TEXT_SORTS)
        self.refresh_runs()

    def action_sort(self) -> None:
        self._sort_by(SORT_CYCLE[(SORT_CYCLE.index(self.order.key) + 1) % len(SORT_CYCLE)])

    def action_reverse(self) -> None:
        self.order = data.SortOrder(self.order.key, not self.order.descending)
        self.refresh_runs()

    def action_superseded(self) -> None:
        self.filter = replace(self.filter, include_superseded=not self.filter.include_superseded)
        self.refresh_runs()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(LazyTable).focus()
            return
        for selector in ("#project", "#model", "#verdict"):
            self.query_one(selector, Select).clear()
        self.query_one("#search", Input).value = ""
        self.filter = data.RunFilter(include_superseded=self.filter.include_superseded)
        self.refresh_runs()

    def action_open(self) -> None:
        from auditlog.tui.screens.run import RunScreen

        run_id = self.query_one(LazyTable).cursor_key()
        if run_id is not None and self.selection is not None and len(self.selection):
            self.app.push_screen(RunScreen(run_id))

    def action_compare(self) -> None:
        from auditlog.tui.screens.compare import CompareScreen

        table = self.query_one(LazyTable)
        marks, here = list(table.marks), table.cursor_key()
        if len(marks) >= 2:
            a, b = marks[-2], marks[-1]
        elif len(marks) == 1 and here is not None and here != marks[0]:
            a, b = marks[0], here
        else:
            self.notify("Mark two runs with space (or one, and put the cursor on the other), then press c.",
                        title="Compare", severity="warning")
            return
        self.app.push_screen(CompareScreen(a, b))

    def action_trend(self) -> None:
        from auditlog.tui.screens.trend import TrendScreen

        app: Any = self.app
        if app.view is None or self.selection is None or not len(self.selection):
            self.notify("No runs to trend yet.", severity="warning")
            return
        row = self.selection.rows(self.query_one(LazyTable).cursor, self.query_one(LazyTable).cursor + 1)[0]
        self.app.push_screen(TrendScreen(row["project_id"], row["model_id"]))
