"""Metric scopes in the TUI's trend: scoped metrics offered by address, valid headline values only
unless `i` includes every status, and what was left out said on screen (issue 17)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select

import projections
from auditlog.services.log import AuditLog
from auditlog.tui.screens.trend import TrendScreen
from auditlog.tui.widgets.lazy_table import LazyTable

from .tui_support import SIZE, app_for, pilot_test, screen_text, settle, small_run


def scoped_log(path: Path) -> Path:
    """Three versions of agent-suite: eval valid in 1.0 and 1.1, invalid in 1.2; judge always invalid."""
    with AuditLog.open(path) as log:
        for version, status, value in (("1.0", "valid", 0.8), ("1.1", "valid", 0.9), ("1.2", "invalid", 0.3)):
            log.record_run(small_run(f"run-{version}", project="agent-suite", model_version=version,
                                     metrics={"n_tasks": 120}, metric_scopes={
                "eval": {"status": status, "metrics": {"accuracy": value},
                         **({"reason": "grader crashed"} if status == "invalid" else {})},
                "judge": {"status": "invalid", "reason": "judge timed out", "metrics": {"accuracy": 0.25}}}))
    return path


def rows(screen: TrendScreen) -> list[list[str]]:
    table = screen.query_one("#trend-table", LazyTable)
    return [[cell if isinstance(cell, str) else cell[0] for cell in table.row(i)] for i in range(len(table.source))]


async def open_trend(pilot) -> TrendScreen:
    await settle(pilot)
    pilot.app.screen.query_one("#search", Input).value = "run-1.0"
    await settle(pilot, 0.3)
    await pilot.press("t")
    await settle(pilot)
    assert isinstance(pilot.app.screen, TrendScreen)
    return pilot.app.screen


@pilot_test
async def test_a_scoped_metric_trends_on_valid_headline_values_and_says_what_it_left_out(tmp_path):
    app = app_for(scoped_log(tmp_path / "scopes.db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trend(pilot)
        options = [value for _, value in screen.query_one("#trend-metric", Select)._options]
        assert options == ["pass_rate", "mean_score", "eval/accuracy", "judge/accuracy", "n_tasks"]
        screen.query_one("#trend-metric", Select).value = "eval/accuracy"
        await settle(pilot)
        assert [r[:3] for r in rows(screen)] == [["1.0", "1", "0.8000"], ["1.1", "1", "0.9000"]]
        assert projections.trend(app.view, "agent-suite", "eval/accuracy")[1].avg == 0.9  # the CLI's figures
        text = screen_text(app)
        assert "eval/accuracy by model_version · agent-suite · model · 2 values" in text
        assert "left out 1 run invalid, by their scope's status (valid headline values only): i includes them" in text
        assert "scopes" not in rows(screen)[0] and "used" not in text  # no point is marked: its values all counted
        await pilot.press("i")
        await settle(pilot)
        assert [r[0] for r in rows(screen)] == ["1.0", "1.1", "1.2"]
        assert rows(screen)[2][2] == "0.3000" and rows(screen)[2][-1] == "used invalid 1"
        assert "every scope status included" in screen_text(app)
        await pilot.press("i")
        await settle(pilot)
        assert len(rows(screen)) == 2


@pilot_test
async def test_a_metric_only_in_scopes_left_out_is_explained_not_charted(tmp_path):
    app = app_for(scoped_log(tmp_path / "scopes.db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trend(pilot)
        screen.query_one("#trend-metric", Select).value = "judge/accuracy"
        await settle(pilot)
        assert rows(screen) == []
        assert "only in scopes that trends leave out (3 invalid)" in screen_text(app)
        await pilot.press("i")
        await settle(pilot)
        assert [r[-1] for r in rows(screen)] == ["used invalid 1"] * 3
