"""`compare` shows what differs in two runs' config and environment, key by key, as recorded in the log."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import projections
from auditlog import AuditLog
from projections.diff import KeyDifference, settings_diff
from tests.support.cli import ok

A = {"project_id": "p", "model_id": "m", "run_id": "run-a",
     "config": {"temperature": 0.0, "shots": 5, "generation": {"max_tokens": 512, "stop": ["\n"]}, "seed": 1,
                "empty": {}},
     "environment": {"python": "3.11.7", "packages": {"torch": "2.3.0", "lm_eval": "0.4.2"}, "git": {"dirty": False}},
     "items": [{"item_id": "q1", "score": 1.0, "passed": True}]}
B = {"project_id": "p", "model_id": "m", "run_id": "run-b",
     "config": {"temperature": 0.7, "shots": 5.0, "generation": {"max_tokens": 512, "stop": ["\n", "###"]},
                "top_p": 0.9, "empty": {}},
     "environment": {"python": "3.11.7", "packages": {"torch": "2.4.1", "vllm": "0.5.0"}, "git": {"dirty": True}},
     "items": [{"item_id": "q1", "score": 0.0, "passed": False}]}
WANT = [
    KeyDifference("config.generation.stop", "changed", ["\n"], ["\n", "###"]),
    KeyDifference("config.seed", "removed", 1, None),
    KeyDifference("config.temperature", "changed", 0.0, 0.7),
    KeyDifference("config.top_p", "added", None, 0.9),
    KeyDifference("environment.git.dirty", "changed", False, True),
    KeyDifference("environment.packages.lm_eval", "removed", "0.4.2", None),
    KeyDifference("environment.packages.torch", "changed", "2.3.0", "2.4.1"),
    KeyDifference("environment.packages.vllm", "added", None, "0.5.0"),
]


def test_the_difference_is_key_by_key_with_dotted_paths() -> None:
    assert settings_diff(A, B) == WANT  # shots 5 and 5.0 are one JSON number; {} against {} is no change
    assert settings_diff(A, A) == []
    assert settings_diff({"config": {"x": {}}}, {"config": {"x": {"y": 1}}}) == [
        KeyDifference("config.x", "removed", {}, None), KeyDifference("config.x.y", "added", None, 1)]
    assert settings_diff({}, {"config": {"a": True}}) == [KeyDifference("config.a", "added", None, True)]
    assert settings_diff({"config": {"a": 1}}, {"config": {"a": True}}) == [
        KeyDifference("config.a", "changed", 1, True)], "true is not the number 1"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "evals.db"
    with AuditLog.open(path) as log:
        log.record_run(A)
        log.record_run(B)
    return path


def test_compare_prints_the_differences(db: Path) -> None:
    report = json.loads(ok("compare", "run-a", "run-b", "--log", db, "-o", "json").out)
    assert report["differences"] == [{"key": d.key, "change": d.change, "a": d.a, "b": d.b} for d in WANT]
    rows = list(csv.DictReader(io.StringIO(ok("compare", "run-a", "run-b", "--log", db, "--settings", "-o", "csv").out)))
    assert [(r["key"], r["change"]) for r in rows] == [(d.key, d.change) for d in WANT]
    assert rows[0]["a"] == json.dumps(["\n"]) and rows[4]["b"] == "true" and rows[3]["a"] == ""
    text = ok("compare", "run-a", "run-b", "--log", db).out
    assert "config and environment: 8 keys differ" in text
    assert "environment.packages.torch" in text and "2.4.1" in text
    same = ok("compare", "run-a", "run-a", "--log", db).out
    assert "config and environment: the same" in same


def test_the_python_api_reads_the_documents_from_the_log(db: Path) -> None:
    with AuditLog.open(db, create=False) as log:
        view = projections.open(log, f"{db}.projections")
        assert projections.compare_runs(view, "run-a", "run-b").differences == WANT
    assert projections.compare_runs(projections.open_built(f"{db}.projections"), "run-a", "run-b").differences is None


def test_a_document_rewritten_under_the_projections_is_refused(db: Path) -> None:
    import hashlib

    from auditlog.errors import IntegrityError
    from tests.tampering import as_holder

    with AuditLog.open(db, create=False) as log:
        projections.open(log, f"{db}.projections")  # folded as recorded
    with as_holder(db) as con:
        seq, body = next(row for row in con.execute("SELECT seq, body FROM events") if b"2.4.1" in row[1])
        changed = body.replace(b"2.4.1", b"2.4.2")
        con.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?", (changed, hashlib.sha256(changed).hexdigest(), seq))
    with AuditLog.open(db, create=False) as log:
        view = projections.open_built(f"{db}.projections").using(log)
        with pytest.raises(IntegrityError, match="run-b"):
            projections.compare_runs(view, "run-a", "run-b")
