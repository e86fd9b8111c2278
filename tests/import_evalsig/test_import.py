"""`auditlog import evalsig STORE` through the real CLI, on stores the real evalsig wrote."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from evalsig.store import write_run

from auditlog.services.log import AuditLog
from tests.import_evalsig.conftest import DAY, frame
from tests.support.cli import cli


def _size(db: Path) -> int:
    with AuditLog.open(db, create=False) as log:
        return log.head().size


def _show(db: Path, run_id: str) -> dict:
    shown = cli("show", run_id, "--log", db, "--output", "json")
    assert shown.code == 0, shown
    return shown.json()


def test_every_run_becomes_a_run_with_its_items_and_its_gate_result_a_verdict(store, tmp_path):
    db = tmp_path / "a.db"
    done = cli("import", "evalsig", store, "--log", db, "--output", "json")
    assert done.code == 0, done
    outcomes = {r["run_id"]: r for r in done.json()["runs"]}
    assert set(outcomes) == {"base", "cand", "worse", "solo"}
    assert {r["status"] for r in outcomes.values()} == {"recorded"}
    assert outcomes["base"]["verdict_seq"] is None and outcomes["cand"]["verdict_seq"] is not None

    shown = _show(db, "worse")
    run = shown["run"]
    assert (run["project_id"], run["model_id"], run["dataset"]) == ("proj", "model-a", {"name": "arith"})
    assert len(run["items"]) == 8  # four items, two epochs: ids made unique by epoch
    assert {i["item_id"] for i in run["items"]} == {f"q{i}#{e}" for i in range(4) for e in range(2)}
    assert run["items"][0]["extra"]["evalsig"] == {"item_id": "q0", "epoch": 0, "cluster_id": "c0",
                                                   "metadata": {"i": 0, "e": 0}}
    assert run["metrics"] == {"accuracy": 0.375}
    assert run["finished_at"] == (DAY + dt.timedelta(days=40)).isoformat()

    [verdict_event] = [e for e in shown["events"] if e["type"] == "verdict.recorded"]
    verdict = verdict_event["data"]["verdict"]
    assert verdict["computed_by"] == "evalsig" and verdict["baseline_run_id"] is None
    assert (verdict["delta"], verdict["p_value"], verdict["verdict"]) == (-0.25, 0.2, "BLOCK")
    assert verdict["policy"]["evalsig_verdict"] == "REJECT"
    assert shown["current"]["verdict"] == "BLOCK"
    assert _show(db, "cand")["current"]["verdict"] == "ALLOW"


def test_the_store_state_is_recorded_as_provenance(store, tmp_path):
    db = tmp_path / "a.db"
    assert cli("import", "evalsig", store, "--log", db).code == 0
    [recorded] = [e for e in _show(db, "cand")["events"] if e["type"] == "run.recorded"]
    source = recorded["data"]["source"]
    manifest = json.loads((store / "proj" / "manifest.json").read_text())
    record = next(r for r in manifest["runs"] if r["run_id"] == "cand")
    [file] = source["files"]
    assert file["name"] == f"proj/{record['path']}"
    assert file["sha256"] == hashlib.sha256((store / "proj" / record["path"]).read_bytes()).hexdigest()
    assert source["evalsig"]["manifest"] == {
        "name": "proj/manifest.json", "sha256": hashlib.sha256((store / "proj" / "manifest.json").read_bytes()).hexdigest()}
    assert source["evalsig"]["record"] == record


def test_importing_the_same_store_again_appends_nothing(store, tmp_path):
    db = tmp_path / "a.db"
    assert cli("import", "evalsig", store, "--log", db).code == 0
    size = _size(db)
    again = cli("import", "evalsig", store, "--log", db, "--output", "json")
    assert again.code == 0, again
    assert {r["status"] for r in again.json()["runs"]} == {"unchanged"}
    assert _size(db) == size


def test_a_run_evalsig_overwrote_since_is_reported_run_by_run(store, tmp_path):
    db = tmp_path / "a.db"
    assert cli("import", "evalsig", store, "--log", db).code == 0
    size = _size(db)
    # evalsig silently replaces run "cand" (same id, other scores), and adds a new run
    write_run(store, frame("cand", scores=(0.0, 0.0, 0.0, 0.0)), project_id="proj", ts=DAY + dt.timedelta(days=2))
    write_run(store, frame("newer"), project_id="proj", ts=DAY + dt.timedelta(days=3))
    again = cli("import", "evalsig", store, "--log", db, "--output", "json")
    assert again.code == 5, again
    outcomes = {r["run_id"]: r for r in again.json()["runs"]}
    assert outcomes["cand"]["status"] == "changed"
    assert "items" in outcomes["cand"]["detail"] and "file sha256" in outcomes["cand"]["detail"]
    assert outcomes["newer"]["status"] == "recorded"
    assert {outcomes[r]["status"] for r in ("base", "worse", "solo")} == {"unchanged"}
    assert again.err.count("\n") == 1 and "cand" in again.err and "changed" in again.err
    assert _size(db) == size + 1  # only the new run
    assert _show(db, "cand")["run"]["metrics"] == {"accuracy": 0.875}  # the log keeps what it recorded


def test_a_run_auditlog_cannot_hold_is_refused_naming_the_row_and_nothing_is_written(tmp_path):
    store = tmp_path / "store"
    write_run(store, frame("ok"), project_id="proj", ts=DAY)
    write_run(store, frame("bleu", scores=(0.5, 42.0)), project_id="proj", ts=DAY)  # evalsig takes any score
    db = tmp_path / "a.db"
    done = cli("import", "evalsig", store, "--log", db)
    assert done.code == 2, done
    assert "run_id=bleu.parquet row 1 score" in done.err and "[0, 1]" in done.err
    assert done.err.count("\n") == 1 and "Traceback" not in done.err
    assert not db.exists()


def test_a_directory_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli("import", "evalsig", tmp_path / "empty", "--log", tmp_path / "a.db")
    assert done.code == 2 and "not an evalsig store" in done.err
    assert cli("import", "evalsig", tmp_path / "missing", "--log", tmp_path / "a.db").code in (2, 3)
    assert not (tmp_path / "a.db").exists()


def test_one_project_directory_imports_too(store, tmp_path):
    done = cli("import", "evalsig", store / "other", "--log", tmp_path / "a.db", "--output", "json")
    assert done.code == 0, done
    assert [r["run_id"] for r in done.json()["runs"]] == ["solo"]


def test_a_gate_result_evalsig_added_later_to_an_unchanged_run_is_recorded_and_said(tmp_path):
    store, db = tmp_path / "store", tmp_path / "a.db"
    write_run(store, frame("r1"), project_id="proj", ts=DAY)
    assert cli("import", "evalsig", store, "--log", db).code == 0
    write_run(store, frame("r1"), project_id="proj", ts=DAY, delta=0.1, p_value=0.3, verdict="INCONCLUSIVE")
    done = cli("import", "evalsig", store, "--log", db, "--output", "json")
    assert done.code == 0, done
    [outcome] = done.json()["runs"]
    assert outcome["status"] == "verdict recorded" and outcome["verdict_seq"] == outcome["seq"] + 1
    assert _show(db, "r1")["current"]["verdict"] == "NEEDS_REVIEW"
