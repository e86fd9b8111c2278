"""Runs and items to Arrow a chunk of runs at a time (projections/columns.py): the same rows as the
documents say, whatever members a document leaves out, and a document the tables cannot hold refused
with the seq of its event."""

from __future__ import annotations

import json
import math

import pytest

import projections
from auditlog import AuditLog, IntegrityError
from projections.columns import run_tables
from projections.generation import NewRuns
from projections.parts import PartWriter

H = "ab" * 32
TS = "2026-01-02T03:04:05.000006Z"


def kept(run: dict, seq: int, has_extra: bool = False) -> tuple:
    """A run.recorded event as the fold keeps it."""
    return (run, seq, H, TS, None, has_extra, None, None)


def test_documents_with_few_members_give_the_rows_the_schema_documents(tmp_path) -> None:
    bare = {"run_id": "a", "project_id": "p", "model_id": "m"}  # no items, metrics, tags or times
    offsets = {"run_id": "b", "project_id": "p", "model_id": "m", "started_at": "2026-01-01T09:00:00.5+02:00",
               "finished_at": "2026-01-01T09:30:00+00:00", "metrics": {"acc": 1, "f1": 0.25}, "tags": {"k": "v"},
               "items": [{"item_id": "x", "score": 1, "passed": True, "extra": {"b": 1, "a": [1.0]}},
                         {"item_id": "y", "score": 0.1, "passed": False, "tokens": 7},
                         {"item_id": "z", "score": 0.2, "passed": True, "latency_ms": 3}]}
    runs, items = run_tables([kept(bare, 1), kept(offsets, 2, has_extra=True)])
    rows = projections.to_records(runs)
    assert rows[0]["n_items"] == 0 and rows[0]["n_passed"] == 0
    assert rows[0]["pass_rate"] is None and rows[0]["mean_score"] is None
    assert rows[0]["metrics"] == {} and rows[0]["tags"] == {} and rows[0]["notes"] == []
    assert rows[0]["started_at"] is None and rows[0]["recorded_at"] == TS and rows[0]["status"] == "active"
    assert rows[1]["started_at"] == "2026-01-01T07:00:00.500000Z"  # converted to UTC, as normalize_ts does
    assert rows[1]["finished_at"] == "2026-01-01T09:30:00.000000Z"
    assert rows[1]["metrics"] == {"acc": 1.0, "f1": 0.25} and rows[1]["tags"] == {"k": "v"}
    assert (rows[1]["n_items"], rows[1]["n_passed"]) == (3, 2) and rows[1]["pass_rate"] == 2 / 3
    assert rows[1]["mean_score"] == math.fsum([1, 0.1, 0.2]) / 3
    assert runs.schema == projections.schema.arrow_schema("runs")
    item_rows = projections.to_records(items)
    assert [(r["run_id"], r["seq"], r["item_id"]) for r in item_rows] == [("b", 2, "x"), ("b", 2, "y"), ("b", 2, "z")]
    assert [r["extra"] for r in item_rows] == ['{"a":[1],"b":1}', None, None]
    assert [r["tokens"] for r in item_rows] == [None, 7, None] and item_rows[2]["latency_ms"] == 3.0


def test_mean_score_is_exactly_rounded_as_math_fsum() -> None:
    scores = [0.1] * 10  # a plain running sum gives 0.9999999999999999
    assert sum(scores) != math.fsum(scores)
    run = {"run_id": "a", "project_id": "p", "model_id": "m",
           "items": [{"item_id": str(i), "score": s, "passed": s > 0.5} for i, s in enumerate(scores)]}
    runs, _ = run_tables([kept(run, 5)])
    assert runs.column("mean_score")[0].as_py() == math.fsum(scores) / len(scores)


@pytest.mark.parametrize(("change", "what"), [
    (lambda r: r.pop("project_id"), "no project_id"),
    (lambda r: r["items"][1].pop("score"), "no items[].score"),
    (lambda r: r["items"].__setitem__(0, None), "no items[].item_id"),
    (lambda r: r["items"][0].__setitem__("score", "high"), "not a valid run.recorded event"),
    (lambda r: r.__setitem__("metrics", [1, 2]), "not a valid run.recorded event"),
])
def test_a_document_the_tables_cannot_hold_is_refused_with_its_seq(change, what) -> None:
    good = {"run_id": "g", "project_id": "p", "model_id": "m", "items": [{"item_id": "i", "score": 0.5, "passed": True}]}
    bad = {"run_id": "b", "project_id": "p", "model_id": "m",
           "items": [{"item_id": "i", "score": 0.5, "passed": True}, {"item_id": "j", "score": 0.1, "passed": False}]}
    change(bad)
    with pytest.raises(IntegrityError) as caught:
        run_tables([kept(good, 3), kept(bad, 9), kept(good | {"run_id": "h"}, 11)])
    assert caught.value.seq == 9 and what in str(caught.value)


