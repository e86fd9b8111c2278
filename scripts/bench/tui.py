"""Benchmark: time to first paint of the TUI's Runs screen on a large log, under Textual's pilot,
next to baselines measured in the same run.

Usage, from the repository root:

    python scripts/bench/tui.py            # 100,000 runs x 2 items (about a minute, mostly building the log)
    python scripts/bench/tui.py --quick    # 2,000 runs: a smoke test, figures meaningless
    python scripts/bench/tui.py --runs 20000

Measurements (each the median of --repeat sessions, 120x36, headless):

- TUI first frame: from creating `AuditLogApp` to the first composed frame (the Runs
  screen, still loading its rows), and TUI rows shown: to the frame that shows the newest
  runs (the projections opened in a worker, the selection made in Arrow, one page of rows
  rendered). Projections are built beforehand (as after any earlier command); the cold
  case, where the TUI's worker builds them, is printed too, once.
- scrolling: the mean time per pagedown over 50 presses, and a jump to the last row (both
  through the pilot, whose own round trip is most of it: compare with the baseline's), and
  the table's own cost of one screen of rows at a random offset with its page cache emptied.
- baseline (a) a bare Textual DataTable app given the same runs the naive way: every row
  read from the same projections (`projections.open` + `query_runs`, then `to_pylist`) and
  added with `DataTable.add_rows` before the first frame; same measurement, same scrolling.
- baseline (b) the floor: `projections.open` + `query_runs` alone, no UI at all.

The log is written under a temporary directory, removed at the end. Progress goes to stderr,
results to stdout. Nothing asserts on timings: they depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This directory holds a projections.py of its own (a benchmark): never import from here.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE.parents[1] / "src"))  # the installed package first

from textual.app import App, ComposeResult
from textual.widgets import DataTable

import projections
from auditlog import AuditLog
from auditlog.tui.app import AuditLogApp
from auditlog.tui.widgets.lazy_table import LazyTable

SIZE = (120, 36)
PROJECTS = ("mmlu-pro", "gsm8k", "humaneval", "safety", "arc")
MODELS = ("claude-x", "gpt-y", "llama-z")
COLUMNS = ("run_id", "project_id", "model_id", "model_version", "pass_rate", "mean_score", "verdict", "recorded_at")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_log(path: Path, runs: int) -> None:
    with AuditLog.open(path, synchronous="OFF") as log, log.writer() as w:
        for i in range(runs):
            project, model = PROJECTS[i % len(PROJECTS)], MODELS[(i // len(PROJECTS)) % len(MODELS)]
            score = (i * 37 % 100) / 100
            w.record_run({
                "run_id": f"{model}::{project}::{i:07d}", "project_id": project, "model_id": model,
                "model_version": f"1.{i % 7}", "started_at": f"2026-01-{1 + i % 28:02d}T09:00:00Z",
                "environment": {"python": "3.11"}, "tags": {"suite": "nightly", "shard": str(i % 13)},
                "items": [{"item_id": "a", "score": score, "passed": score >= 0.5},
                          {"item_id": "b", "score": 1 - score, "passed": score < 0.5}]})
            if i and i % 20000 == 0:
                say(f"  {i:,} runs written")


async def tui_session(path: Path, scroll: int) -> dict[str, float]:
    start = time.perf_counter()
    app = AuditLogApp(path)
    app.theme = "textual-dark"
    async with app.run_test(size=SIZE) as pilot:
        frame = time.perf_counter() - start
        while getattr(app.screen, "selection", None) is None:
            await pilot.pause(0.002)
        await pilot.pause()
        rows = time.perf_counter() - start
        newest = app.screen.selection.run_id(0)
        assert newest in _text(app), "the newest run is not on screen"
        return {"frame": frame, "rows": rows, "jump": _jumps(app.screen.query_one(LazyTable)),
                **await _scroll(pilot, scroll)}


def _jumps(table: LazyTable, count: int = 20) -> float:
    """Mean time to render one screen of rows at a random offset, the page cache emptied first:
    what a jump anywhere in the history costs the table itself (no pilot, no compositor)."""
    rng = random.Random(7)
    height = table.scrollable_content_region.height
    total = 0.0
    for _ in range(count):
        table._pages.clear()
        table.cursor = rng.randrange(len(table.source))
        start = time.perf_counter()
        for y in range(height):
            table.render_line(y)
        total += time.perf_counter() - start
    return total / count


class BareTable(App[None]):
    """The naive way: every row in a DataTable before the first frame."""

    def __init__(self, path: Path, directory: str) -> None:
        super().__init__()
        self.path, self.directory = path, directory

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        with AuditLog.open(self.path, create=False) as log:
            table = projections.query_runs(projections.open(log, self.directory))
        rows = [tuple(r.values()) for r in table.select(list(COLUMNS)).to_pylist()]
        data = self.query_one(DataTable)
        data.add_columns(*COLUMNS)
        data.add_rows(rows)
        data.focus()


async def bare_session(path: Path, directory: str, scroll: int) -> dict[str, float]:
    start = time.perf_counter()
    app = BareTable(path, directory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows = time.perf_counter() - start
        return {"frame": rows, "rows": rows, **await _scroll(pilot, scroll)}


async def _scroll(pilot, presses: int) -> dict[str, float]:
    start = time.perf_counter()
    for _ in range(presses):
        await pilot.press("pagedown")
    page = (time.perf_counter() - start) / max(presses, 1)
    start = time.perf_counter()
    await pilot.press("end")
    end = time.perf_counter() - start
    return {"page": page, "end": end}


def _text(app) -> str:
    import io

    from rich.console import Console

    console = Console(width=SIZE[0], height=SIZE[1], file=io.StringIO(), record=True, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def floor(path: Path, directory: str) -> float:
    start = time.perf_counter()
    with AuditLog.open(path, create=False) as log:
        table = projections.query_runs(projections.open(log, directory))
    assert table.num_rows
    return time.perf_counter() - start


def median(sessions: list[dict[str, float]], key: str) -> float:
    return statistics.median(s[key] for s in sessions)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 runs, 1 repeat: a smoke test")
    args = parser.parse_args()
    runs, repeat, scroll = (2000, 1, 10) if args.quick else (args.runs, args.repeat, 50)
    work = Path(tempfile.mkdtemp(prefix="auditlog-bench-tui-"))
    try:
        path = work / "big.db"
        directory = projections.default_directory(path)
        say(f"building a log of {runs:,} runs (2 items each)…")
        start = time.perf_counter()
        build_log(path, runs)
        built = time.perf_counter() - start
        say("the TUI, cold: its worker builds the projections…")
        cold = asyncio.run(tui_session(path, 0))
        say("the TUI, warm…")
        tui = [asyncio.run(tui_session(path, scroll)) for _ in range(repeat)]
        say("baseline (a): a bare DataTable with every row…")
        bare = [asyncio.run(bare_session(path, directory, scroll)) for _ in range(repeat)]
        say("baseline (b): projections.open + query_runs…")
        floors = [floor(path, directory) for _ in range(max(repeat, 3))]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tui_rows, bare_rows, floor_s = median(tui, "rows"), median(bare, "rows"), statistics.median(floors)
    print(f"== auditlog TUI: first paint of the Runs screen, {runs:,} runs, {SIZE[0]}x{SIZE[1]}, "
          f"median of {repeat} ==")
    print(f"log written in {built:.1f} s (not measured below)")
    figures = [
        ("TUI first frame (runs screen, loading)", ms(median(tui, "frame"))),
        ("TUI rows shown (projections warm)", ms(tui_rows)),
        ("TUI rows shown (cold: worker built them)", f"{ms(cold['rows'])} (once)"),
        (f"TUI pagedown, mean of {scroll}", ms(median(tui, "page"))),
        ("TUI end (jump to the oldest run)", ms(median(tui, "end"))),
        ("TUI one screen of rows anywhere, cold", f"{ms(median(tui, 'jump'))} (render_line only, mean of 20)"),
        ("baseline (a) bare DataTable, rows shown", ms(bare_rows)),
        (f"baseline (a) pagedown, mean of {scroll}", ms(median(bare, "page"))),
        ("baseline (a) end", ms(median(bare, "end"))),
        ("baseline (b) projections.open+query_runs", ms(floor_s)),
    ]
    for label, value in figures:
        print(f"{label:<44}{value}")
    print(f"ratio TUI rows shown vs (a) bare DataTable: {tui_rows / bare_rows:.2f}x "
          f"({bare_rows / tui_rows:.1f} times faster)")
    print(f"ratio TUI rows shown vs (b) reading the runs table: {tui_rows / floor_s:.2f}x "
          f"(the UI's own cost: {ms(tui_rows - floor_s)})")
    print(f"ratio TUI pagedown vs (a) pagedown: {median(tui, 'page') / median(bare, 'page'):.2f}x")
    target = tui_rows <= 1.5
    print(f"target: rows shown within ~1 s on {runs:,} runs: {'met' if target else 'MISSED'} ({tui_rows:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
