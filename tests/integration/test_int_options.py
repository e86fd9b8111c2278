"""Integer options above what the store (or pyarrow, or datetime) can take are the user's mistake: they
reached SQLite, pyarrow or timedelta and failed there with a traceback (OverflowError, exit 1, which
reads as an integrity failure; new-user review 2, finding 5). Each is refused by click with exit 2, one
line naming the option and its range, and nothing written; the largest value allowed still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_support import cli, fingerprint

HUGE = "99999999999999999999"  # > 2**64
INT64_MAX = str(2**63 - 1)
RUN = "claude-x::mmlu-pro::v1.1"
BASE = "claude-x::mmlu-pro::v1.0"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("ints")
    assert cli("demo", "--log", "d.db", cwd=where).code == 0
    return where


@pytest.mark.parametrize(("args", "name", "top"), [
    (["events", "--after", HUGE], "'--after'", INT64_MAX),
    (["events", "--limit", HUGE], "'--limit'", INT64_MAX),
    (["history", "--limit", HUGE], "'--limit'", INT64_MAX),
    (["history", "--offset", HUGE], "'--offset'", INT64_MAX),
    (["history", "--days", HUGE], "'--days'", "365000"),
    (["history", "--days", "800000"], "'--days'", "365000"),  # further back than a datetime reaches
    (["export", "--what", "runs", "--days", HUGE], "'--days'", "365000"),
    (["trend", "--project", "mmlu-pro", "--metric", "pass_rate", "--days", HUGE], "'--days'", "365000"),
    (["override", HUGE, "--to", "ALLOW", "--reason", "x"], "'VERDICT_SEQ'", INT64_MAX),
    (["report", "--out", "r.html", "--runs", HUGE], "'--runs'", INT64_MAX),
    (["report", "--out", "r.html", "--experiments", HUGE], "'--experiments'", INT64_MAX),
    (["gate", RUN, "--baseline", BASE, "--min-items", HUGE], "'--min-items'", str(2**53 - 1)),
])
def test_an_integer_beyond_its_range_is_a_usage_error(demo, args, name, top):
    before = fingerprint(demo / "d.db")
    done = cli(*args, "--log", "d.db", cwd=demo)
    assert done.code == 2, done
    assert f"Invalid value for {name}" in done.err and f"<=x<={top}" in done.err, done
    assert "Traceback" not in done.err and "Overflow" not in done.err and done.out == ""
    assert fingerprint(demo / "d.db") == before  # nothing written (gate records no verdict)
    assert not (demo / "r.html").exists()


def test_the_largest_seq_and_limit_still_work(demo):
    last = cli("events", "--log", "d.db", "--after", "19", "--limit", INT64_MAX, cwd=demo)
    assert last.code == 0 and [line[:10] for line in last.out.splitlines()] == ['{"seq":20,'], last
    assert cli("events", "--log", "d.db", "--after", INT64_MAX, cwd=demo).out == ""
    runs = cli("history", "--log", "d.db", "--limit", INT64_MAX, "-o", "json", cwd=demo)
    assert runs.code == 0 and len(runs.json()) == len(cli("history", "--log", "d.db", "-o", "json", cwd=demo).json())
    assert cli("history", "--log", "d.db", "--days", "365000", "-o", "json", cwd=demo).code == 0
    missing = cli("override", INT64_MAX, "--to", "ALLOW", "--reason", "x", "--log", "d.db", cwd=demo)
    assert missing.code == 3 and "no event at seq" in missing.err, missing  # not found, not a crash
