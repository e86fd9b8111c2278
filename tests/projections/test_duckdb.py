"""A reader that is not ours: DuckDB reads the files state.json names and finds the same runs, items and verdicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from .corpus import TS, expected_items, expected_verdicts

duckdb = pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def db(view):  # noqa: ANN001, ANN201
    state = json.loads((view.directory / "state.json").read_text())
    d = view.directory
    con = duckdb.connect()
    def parts(entries: list[dict]) -> list[str]:
        return [str(d / p["path"]) for p in entries]

    con.execute(f"CREATE VIEW runs AS SELECT * FROM read_parquet({parts(state['files']['parts']['runs'])!r})")
    con.execute(f"CREATE VIEW items AS SELECT * FROM read_parquet({parts(state['files']['items'])!r})")
    con.execute(f"CREATE VIEW verdicts AS SELECT * FROM read_parquet({parts(state['files']['parts']['verdicts'])!r})")
    con.execute(f"CREATE VIEW baselines AS SELECT * FROM read_parquet('{d / state['files']['baselines']}')")
    yield con
    con.close()


def utc(epoch_us: int | None) -> str | None:
    if epoch_us is None:
        return None
    return datetime.fromtimestamp(epoch_us // 1_000_000, UTC).replace(microsecond=epoch_us % 1_000_000).strftime(TS)


def test_runs(db, expected) -> None:  # noqa: ANN001
    rows = db.execute("""
        SELECT run_id, project_id, model_id, model_version, experiment_id, experiment_group, n_items, n_passed,
               pass_rate, mean_score, status, superseded_by, verdict, verdict_seq, seq, event_hash,
               epoch_us(started_at), epoch_us(recorded_at), map_keys(metrics), map_values(metrics),
               map_keys(tags), map_values(tags), notes
        FROM runs ORDER BY seq""").fetchall()
    assert len(rows) == len(expected)
    for row, want in zip(rows, sorted(expected.values(), key=lambda r: r["seq"])):
        (run_id, project, model, version, exp, group, n, n_passed, pass_rate, mean_score, status, by, verdict,
         verdict_seq, seq, event_hash, started, recorded, mkeys, mvalues, tkeys, tvalues, notes) = row
        assert (run_id, project, model, version, exp, group) == tuple(want[k] for k in (
            "run_id", "project_id", "model_id", "model_version", "experiment_id", "experiment_group"))
        assert (n, n_passed, pass_rate, mean_score) == (want["n_items"], want["n_passed"], want["pass_rate"],
                                                        want["mean_score"])
        assert (status, by, verdict, verdict_seq, seq, event_hash) == tuple(want[k] for k in (
            "status", "superseded_by", "verdict", "verdict_seq", "seq", "event_hash"))
        assert (utc(started), utc(recorded)) == (want["started_at"], want["recorded_at"])
        assert dict(zip(mkeys, mvalues)) == want["metrics"] and dict(zip(tkeys, tvalues)) == want["tags"]
        assert notes == want["notes"]


def test_items(db, corpus) -> None:  # noqa: ANN001
    rows = db.execute("SELECT run_id, seq, item_id, score, passed, latency_ms, tokens, cost_usd, error, extra "
                      "FROM items").fetchall()
    names = ("run_id", "seq", "item_id", "score", "passed", "latency_ms", "tokens", "cost_usd", "error", "extra")
    want = [tuple(i[k] for k in names) for doc in corpus.runs for i in expected_items(corpus, doc["run_id"])]
    assert rows == want and len(rows) > 20_000
    assert db.execute("SELECT count(*) FROM items WHERE extra IS NOT NULL").fetchone()[0] > 0


def test_verdicts(db, corpus) -> None:  # noqa: ANN001
    rows = db.execute("SELECT seq, run_id, baseline_run_id, metric, delta, p_value, verdict, policy, reason, "
                      "overridden_to, override_reason, override_seq FROM verdicts ORDER BY seq").fetchall()
    assert rows == expected_verdicts(corpus)
    assert any(r[-1] is not None for r in rows), "some verdicts were overridden"


def test_baselines(db, corpus) -> None:  # noqa: ANN001
    rows = db.execute("SELECT seq, run_id, project_id, model_id FROM baselines ORDER BY seq").fetchall()
    assert rows == corpus.pins and rows
