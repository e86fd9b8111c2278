"""`--where`, `--days` and `trend --model` through the real CLI, against the runs recomputed from the documents."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from tests.support.cli import cli, ok, one_line_error

from .corpus import TS, expected_trend, run_time
from .test_where import kept

WHERE = "metrics.accuracy > 0.5 and tags.suite = 'nightly' and not model_id = 'gpt-y'"


def test_history_where(corpus, expected, view) -> None:  # noqa: ANN001
    rows = json.loads(ok("history", "--log", corpus.db, "--where", WHERE, "-o", "json").out)
    want = sorted(kept(expected, WHERE, include_superseded=False), key=lambda r: -expected[r]["seq"])
    assert [r["run_id"] for r in rows] == want and want
    assert all(r["metrics"]["accuracy"] > 0.5 and r["tags"]["suite"] == "nightly" for r in rows)
    both = json.loads(ok("history", "--log", corpus.db, "--where", WHERE, "--project", "gsm8k", "--all",
                         "-o", "json").out)
    assert [r["run_id"] for r in both] == sorted(
        (r for r in kept(expected, WHERE) if expected[r]["project_id"] == "gsm8k"), key=lambda r: -expected[r]["seq"])


def test_export_where_and_days(corpus, expected, view) -> None:  # noqa: ANN001
    text = "experiment.group in ('control', 'treatment') or metrics.f1 >= 0.9"
    rows = list(csv.DictReader(io.StringIO(ok("export", "--log", corpus.db, "--where", text).out)))
    assert [r["run_id"] for r in rows] == sorted(kept(expected, text, include_superseded=False),
                                                 key=lambda r: expected[r]["seq"])
    days = 20
    rows = list(csv.DictReader(io.StringIO(ok("export", "--log", corpus.db, "--days", days).out)))
    got = {r["run_id"] for r in rows}
    active = [r for r in expected.values() if r["status"] == "active"]
    # a run is in when its time is within the last N days: the few right at the edge may fall either way
    # as the clock moves during the test, so compare with a margin of one minute on both sides
    margin = timedelta(minutes=1)
    assert {r["run_id"] for r in active if run_time(r) >= (datetime.now(UTC) - timedelta(days=days) + margin).strftime(TS)} <= got
    assert got <= {r["run_id"] for r in active if run_time(r) >= (datetime.now(UTC) - timedelta(days=days) - margin)
                   .strftime(TS)}
    assert 0 < len(got) < len(active)
    one_line_error(cli("export", "--log", corpus.db, "--days", 3, "--since", "2026-01-01"), 2, "--days", "--since")


def test_a_bad_since_or_until_names_the_option(corpus) -> None:  # noqa: ANN001
    """It was named `since:` and `until:`, no option of any command (new-user review 3)."""
    for command in ("history", "export"):
        for option, value in (("--since", "yesterday"), ("--until", "2026-13-01")):
            line = one_line_error(cli(command, "--log", corpus.db, option, value), 2, f"{option}: {value!r}")
            assert "is not a date (YYYY-MM-DD)" in line


def test_trend_model_and_where(corpus, expected, view) -> None:  # noqa: ANN001
    points = json.loads(ok("trend", "--log", corpus.db, "--project", "mmlu-pro", "--metric", "accuracy",
                           "--model", "claude-x", "-o", "json").out)
    claude = {k: r for k, r in expected.items() if r["model_id"] == "claude-x"}
    assert points == [{"model_version": p.pop("key"), **p} for p in expected_trend(claude, "mmlu-pro", "accuracy",
                                                                                   "model_version")]
    text = "tags.suite = 'release'"
    points = json.loads(ok("trend", "--log", corpus.db, "--project", "gsm8k", "--metric", "accuracy", "--by", "model_id",
                           "--where", text, "-o", "json").out)
    chosen = {k: r for k, r in expected.items() if k in set(kept(expected, text))}
    assert points == [{"model_id": p.pop("key"), **p} for p in expected_trend(chosen, "gsm8k", "accuracy", "model_id")]


def test_a_mistake_in_where_is_one_line_at_its_column_and_nothing_is_read(corpus, tmp_path) -> None:  # noqa: ANN001
    missing = tmp_path / "no-such.db"
    for command in (["history"], ["export"], ["trend", "--project", "p", "--metric", "m"]):
        result = cli(*command, "--log", missing, "--where", "metrics.accuracy > and x")
        assert one_line_error(result, 2) == "auditlog: error: --where: at column 20: expected a value after '>', " \
                                            "not 'and'"
        assert not missing.exists()
    result = cli("history", "--log", corpus.db, "--where", "tags.branch = main")
    assert "at column 15: expected a value after '='" in one_line_error(result, 2)


def test_trend_and_ab_name_the_option_that_is_wrong(tmp_path) -> None:  # noqa: ANN001
    """The errors said "metric: no run ... has 'nope'" and "baseline: 'nope' is not a group": no option (new-user review 3)."""
    db = tmp_path / "demo.db"
    ok("demo", "--log", db)
    one_line_error(cli("trend", "--log", db, "--project", "mmlu-pro", "--metric", "nope"), 2,
                   "--metric: no run of 'mmlu-pro' here has 'nope'")
    one_line_error(cli("ab", "--log", db, "--experiment", "exp-demo-001", "--baseline", "nope"), 2,
                   "--baseline: 'nope' is not a group of 'exp-demo-001'")
