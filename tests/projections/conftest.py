"""Shared, session-scoped: the fixture log (built once), its projections, and what they must say.

Tests that append to a log work on a copy (`log_copy`), so the shared log never changes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .corpus import Corpus, expected_runs, make_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def expected(corpus: Corpus) -> dict:
    return expected_runs(corpus)


@pytest.fixture(scope="session")
def log(corpus: Corpus):
    from auditlog import AuditLog
    with AuditLog.open(corpus.db, create=False) as opened:
        yield opened


@pytest.fixture(scope="session")
def view(corpus: Corpus, log):
    import projections
    return projections.open(log, f"{corpus.db}.projections")


@pytest.fixture
def log_copy(corpus: Corpus, tmp_path: Path) -> Path:
    """A copy of the fixture log (without its projections), to append to."""
    db = tmp_path / "copy.db"
    shutil.copy(corpus.db, db)
    return db
