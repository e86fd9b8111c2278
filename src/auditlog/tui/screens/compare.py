"""Compare: run B against run A (`projections.compare_runs`): every figure's delta (B − A),
and the items that flipped between pass and fail, or are in one run only."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

import projections
from auditlog.tui.data.session import describe
from auditlog.tui.widgets.cells import delta_role, line, literal, num, signed
from auditlog.tui.widgets.lazy_table import Cell, Column, LazyTable
from auditlog.tui.widgets.sources import ListSource

FIGURE_COLUMNS = (Column("figure", "figure"), Column("a", "A", 10, "right"), Column("b", "B", 10, "right"),
                  Column("delta", "Δ B − A", 10, "right"))
CHANGE_COLUMNS = (Column("change", "change", 11), Column("item", "item"), Column("passed", "passed A → B", 14),
                  Column("score_a", "score A", 8, "right"), Column("score_b", "score B", 8, "right"),
                  Column("delta", "Δ", 8, "right"))
CHANGE_ROLE = {"pass->fail": "bad", "fail->pass": "good"}


class CompareScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "swap", "Swap A/B"),
        Binding("tab", "app.focus_next", "Next table", show=False),
    ]

    def __init__(self, run_a: str, run_b: str) -> None:
        super().__init__()
        self.run_a, self.run_b = run_a, run_b

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-title")
        with Horizontal(id="compare-top"):
            yield LazyTable(id="figures")
            yield Static(id="compare-summary", classes="panel")
        yield Static(id="changes-title")
        yield LazyTable(empty="no item changed between the two runs", id="changes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compare-summary").border_title = "Items"
        self.show()

    def show(self) -> None:
        app: Any = self.app
        self.query_one("#compare-title", Static).update(line(
            ("A ", "dim"), (self.run_a, "strong"), ("   →   ", "dim"), ("B ", "dim"), (self.run_b, "strong")))
        try:
            report = projections.compare_runs(app.view, self.run_a, self.run_b)
        except Exception as exc:  # a missing run, unreadable projections: said on screen
            failure = describe(exc, f"{self.run_a} and {self.run_b} cannot be compared")
            self.query_one("#compare-summary", Static).update(literal(f"{failure.title}: {failure.detail}", "bad"))
            return
        figures: list[list[Cell]] = [[f.name, num(f.a), num(f.b), (signed(f.delta), delta_role(f.delta))] for f in report.figures]
        self.query_one("#figures", LazyTable).set_source(ListSource(FIGURE_COLUMNS, figures))
        a, b = report.run_a, report.run_b
        self.query_one("#compare-summary", Static).update(Content("\n").join([
            line(f"{report.common_items} items in both runs"),
            line((f"{len(report.pass_to_fail)} pass → fail", "bad" if report.pass_to_fail else "dim")),
            line((f"{len(report.fail_to_pass)} fail → pass", "good" if report.fail_to_pass else "dim")),
            line(f"{len(report.only_in_a)} only in A, {len(report.only_in_b)} only in B"),
            Content(""),
            line(("A ", "dim"), f"{a['model_id']} {a['model_version'] or ''} · {a['project_id']}"),
            line(("B ", "dim"), f"{b['model_id']} {b['model_version'] or ''} · {b['project_id']}")]))
        rows: list[list[Cell]] = []
        for c in report.changes:
            passed = f"{_flag(c.passed_a)} → {_flag(c.passed_b)}"
            delta = None if c.score_a is None or c.score_b is None else c.score_b - c.score_a
            rows.append([(c.change, CHANGE_ROLE.get(c.change, "dim")), c.item_id, passed, num(c.score_a),
                         num(c.score_b), (signed(delta), delta_role(delta))])
        keys = [c.item_id for c in report.changes]
        self.query_one("#changes", LazyTable).set_source(ListSource(CHANGE_COLUMNS, rows, keys))
        self.query_one("#changes-title", Static).update(line(
            ("Item changes ", "strong"), f"{len(rows)}: flips between pass and fail, and items in one run only"))
        self.query_one("#changes", LazyTable).focus()

    def action_swap(self) -> None:
        self.run_a, self.run_b = self.run_b, self.run_a
        self.show()

    def action_back(self) -> None:
        self.app.pop_screen()


def _flag(passed: bool | None) -> str:
    return "—" if passed is None else ("pass" if passed else "fail")
