"""Snapshots of the main screens: 120x36, the fixed demo log, Textual's dark theme.

The demo log is a stored file (tests/tui/fixtures/demo.sqlite), so times, hashes and roots
are the same on every run. Update after a deliberate change of the screens with
`python -m pytest tests/tui/test_tui_snapshots.py --snapshot-update`, and review the SVGs.
"""

from __future__ import annotations

from .tui_support import SIZE, app_for, flip_score, settle, tamper


def keys(*pressed: str):
    """A run_before that lets the log load, then presses keys, letting workers finish after each."""
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)
    return run_before


def search(text: str, *then: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#search").value = text
        await settle(pilot, 0.3)
        for key in then:
            await pilot.press(key)
            await settle(pilot)
    return run_before


def test_runs_screen(snap_compare, demo_log):
    marked = keys("down", "space", "down", "down", "space")
    assert snap_compare(app_for(demo_log), terminal_size=SIZE, run_before=marked)


def test_run_detail_screen(snap_compare, demo_log):
    assert snap_compare(app_for(demo_log), terminal_size=SIZE, run_before=search("claude-x::mmlu-pro::v1.2", "enter"))


def test_compare_screen(snap_compare, demo_log):
    assert snap_compare(app_for(demo_log), terminal_size=SIZE,
                        run_before=search("claude-x::safety", "space", "space", "c"))


def test_trend_screen(snap_compare, demo_log):
    assert snap_compare(app_for(demo_log), terminal_size=SIZE, run_before=search("claude-x::mmlu-pro::v1.0", "t"))


def test_verify_screen_intact(snap_compare, demo_log):
    assert snap_compare(app_for(demo_log, verify=True), terminal_size=SIZE, run_before=keys())


def test_verify_screen_tampered(snap_compare, demo_log):
    tamper(demo_log, 7, flip_score)
    assert snap_compare(app_for(demo_log, verify=True), terminal_size=SIZE, run_before=keys())


def test_events_screen(snap_compare, demo_log):
    assert snap_compare(app_for(demo_log), terminal_size=SIZE, run_before=keys("e", "down"))


def test_help_screen(snap_compare, demo_log):
    assert snap_compare(app_for(demo_log), terminal_size=SIZE, run_before=keys("question_mark"))


def test_missing_log_screen(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(app_for("nowhere.db"), terminal_size=SIZE, run_before=keys())
