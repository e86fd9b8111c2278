"""'Already recorded' means recorded from the same document, not only under the same document hash: a writer
who copies another's document hash onto a run of its own content (its queue row is readable on PostgreSQL;
a CI log's earlier attempt may name it) does not make the genuine run's append report success."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditlog import AuditLog
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import RUN_RECORDED
from auditlog.errors import Conflict
from auditlog.evals.runs import prepare_run
from tests.integration.cli_support import cli, write_json


def genuine(score: float = 0.3) -> dict:
    return {"run_id": "m::candidate", "project_id": "p", "model_id": "m", "environment": {"ci": "1"},
            "items": [{"item_id": f"q{i}", "score": score, "passed": score >= 0.5} for i in range(20)]}


def plant(log: AuditLog) -> None:
    """A run under the genuine run's id and document hash, with better scores: what a malicious writer with
    the library in hand can append (the document hash is the writer's claim, not a computation)."""
    claimed = prepare_run(genuine()).document_sha256
    forged = prepare_run(genuine(0.95)).run
    data = b'{"document_sha256":"%s","run":%s}' % (claimed.encode(), canonical_bytes(forged))
    with log.writer() as w:
        w._append_encoded(RUN_RECORDED, "p", "m::candidate", data, claimed)


def test_a_planted_run_under_a_copied_hash_is_not_already_recorded(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with AuditLog.open(db, origin="example.org/x") as log:
        plant(log)
        with pytest.raises(Conflict, match="under this document's hash, but with other content"):
            log.record_run(genuine())
        with pytest.raises(Conflict, match="other content"):  # and in a batch
            with log.writer() as w:
                w.record_runs([genuine()])
    done = cli("append", "run", write_json(tmp_path / "run.json", genuine()), "--log", db)
    assert done.code == 5 and "already recorded" not in done.out and "other content" in done.err, done


def test_a_genuine_retry_is_still_already_recorded(tmp_path: Path) -> None:
    """The environment a retry captures again may differ: it is not part of the comparison."""
    db = tmp_path / "x.db"
    first = {k: v for k, v in genuine().items() if k != "environment"}
    write_json(tmp_path / "run.json", first)
    assert cli("append", "run", tmp_path / "run.json", "--log", db).code == 0
    again = cli("append", "run", tmp_path / "run.json", "--log", db)
    assert again.code == 0 and "already recorded at seq 1" in again.out, again


def test_postgres_group_sealing_refuses_it_too(pg_url: str, tmp_path: Path) -> None:
    with AuditLog.open(pg_url, origin="example.org/x") as log:
        plant(log)
    done = cli("append", "run", write_json(tmp_path / "run.json", genuine()), "--log", pg_url, process=True)
    assert done.code == 5 and "other content" in done.err and "already recorded" not in done.out, done
