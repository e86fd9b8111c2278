"""Compare two marked runs (deltas and item flips); a metric's trend across versions."""

from __future__ import annotations

from textual.widgets import Input, Select
from textual_plotext import PlotextPlot

import projections
from auditlog.tui.screens.compare import CompareScreen
from auditlog.tui.screens.runs import RunsScreen
from auditlog.tui.screens.trend import TrendScreen
from auditlog.tui.widgets.lazy_table import LazyTable

from .tui_support import SIZE, app_for, pilot_test, screen_text, settle


async def only(pilot, text: str) -> None:
    pilot.app.screen.query_one("#search", Input).value = text
    await settle(pilot, 0.3)


@pilot_test
async def test_mark_two_runs_and_compare_them(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await only(pilot, "claude-x::mmlu-pro::v1.")
        await pilot.press("end", "space", "up", "up", "space")  # v1.0 first (A), then v1.2 (B)
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert (screen.run_a, screen.run_b) == ("claude-x::mmlu-pro::v1.0", "claude-x::mmlu-pro::v1.2")
        report = projections.compare_runs(app.view, screen.run_a, screen.run_b)
        text = screen_text(app)
        assert "A claude-x::mmlu-pro::v1.0   →   B claude-x::mmlu-pro::v1.2" in text
        assert f"{report.figure('pass_rate').delta:+.4f}" in text
        assert f"{len(report.pass_to_fail)} pass → fail" in text and f"{len(report.fail_to_pass)} fail → pass" in text
        changes = screen.query_one("#changes", LazyTable)
        assert [changes.source.key(i) for i in range(len(changes.source))] == [c.item_id for c in report.changes]
        assert "pass->fail" in text and "fail->pass" in text
        await pilot.press("x")
        await settle(pilot)
        assert (screen.run_a, screen.run_b) == ("claude-x::mmlu-pro::v1.2", "claude-x::mmlu-pro::v1.0")
        assert f"{-report.figure('pass_rate').delta:+.4f}" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


@pilot_test
async def test_one_mark_compares_with_the_cursor_and_none_explains(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert "Mark two runs with space" in screen_text(app)
        await pilot.press("space", "down", "c")  # marks row 0; the cursor moved on, to row 2
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert screen.run_a == "claude-x::mmlu-pro::v1.3-rc1"


@pilot_test
async def test_trend_of_a_project_and_model_across_versions(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await only(pilot, "claude-x::humaneval-lite")
        await pilot.press("t")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TrendScreen)
        assert (screen.project, screen.model, screen.metric) == ("humaneval-lite", "claude-x", "pass_rate")
        table = screen.query_one("#trend-table", LazyTable)
        rows = [table.row(i) for i in range(len(table.source))]
        assert [r[0] for r in rows] == ["1.0", "1.1", "1.2"]
        points = projections.trend(app.view, "humaneval-lite", "pass_rate")[:3]  # claude-x's versions come first
        assert [r[2] for r in rows] == [f"{p.avg:.4f}" for p in points]
        chart = screen.query_one("#trend-chart", PlotextPlot)
        drawn = chart.render().plain  # what plotext drew: the versions on the x axis, the legend
        for label in ("1.0", "1.1", "1.2", "avg", "min", "max"):
            assert label in drawn, label
        assert any(ch in drawn for ch in "⠁⠂⠄⡀⠈⠐⠠⢀"), "the average is drawn as a line (braille)"
        assert "pass_rate by model_version · humaneval-lite · claude-x · 3 values" in screen_text(app)
        await pilot.press("m", "m")  # pass_rate -> mean_score -> accuracy
        await settle(pilot)
        assert screen.metric == "accuracy"
        screen.query_one("#trend-model", Select).value = "*"  # every model of the project
        await settle(pilot)
        assert screen.model is None and len(table.source) == 5
        assert "humaneval-lite · all models · 5 values" in screen_text(app)
