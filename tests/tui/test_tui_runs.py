"""The Runs screen: newest first, filters, search, sort, marks, superseded runs, markup as data."""

from __future__ import annotations

from textual.widgets import Input, Select

from auditlog.tui.screens.runs import RunsScreen
from auditlog.tui.widgets.lazy_table import LazyTable

from .tui_support import MARKUP_ID, SIZE, app_for, pilot_test, screen_text, settle


def shown_ids(app) -> list[str]:
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    selection = screen.selection
    return [selection.run_id(i) for i in range(len(selection))]


@pilot_test
async def test_runs_open_newest_first_with_their_figures(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ids = shown_ids(app)
        assert ids[0] == "claude-x::mmlu-pro::v1.3-rc1" and ids[-1] == "claude-x::mmlu-pro::v1.0"
        assert "gpt-y::safety-refusals::v2025-06" not in ids  # superseded: hidden by default
        text = screen_text(app)
        assert "16 of 17 runs" in text and "sorted by recorded ↓" in text
        assert "claude-x::mmlu-pro::v1.2" in text and "ALLOW" in text and "NEEDS_REVIEW" in text
        assert app.focused is app.screen.query_one(LazyTable)


@pilot_test
async def test_filters_by_project_model_and_verdict(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#project", Select).value = "humaneval-lite"
        await settle(pilot)
        assert {i.split("::")[1] for i in shown_ids(app)} == {"humaneval-lite"}
        app.screen.query_one("#model", Select).value = "gpt-y"
        await settle(pilot)
        assert shown_ids(app) == ["gpt-y::humaneval-lite::v2025-06", "gpt-y::humaneval-lite::v2025-01"]
        await pilot.press("escape")  # clears every filter
        await settle(pilot)
        assert len(shown_ids(app)) == 16
        app.screen.query_one("#verdict", Select).value = "ALLOW"
        await settle(pilot)
        assert shown_ids(app) == ["claude-x::mmlu-pro::v1.2"]  # its verdict was overridden to ALLOW
        assert "1 of 17 runs" in screen_text(app)


@pilot_test
async def test_the_verdict_select_is_driven_by_keys(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#verdict", Select).focus()
        await pilot.press("enter")  # opens the list
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # (blank) -> ALLOW -> BLOCK
        await settle(pilot)
        assert app.screen.query_one("#verdict", Select).value == "BLOCK"
        assert "no run matches these filters" in screen_text(app)


@pilot_test
async def test_search_matches_ids_and_tags_typed_into_the_bar(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"V2025-01")  # case-insensitive; typing "s" or "c" here sorts or compares nothing
        await settle(pilot, 0.3)
        assert shown_ids(app) == ["gpt-y::safety-refusals::v2025-01", "gpt-y::humaneval-lite::v2025-01",
                                  "gpt-y::mmlu-pro::v2025-01"]
        app.screen.query_one("#search", Input).value = "reviewed=yes"  # a tag added by an annotation
        await settle(pilot, 0.3)
        assert shown_ids(app) == ["claude-x::mmlu-pro::v1.2"]
        await pilot.press("enter")  # leaves the search bar for the table
        assert isinstance(app.focused, LazyTable)


@pilot_test
async def test_sort_by_any_column_and_reverse(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("s")  # recorded -> time
        await settle(pilot)
        assert screen.order.key == "time" and shown_ids(app)[0] == "claude-x::mmlu-pro::v1.3-rc1"
        for _ in range(4):  # time -> project -> model -> version -> pass rate
            await pilot.press("s")
        await settle(pilot)
        rates = [r["pass_rate"] for r in screen.selection.rows(0, len(screen.selection))]
        assert screen.order.key == "pass_rate" and rates == sorted(rates, reverse=True)
        await pilot.press("S")
        await settle(pilot)
        rates = [r["pass_rate"] for r in screen.selection.rows(0, len(screen.selection))]
        assert rates == sorted(rates)
        assert "pass ▲" in screen_text(app)
        await pilot.click("#runs", offset=(72, 0))  # the header of the "verdict" column
        await settle(pilot)
        assert screen.order.key == "verdict"


@pilot_test
async def test_superseded_runs_on_request_and_marks_in_the_status(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert "gpt-y::safety-refusals::v2025-06" in shown_ids(app)
        assert "superseded" in screen_text(app)
        await pilot.press("space", "space")
        await settle(pilot)
        assert "2 marked" in screen_text(app)
        assert list(app.screen.query_one(LazyTable).marks) == shown_ids(app)[:2]


@pilot_test
async def test_markup_in_ids_and_tags_is_shown_literally(markup_log):
    app = app_for(markup_log)
    async with app.run_test(size=(130, 36)) as pilot:  # wide enough for the whole id in the list
        await settle(pilot)
        text = screen_text(app)
        assert MARKUP_ID in text
        assert "[blue]proj" in text
        app.screen.query_one("#search", Input).value = "[@click=app.bell]"  # tag values are searched literally
        await settle(pilot, 0.3)
        assert shown_ids(app) == [MARKUP_ID]
        await pilot.click("#runs", offset=(90, 1))
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        assert MARKUP_ID in text and "[i]key=[@click=app.bell]v" in text
        assert app.is_running


@pilot_test
async def test_a_verdict_computed_elsewhere_is_marked_in_the_list(tmp_path):
    from auditlog import AuditLog

    from .tui_support import small_run
    path = tmp_path / "elsewhere.db"
    with AuditLog.open(path) as log:
        log.record_run(small_run("imported-run"))
        log.record_run(small_run("gated-run"))
        log.record_verdict({"run_id": "imported-run", "baseline_run_id": None, "metric": "accuracy",
                            "delta": -0.25, "p_value": 0.2, "verdict": "BLOCK", "computed_by": "evalsig"})
        log.record_verdict({"run_id": "gated-run", "baseline_run_id": "imported-run", "metric": "accuracy",
                            "delta": 0.0, "p_value": 1.0, "verdict": "ALLOW"})
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rows = {line.split()[-1]: line for line in screen_text(app).splitlines() if line.split()[-1:] in (
            ["imported-run"], ["gated-run"])}
        assert "BLOCK (evalsig)" in rows["imported-run"]
        assert "ALLOW" in rows["gated-run"] and "(" not in rows["gated-run"]
