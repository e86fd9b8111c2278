"""The Events screen (the raw chain, paged), the Help screen (every key), and the themes."""

from __future__ import annotations

from textual.binding import Binding

from auditlog.services.log import AuditLog
from auditlog.tui.app import sections
from auditlog.tui.data.chain import event_rows
from auditlog.tui.screens.events import EventsScreen
from auditlog.tui.screens.help import HelpScreen
from auditlog.tui.widgets.lazy_table import PAGE, LazyTable

from .tui_support import SIZE, app_for, flip_score, pilot_test, screen_text, settle, small_run, tamper


@pilot_test
async def test_events_show_the_chain(demo_log):
    with AuditLog.open(demo_log, create=False) as log:
        first = list(log.events(until=3))
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, EventsScreen)
        text = screen_text(app)
        assert "24 events" in text and "log.created" in text and "verdict.overridden" in text
        lines = [line for line in text.splitlines() if line.strip().split(" ")[0] in {"0", "1", "2"}]
        assert first[1].hash[:12] in lines[1] and first[0].hash[:12] in lines[1]  # seq 1 names seq 0
        assert all("✔ linked" in line for line in lines)
        assert 'Event bytes · seq 0' in text and '"actor": {' in text  # the highlighted event's bytes, as JSON
        await pilot.press("end")
        await settle(pilot)
        assert "Event bytes · seq 23" in screen_text(app)
        assert "claude-x::mmlu-pro::v1.3" in screen_text(app)


@pilot_test
async def test_events_of_a_long_log_are_read_a_page_at_a_time(tmp_path):
    path = tmp_path / "long.db"
    with AuditLog.open(path, synchronous="OFF") as log, log.writer() as w:
        for i in range(3000):
            w.record_run(small_run(f"run-{i:04d}"))
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        table = app.screen.query_one(LazyTable)
        assert len(table.source) == 3001 and len(table._pages) == 1  # one page read, not 3001 rows
        await pilot.press("end")
        await settle(pilot)
        assert "run-2999" in screen_text(app) and len(table._pages) == 2
        await pilot.press("pageup", "pageup")
        await settle(pilot)
        assert len(table._pages) <= 3 and PAGE * 3 < 3001


def test_event_rows_flag_altered_bytes_and_broken_links(demo_log):
    tamper(demo_log, 4, flip_score)
    with AuditLog.open(demo_log, create=False) as log:
        rows = event_rows(log, 3, 6)
    assert [r.seq for r in rows] == [3, 4, 5]
    assert [r.intact for r in rows] == [True, False, True]
    assert [r.linked for r in rows] == [True, True, True]  # the links still name the stored hashes
    with AuditLog.open(demo_log, create=False) as log:
        assert event_rows(log, 0, 1)[0].linked is True  # genesis: prev is 64 zeros


@pilot_test
async def test_help_lists_every_key_of_every_screen(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=(120, 80)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for _title, bindings in sections():
            for binding in Binding.make_bindings(bindings):
                assert binding.description in text, binding
        assert "Compare marked" in text and "Back / cancel" in text and "never as markup" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


@pilot_test
async def test_dark_and_light_follow_textual_themes(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("d")
        assert app.theme == "textual-light"
        await pilot.press("d")
        assert app.theme == "textual-dark"


def test_docs_describe_every_key():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "tui.md").read_text()
    for title, bindings in sections():
        for binding in Binding.make_bindings(bindings):
            assert binding.description in doc, f"docs/tui.md does not describe {title}: {binding.description}"