@pytest.mark.parametrize("named", ["3", 2**64, [1]])
def test_a_config_seq_that_is_not_a_seq_is_refused_with_the_seq_of_its_event(named) -> None:
    run = {"run_id": "g", "project_id": "p", "model_id": "m"}
    with pytest.raises(IntegrityError) as caught:
        run_tables([kept(run, 3), (run | {"run_id": "b"}, 9, H, TS, None, False, named, ["config_seq: ..."])])
    assert caught.value.seq == 9 and "config_seq" in str(caught.value)


def test_chunks_do_not_change_the_tables(tmp_path, monkeypatch) -> None:
    """Runs and items converted 3 runs at a time equal those converted at once."""
    runs = [{"run_id": f"r{i}", "project_id": "p", "model_id": "m",
             "items": [{"item_id": f"{k}", "score": k / 10, "passed": k > 4} for k in range(i % 4)]} for i in range(10)]
    tables = []
    for chunk in (3, 1000):
        monkeypatch.setattr("projections.generation.RUN_CHUNK", chunk)
        writer = PartWriter(tmp_path)
        collected = NewRuns(writer)
        for i, run in enumerate(runs):
            collected.add(kept(run, i + 1))
        table, lines = collected.finish()
        part = writer.finish(1, 10)
        assert part is not None
        tables.append((table, lines, (tmp_path / part.path).read_bytes()))
    assert tables[0][0].equals(tables[1][0]) and tables[0][1] == tables[1][1] and tables[0][2] == tables[1][2]


def test_a_rebuild_reads_a_log_of_runs_without_optional_members(tmp_path) -> None:
    with AuditLog.open(tmp_path / "evals.db") as log:
        log.record_run({"run_id": "a", "project_id": "p", "model_id": "m"})
        log.record_run({"run_id": "b", "project_id": "p", "model_id": "m", "started_at": "2026-01-01T09:00:00-05:00",
                        "items": [{"item_id": "i", "score": 0.5, "passed": True}]})
        view = projections.open(log, tmp_path / "p")
        rows = {r["run_id"]: r for r in projections.list_runs(view)}
        assert rows["a"]["n_items"] == 0 and rows["a"]["metrics"] == {} and rows["a"]["started_at"] is None
        assert rows["b"]["started_at"] == "2026-01-01T14:00:00.000000Z" and rows["b"]["pass_rate"] == 1.0
        assert view.items().num_rows == 1


def _schema3_log(path, inc):
    """A log with what schema 3 added: scoped runs, a project configured twice, a run chained past the
    Writer's check (violations), runs of a project never configured, and verdicts computed by evalsig;
    `inc` caught up after each stage."""
    from auditlog import Bounds, ProjectConfig
    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.writer import encoded_run

    def run(run_id: str, project: str = "p", **more) -> dict:
        items = [{"item_id": f"{run_id}-{k}", "score": k / 7, "passed": k % 2 == 0, "latency_ms": k}
                 for k in range(len(run_id) % 4)]
        return {"run_id": run_id, "project_id": project, "model_id": "m", "metrics": {"accuracy": 0.5, "cost": 3},
                "items": items, **more}

    scopes = {"judge": {"status": "invalid", "reason": "judge drifted", "metrics": {"accuracy": 0.25, "z": 2}},
              "b-side": {"status": "valid", "headline": False, "metrics": {"\u00e9": 1.5}}}
    log = AuditLog.open(path)
    log.record_run(run("early", started_at="2026-01-01T09:00:00+02:00",
                       items=[{"item_id": "x", "score": 1, "passed": True, "extra": {"b": 1, "a": [1.0]}}]))
    projections.catch_up(log, inc)
    log.configure("p", ProjectConfig().replaced(metric_bounds={"accuracy": Bounds(None, 2.0)},
                                                lower_is_better=["cost"]))
    for i in range(6):
        log.record_run(run(f"s{i}", **({"metric_scopes": scopes} if i % 2 else {})))
    log.record_run(run("other", project="q", metric_scopes={"judge": {"status": "diagnostic", "metrics": {"x": 1}}}))
    projections.catch_up(log, inc)
    forged = prepare_run(run("forged", metrics={"accuracy": 3.0}))
    with log.writer() as w:  # chained without the Writer's check: its violations are the fold's to find
        w._append_encoded(ev.RUN_RECORDED, "p", "forged", encoded_run(forged), forged.document_sha256)
    for run_id, by in (("s1", "evalsig"), ("early", None)):
        log.record_verdict({"run_id": run_id, "baseline_run_id": None, "metric": "accuracy", "verdict": "BLOCK",
                            **({"delta": -0.25, "p_value": 0.2, "computed_by": by} if by else {"reason": "first run"})})
    projections.catch_up(log, inc)
    log.configure("p", ProjectConfig())
    log.record_run(run("late", metric_scopes=scopes))
    projections.catch_up(log, inc)
    return log


