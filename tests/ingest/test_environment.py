"""An ingested run's environment is what its file says (`recorded_by` the tool), not the ingesting
machine's; and it is outside the submitted document, so re-ingesting is a retry, also for a run an
older auditlog recorded without it (issue 17). Through the real CLI, on real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration import cli_support as s


def _runs(db: Path) -> list[dict[str, Any]]:
    events = [json.loads(line)["event"] for line in s.ok("events", "--log", db, "-o", "jsonl").out.splitlines()]
    return [e["data"] for e in events if e["type"] == "run.recorded"]


LM_EVAL = "lm-eval/results_2024-06-17T15-44-37.867068.json"  # 0.4.2: transformers_version and pretty_env_info
INSPECT = "inspect/log_formats.eval"


@pytest.mark.parametrize("kind, name, expected", [
    ("lm-eval", LM_EVAL, {"recorded_by": "lm-eval", "python": "3.12.3",
                          "packages": {"numpy": "1.26.4", "torch": "2.3.1", "transformers": "4.41.2"}}),
    ("lm-eval", "lm-eval/results_2025-06-30T19-40-09.461247.json", None),
    ("inspect", INSPECT, {"recorded_by": "inspect_ai",
                          "packages": {"inspect-ai": "0.3.41.dev123+g9ad2119a.d20241015"}}),
])
def test_the_file_says_the_environment(outputs: Path, tmp_path: Path, kind: str, name: str,
                                       expected: dict[str, Any] | None) -> None:
    db = tmp_path / "l.db"
    s.ok("ingest", kind, outputs / name, "--log", db)
    [data] = _runs(db)
    env = data["run"]["environment"]
    if expected is None:  # 0.4.8: lm_eval_version besides the pip list
        assert env["recorded_by"] == "lm-eval" and env["packages"]["lm-eval"] == "0.4.8"
        assert env["packages"]["transformers"] == "4.52.4" and env["python"] == "3.10.18"
    else:
        assert env == expected  # nothing of the machine that ingested it
    # the submitted document is the run without what was filled in: the environment is not in it
    shown = s.ok("ingest", kind, outputs / name, "--print").json()
    assert shown["environment"] == env
    again = s.ok("ingest", kind, outputs / name, "--log", db)
    assert "already recorded" in again.out and len(_runs(db)) == 1


def test_junit_says_nothing_of_its_environment_so_it_is_captured(outputs: Path, tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    s.ok("ingest", "junit", outputs / "junit" / "report.xml", "--project", "unit", "--model", "agent", "--log", db)
    [data] = _runs(db)
    assert data["run"]["environment"]["recorded_by"] == "auditlog"
    assert "auditlog-evals" in data["run"]["environment"]["packages"]


@pytest.mark.parametrize("kind, name", [("lm-eval", LM_EVAL), ("inspect", INSPECT)])
def test_a_run_an_older_auditlog_ingested_is_a_retry(outputs: Path, tmp_path: Path, kind: str, name: str) -> None:
    """An older auditlog submitted the document without an environment and captured its machine's:
    the same document appended so stands for it (same document_sha256)."""
    db = tmp_path / "l.db"
    older = s.ok("ingest", kind, outputs / name, "--print").json()
    del older["environment"]
    s.ok("append", "run", s.write_json(tmp_path / "older.json", older), "--log", db)
    [before] = _runs(db)
    assert before["run"]["environment"]["recorded_by"] == "auditlog"
    fp = s.fingerprint(db)
    again = s.ok("ingest", kind, outputs / name, "--log", db)
    assert "already recorded at seq 1" in again.out
    assert s.fingerprint(db) == fp and _runs(db) == [before]
    # a different document under the same run id is still a conflict
    changed = s.cli("ingest", kind, outputs / name, "--log", db, "--tag", "x=y")
    s.one_line_error(changed, 5, "already recorded")
