"""Trend: a metric across versions for a project (and a model): a line chart of the average,
lowest and highest value per version (textual-plotext), and a table of samples, avg, min,
max and the last run. A scoped metric (`scope/name`) uses valid headline values only, as `auditlog
trend` does, and says what it left out; `i` includes every status (marked in the table)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Select, Static
from textual_plotext import PlotextPlot

from auditlog.errors import InvalidInput
from auditlog.evals.scopes import split
from auditlog.render import plural
from auditlog.tui.data import runs as runs_data
from auditlog.tui.data import trends
from auditlog.tui.data.session import describe
from auditlog.tui.widgets.cells import line, literal, num, option
from auditlog.tui.widgets.lazy_table import Column, LazyTable
from auditlog.tui.widgets.sources import ListSource

TREND_COLUMNS = (Column("key", "version"), Column("samples", "samples", 7, "right"), Column("avg", "avg", 9, "right"),
                 Column("min", "min", 9, "right"), Column("max", "max", 9, "right"), Column("last", "last", 9, "right"),
                 Column("last_run", "last run", 40))
SCOPES_COLUMN = Column("scopes", "scopes", 0)  # only when a point has values not valid headline (used or left out)
ALL_MODELS = "*"


class TrendScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back"), Binding("m", "next_metric", "Next metric"),
                Binding("i", "include_all", "Include every scope status")]

    def __init__(self, project: str, model: str | None = None, metric: str = "pass_rate") -> None:
        super().__init__()
        self.project, self.model, self.metric, self.by = project, model, metric, "model_version"
        self.include_all = False  # scoped values of every status, not only valid headline ones

    def compose(self) -> ComposeResult:
        yield Header()
        projects, models, metrics = self._choices()
        with Horizontal(id="trend-controls"):
            yield Select(projects, prompt="project", allow_blank=False, value=self.project, id="trend-project")
            yield Select(models, prompt="model", allow_blank=False, value=self.model or ALL_MODELS, id="trend-model")
            yield Select(metrics, prompt="metric", allow_blank=False, value=self.metric, id="trend-metric")
            yield Select([(Text(b), b) for b in trends.BY], prompt="by", allow_blank=False, value=self.by,
                         id="trend-by")
        yield Static(id="trend-title")
        yield Static(id="trend-scopes")
        yield PlotextPlot(id="trend-chart")
        yield LazyTable(empty="no runs with this metric", id="trend-table")
        yield Footer()

    def on_mount(self) -> None:
        self.show()
        self.query_one("#trend-table", LazyTable).focus()

    def _choices(self) -> tuple[list[tuple[Text, str]], ...]:
        """The options of the project, model and metric selects; fixes the current choices to fit them."""
        view: Any = self.app.view  # type: ignore[attr-defined]
        projects = runs_data.choices(view, "project_id") or [self.project]
        if self.project not in projects:
            self.project = projects[0]
        models = runs_data.choices(view, "model_id", project_id=self.project)
        if self.model is not None and self.model not in models:
            self.model = None
        metrics = trends.metrics(view, self.project, self.model)
        if self.metric not in metrics:
            self.metric = metrics[0]
        return ([(option(p), p) for p in projects], [(Text("all models"), ALL_MODELS), *((option(m), m) for m in models)],
                [(option(m), m) for m in metrics])

    def _fill_choices(self) -> None:
        projects, models, metrics = self._choices()
        with self.prevent(Select.Changed):
            self._set("#trend-project", projects, self.project)
            self._set("#trend-model", models, self.model or ALL_MODELS)
            self._set("#trend-metric", metrics, self.metric)

    def _set(self, selector: str, options: list[tuple[Text, str]], value: str) -> None:
        select = self.query_one(selector, Select)
        select.set_options(options)
        select.value = value

    def show(self) -> None:
        view: Any = self.app.view  # type: ignore[attr-defined]
        scope = f"{self.project} · {self.model or 'all models'}"
        note = self.query_one("#trend-scopes", Static)
        include = "all" if self.include_all else None
        title = self.query_one("#trend-title", Static)
        points: list[Any] = []
        left: str | None = None
        try:
            found = trends.marked(view, self.project, self.metric, model=self.model, by=self.by, include_status=include)
        except InvalidInput as exc:  # no such metric here, or only in scopes left out: why, in full, on the note
            title.update(line((self.metric, "strong"), " by ", (self.by, "strong"), f" · {scope} · no values"))
            left = exc.reason
        except Exception as exc:  # the projections cannot answer: said on screen
            failure = describe(exc, f"The trend of {self.metric} cannot be drawn")
            title.update(literal(f"{failure.title}: {failure.detail}", "warn"))
        else:
            points, left = found.points, trends.left_out(found)
            if left:
                left = f"{left}, by their scope's status (valid headline values only): i includes them"
            title.update(line((self.metric, "strong"), " by ", (self.by, "strong"),
                              f" · {scope} · {plural(len(points), 'value')}, in the order they first appear in the log"))
        if left:
            note.update(literal(left, "warn"))
        elif self.include_all and split(self.metric):
            note.update(literal("every scope status included (i: valid headline values only); "
                                "the scopes column marks the values not valid headline", "warn"))
        note.display = bool(left) or bool(self.include_all and split(self.metric))
        spec = ".4f" if all(abs(p.avg) <= 10 for p in points) else ".1f"
        self._plot(trends.chart(points))
        marked = any(p.included or p.left_out for p in points)
        rows = [[str(p.key) if p.key is not None else "(none)", str(p.samples), num(p.avg, spec), num(p.min, spec),
                 num(p.max, spec), num(p.last, spec), p.last_run_id, *([trends.marks(p)] if marked else [])]
                for p in points]
        columns = (*TREND_COLUMNS, SCOPES_COLUMN) if marked else TREND_COLUMNS
        self.query_one("#trend-table", LazyTable).set_source(ListSource(columns, rows))

    def _plot(self, chart: trends.Chart) -> None:
        """Draw the chart: the average as a line, the lowest and highest values as dots."""
        widget = self.query_one("#trend-chart", PlotextPlot)
        plt = widget.plt
        plt.clear_figure()
        if chart.empty:
            plt.title("no values to chart")
        else:
            plt.plot(chart.positions, chart.lines["avg"], label="avg", marker="braille")
            plt.scatter(chart.positions, chart.lines["min"], label="min", marker="-")
            plt.scatter(chart.positions, chart.lines["max"], label="max", marker="+")
            plt.xticks([float(x) for x in chart.positions], chart.labels)
            plt.xlim(0.5, len(chart.positions) + 0.5)
        widget.refresh()

    @on(Select.Changed)
    def _changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        name = event.select.id
        if name == "trend-project":
            self.project = str(event.value)
        elif name == "trend-model":
            self.model = None if event.value == ALL_MODELS else str(event.value)
        elif name == "trend-metric":
            self.metric = str(event.value)
        elif name == "trend-by":
            self.by = str(event.value)
        self._fill_choices()
        self.show()

    def action_next_metric(self) -> None:
        metrics = trends.metrics(self.app.view, self.project, self.model)  # type: ignore[attr-defined]
        self.metric = metrics[(metrics.index(self.metric) + 1) % len(metrics)] if self.metric in metrics else metrics[0]
        self._fill_choices()
        self.show()

    def action_include_all(self) -> None:
        """Toggle between valid headline scoped values only (the default, as `auditlog trend`) and every status."""
        self.include_all = not self.include_all
        self.show()

    def action_back(self) -> None:
        self.app.pop_screen()
