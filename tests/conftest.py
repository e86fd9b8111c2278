"""The PostgreSQL test server: its address, a fresh schema per test, and a count at the end.

The server is $AUDITLOG_TEST_PG (default: the local one with trust authentication). Where
none answers, or psycopg is missing, every test that needs it skips with the reason; the
session's summary says how many PostgreSQL tests ran, so CI's output shows it.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter

import pytest

from auditlog.store.postgres.location import parse_location
from tests.support.bench import quick_runs  # noqa: F401 - the session's quick benchmark runs

PG_URL = os.environ.get("AUDITLOG_TEST_PG") or "postgresql://postgres@127.0.0.1:5432/test"
_SHOWN = parse_location(PG_URL).display  # any password hidden
_outcomes: Counter[str] = Counter()
_unavailable: list[str] = []


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test reads published logs through a cache of its own (XDG_CACHE_HOME, inherited by the CLI
    processes it starts): a reader's cache remembers what it read at a URI, and refuses another log there,
    so tests that publish to the same URI must not share one, nor write into the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def pg_admin():
    """A superuser connection (autocommit) to the test server; skips when there is none."""
    try:
        import psycopg
    except ImportError:
        _unavailable.append("psycopg is not installed (pip install '.[test]')")
        pytest.skip(_unavailable[-1])
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        _unavailable.append(f"no PostgreSQL server at {_SHOWN} ({' '.join(str(exc).split())})")
        pytest.skip(_unavailable[-1])
    yield conn
    conn.close()


@pytest.fixture
def pg_server(pg_admin) -> str:
    """The test server's URL (no schema): for tests that make schemas of their own."""
    return PG_URL


@pytest.fixture
def pg_url(pg_admin) -> str:
    """A log location in a fresh schema of its own, dropped after the test."""
    schema = f"auditlog_test_{uuid.uuid4().hex[:12]}"
    yield _with_schema(PG_URL, schema)
    pg_admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pg_server: needs the PostgreSQL test server (counted in the summary)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pg_admin" in getattr(item, "fixturenames", ()):
            item.add_marker("pg_server")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "pg_server" in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _outcomes[report.outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not _outcomes:
        return
    ran = _outcomes["passed"] + _outcomes["failed"]
    line = (f"PostgreSQL tests: {ran} ran against {_SHOWN} ({_outcomes['passed']} passed, "
            f"{_outcomes['failed']} failed), {_outcomes['skipped']} skipped")
    terminalreporter.write_line(line + (f": {_unavailable[0]}" if _unavailable else ""))
