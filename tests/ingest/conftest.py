"""The real tool outputs live beside the repository, not in it: tests read them from there
and skip, saying why, where they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from .ingest_support import EVAL_OUTPUTS


@pytest.fixture
def outputs() -> Path:
    if not EVAL_OUTPUTS.is_dir():
        pytest.skip(f"the real eval outputs are not at {EVAL_OUTPUTS} (shared/ beside the repository)")
    return EVAL_OUTPUTS
