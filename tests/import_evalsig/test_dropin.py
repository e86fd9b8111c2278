"""`auditlog.evalsig` beside `evalsig.store`: the same calls on the same inputs give the same shapes and values."""

from __future__ import annotations

import dataclasses
import datetime as dt

import evalsig.store as theirs
import pytest

import auditlog.evalsig as ours
from auditlog.errors import Conflict, InvalidInput
from tests.import_evalsig.conftest import DAY, frame
from tests.support.cli import cli


def _write_both(store, db):
    """The same runs through both APIs: write_run, and RunStoreWriter with write and commit."""
    results = []
    for api, root in ((theirs, store), (ours, db)):
        first = api.write_run(root, frame("r1"), project_id="proj", ts=DAY)
        with api.RunStoreWriter(root, project_id="proj") as w:
            second = w.write(frame("r2", scores=(1.0, 1.0, 0.0, 1.0)), ts=DAY + dt.timedelta(days=31),
                             delta=0.25, p_value=0.03, verdict="ALLOW", parent_run_id="r1")
            third = w.write(frame("r3", epochs=2), ts=DAY + dt.timedelta(days=32), delta=-0.01, p_value=0.5,
                            verdict="INCONCLUSIVE")
        w = api.RunStoreWriter(root, project_id="proj")
        fourth = w.write(frame("r4", model="model-b"), ts=DAY + dt.timedelta(days=33), delta=0.1, p_value=0.04)
        w.commit()
        results.append([first, second, third, fourth])
    return results


def _fields(obj):
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def test_the_same_calls_give_the_same_records_and_frames(tmp_path):
    store, db = tmp_path / "store", tmp_path / "a.db"
    written_theirs, written_ours = _write_both(store, db)
    assert [r.to_dict() for r in written_ours] == [r.to_dict() for r in written_theirs]

    listed_theirs, listed_ours = theirs.list_runs(store, "proj"), ours.list_runs(db, "proj")
    assert [_fields(h.record) for h in listed_ours] == [_fields(h.record) for h in listed_theirs]
    assert [h.abs_path.relative_to(db) for h in listed_ours] == [h.abs_path.relative_to(store) for h in listed_theirs]

    for query in ({"since": (DAY + dt.timedelta(days=31)).isoformat()}, {"model_id": "model-b"},
                  {"until": DAY.isoformat()}, {"task_id": "arith", "metric_name": "accuracy"}, {"task_id": "none"}):
        assert ([h.record.run_id for h in ours.query_runs(db, project_id="proj", **query)]
                == [h.record.run_id for h in theirs.query_runs(store, project_id="proj", **query)]), query

    for run_id in ("r1", "r2", "r3", "r4"):
        mine, real = ours.load_run(db, run_id, project_id="proj"), theirs.load_run(store, run_id, project_id="proj")
        assert {k: v for k, v in _fields(mine).items() if k != "items"} == {
            k: v for k, v in _fields(real).items() if k != "items"}
        assert [_fields(i) for i in mine.items] == [_fields(i) for i in real.items]
    for run_id, project in (("nope", "proj"), ("r1", "other-project"), ("", "proj")):
        with pytest.raises(KeyError):
            ours.load_run(db, run_id, project_id=project)
        with pytest.raises(KeyError):
            theirs.load_run(store, run_id, project_id=project)
    assert ours.list_runs(db, "no-such-project") == theirs.list_runs(store, "no-such-project") == []
    assert ours.list_runs(tmp_path / "none.db", "proj") == []


def test_a_verdict_written_this_way_keeps_its_figures_and_says_who_computed_them(tmp_path):
    db = tmp_path / "a.db"
    ours.write_run(db, frame("r1"), project_id="proj", ts=DAY, delta=0.2, p_value=0.04, verdict="ALLOW")
    shown = cli("show", "r1", "--log", db, "--output", "json").json()
    [verdict] = [e["data"]["verdict"] for e in shown["events"] if e["type"] == "verdict.recorded"]
    assert verdict["computed_by"] == "evalsig" and verdict["baseline_run_id"] is None
    assert (verdict["delta"], verdict["p_value"], verdict["verdict"]) == (0.2, 0.04, "ALLOW")
    assert "verdict: ALLOW (seq 2, computed by evalsig)" in cli("show", "r1", "--log", db).out
    assert cli("verify", "--log", db).code == 0


def test_a_run_id_written_again_with_other_content_is_refused_not_overwritten(tmp_path):
    db = tmp_path / "a.db"
    ours.write_run(db, frame("r1"), project_id="proj", ts=DAY)
    ours.write_run(db, frame("r1"), project_id="proj", ts=DAY)  # the same run again: a retry
    with pytest.raises(Conflict):
        ours.write_run(db, frame("r1", scores=(0.0,)), project_id="proj", ts=DAY)
    assert [h.record.n_items for h in ours.list_runs(db, "proj")] == [4]


def test_a_bad_run_is_refused_at_write_and_a_failed_block_writes_nothing(tmp_path):
    db = tmp_path / "a.db"
    with pytest.raises(InvalidInput, match=r"row 1 score"):
        ours.write_run(db, frame("r1", scores=(0.5, 7.0)), project_id="proj", ts=DAY)
    with pytest.raises(RuntimeError), ours.RunStoreWriter(db, project_id="proj") as w:
        w.write(frame("r2"), ts=DAY)
        raise RuntimeError("the job failed")
    assert ours.list_runs(db, "proj") == []


def test_runs_written_through_both_apis_are_the_same_runs_to_an_import(tmp_path):
    store, db = tmp_path / "store", tmp_path / "a.db"
    _write_both(store, db)
    done = cli("import", "evalsig", store, "--log", db, "--output", "json")
    assert done.code == 0, done
    assert {r["status"] for r in done.json()["runs"]} == {"unchanged"}