def _row_by_row(log: AuditLog, changed: bool) -> tuple[list[dict], list[dict], list[tuple]]:
    """The runs and items rows as the row-by-row fold gives them (app/run_state.py: what `show` prints, main's
    fold before columns.py), each run's violations found against the configuration in force before it;
    with `changed`, later verdicts and annotations applied. Also the runs as the fold keeps them."""
    from auditlog.app.run_state import current_state, item_records
    from auditlog.core import events as ev
    from auditlog.evals.config import from_data, violations

    events = list(log.events(after=-1))
    configs: dict = {}
    runs, items, recorded = [], [], []
    for sealed in events:
        event = sealed.event
        if event.type == ev.PROJECT_CONFIGURED:
            configs[event.project] = (sealed.seq, from_data(event.data))
        elif event.type == ev.RUN_RECORDED:
            named, run = event.data.get("config_seq"), event.data["run"]
            found = violations(run, named, configs.get(event.project))
            runs.append(current_state(sealed, events if changed else [], found))
            items += item_records(sealed)
            recorded.append((json.loads(sealed.body)["data"]["run"], sealed.seq, sealed.hash, event.ts,
                             event.data.get("document_sha256"), b'"extra":' in sealed.body, named, found or None))
    return runs, items, recorded


def test_scoped_configured_and_verdicts_computed_elsewhere_equal_the_row_by_row_fold(tmp_path) -> None:
    """Every runs column schema 3 added (scopes, config_seq, violations, verdict_computed_by) is what the
    row-by-row fold gives, in a rebuild and a catch-up alike."""
    inc, full = tmp_path / "inc", tmp_path / "full"
    with _schema3_log(tmp_path / "log.db", inc) as log:
        projections.rebuild(log, full)
        expected_runs, expected_items, _ = _row_by_row(log, changed=True)
    for directory in (inc, full):
        view = projections.open_built(directory)
        assert projections.to_records(view.runs) == expected_runs
        assert projections.to_records(view.items()) == expected_items
    rows = {r["run_id"]: r for r in expected_runs}
    assert rows["s1"]["scoped_metrics"] == {"b-side/\u00e9": 1.5, "judge/accuracy": 0.25, "judge/z": 2.0}
    assert rows["s1"]["headline_scopes"] == ["judge"] and rows["s1"]["scope_reason"] == {"judge": "judge drifted"}
    assert rows["s1"]["verdict_computed_by"] == "evalsig" and rows["early"]["verdict_computed_by"] is None
    assert rows["early"]["config_seq"] is None and rows["s0"]["config_seq"] == rows["late"]["config_seq"] - 11
    assert [v.split(":")[0] for v in rows["forged"]["violations"]] == ["config_seq", "$.metrics.accuracy"]
    assert rows["other"]["scope_status"] == {"judge": "diagnostic"} and rows["other"]["violations"] == []


def test_the_columns_write_the_bytes_the_row_by_row_rows_write(tmp_path) -> None:
    """runs and items tables from the columns and from row-by-row rows: the same Parquet bytes (file names)."""
    from projections.disk import write_table
    from projections.tables import table_from_rows

    with _schema3_log(tmp_path / "log.db", tmp_path / "inc") as log:
        runs, items, recorded = _row_by_row(log, changed=False)
    tables = run_tables(recorded)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    assert write_table(tmp_path / "a", "runs", tables[0]) == write_table(tmp_path / "b", "runs",
                                                                          table_from_rows(runs, "runs"))
    assert write_table(tmp_path / "a", "items", tables[1]) == write_table(tmp_path / "b", "items",
                                                                           table_from_rows(items, "items"))
