"""Fixtures for the TUI tests: copies of the fixed demo log, and a log full of markup."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditlog.services.log import AuditLog

from .tui_support import DEMO, MARKUP_ID, small_run


@pytest.fixture
def demo_log(tmp_path: Path) -> Path:
    """A private copy of the fixed demo log (24 events, one checkpoint of size 23)."""
    copy = tmp_path / "demo.db"
    shutil.copy(DEMO, copy)
    return copy


@pytest.fixture
def markup_log(tmp_path: Path) -> Path:
    """Runs whose id, tags and item ids hold Rich/Textual markup: it must show as typed."""
    path = tmp_path / "markup.db"
    with AuditLog.open(path) as log:
        log.record_run(small_run(MARKUP_ID, project="[blue]proj", tags={"[i]key": "[@click=app.bell]v"}))
        log.record_run(small_run("plain-run"))
    return path
