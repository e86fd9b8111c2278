"""Helpers for the TUI tests: run a pilot session synchronously, let workers finish, read
the screen as plain text, tamper with a log file, and small run documents."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from auditlog.tui.app import AuditLogApp
from tests.tampering import as_holder

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO = FIXTURES / "demo.sqlite"
SIGNER_SEED = bytes(range(32))  # the seed fixtures/build_fixture.py signs the demo's checkpoint with
SIZE = (120, 36)
MARKUP_ID = "[red]x[/red][@click=app.quit]q[/] [b]"


def pilot_test(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An `async def` test, run to completion in a fresh event loop (no asyncio plugin needed)."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))
    return run


def app_for(path: Path | str, **options: Any) -> AuditLogApp:
    app = AuditLogApp(path, **options)
    app.theme = "textual-dark"
    return app


async def settle(pilot: Any, delay: float = 0.0) -> None:
    """Let pending messages, timers and workers finish, and the screen repaint."""
    await pilot.pause(delay) if delay else await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app: Any) -> str:
    """What the terminal shows right now, as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False,
                      color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def tamper(db: Path, seq: int, change: Callable[[bytes], bytes]) -> None:
    """Rewrite one event's bytes behind the library's back (the append-only trigger dropped first)."""
    with as_holder(db) as conn:
        (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()
        conn.execute("UPDATE events SET body = ? WHERE seq = ?", (change(body), seq))


def flip_score(body: bytes) -> bytes:
    """Change one digit of the first item score: still valid JSON, no longer the hashed bytes."""
    at = body.index(b'"score":0.') + len(b'"score":0.')
    digit = body[at:at + 1]
    return body[:at] + (b"1" if digit != b"1" else b"2") + body[at + 1:]


def small_run(run_id: str, project: str = "proj", model: str = "model", **extra: Any) -> dict[str, Any]:
    doc = {"run_id": run_id, "project_id": project, "model_id": model, "model_version": "1.0",
           "started_at": "2026-02-01T10:00:00Z", "environment": {"python": "3.11"},
           "items": [{"item_id": "q1", "score": 1.0, "passed": True}, {"item_id": "q2", "score": 0.0, "passed": False}]}
    doc.update(extra)
    return doc
