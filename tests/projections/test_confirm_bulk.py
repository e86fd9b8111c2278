"""Confirming many runs far apart reads their events in one go (`AuditLog.events_at`), and still
refuses a run whose event's bytes changed after the projections were built."""

from __future__ import annotations

import pytest

import projections
from auditlog import AuditLog, IntegrityError
from tests.tampering import as_holder


def run(number: int) -> dict:
    return {"run_id": f"run-{number}", "project_id": "p", "model_id": "m", "model_version": "1",
            "metrics": {"accuracy": number / 100}, "items": [{"item_id": "i", "score": 0.5, "passed": True}]}


def test_runs_far_apart_are_confirmed_and_a_changed_one_refused(tmp_path) -> None:
    db = tmp_path / "log.db"
    with AuditLog.open(db) as log:
        for number in range(30):  # runs 5 events apart: farther than a stretch read, so the bulk read
            log.record_run(run(number))
            for _ in range(4):
                log.annotate(f"run-{number}", tags={"n": str(number)})
        view = projections.open(log, tmp_path / "p")
        assert len(projections.list_runs(view)) == 30
    with as_holder(db) as conn:
        (seq, body) = conn.execute("SELECT seq, body FROM events WHERE subject = 'run-17' AND type = 'run.recorded'"
                                   ).fetchone()
        conn.execute("UPDATE events SET body = ? WHERE seq = ?", (body.replace(b'"accuracy"', b'"accuracx"'), seq))
    with AuditLog.open(db, create=False) as log:
        view = projections.open(log, tmp_path / "p")
        with pytest.raises(IntegrityError, match="no longer holds the event"):
            projections.list_runs(view)
