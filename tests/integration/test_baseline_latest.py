"""Which run `--baseline-latest` (and `append run --gate-against latest`) chooses: only a run recorded
before the candidate, never a later one, and never one carrying a tag given to
`--baseline-exclude-tag` (an incomplete inspect log is tagged inspect_status=cancelled or error).
Through the real CLI, on the real tool outputs of the new-user review."""

from __future__ import annotations

import json
from pathlib import Path

from auditlog.app.gating import BaselineChoice, gate
from auditlog.app.verified import open_view
from auditlog.errors import InvalidInput
from auditlog.services.log import AuditLog
from tests.ingest.ingest_support import EVAL_OUTPUTS
from tests.support.cli import cli

REPORT = EVAL_OUTPUTS / "junit" / "report.xml"
INSPECT = EVAL_OUTPUTS / "inspect"
FULL = INSPECT / "2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"  # 10 samples, success
CANCELLED = INSPECT / "edge" / "2025-05-12T20-28-13-04-00_popularity.json"  # 3 samples, status cancelled
CANCELLED_RUN = "openai/gpt-4o-mini::popularity::inspect@VnKtvCqGnnegLQ7qSBFDzx"
FULL_RUN = "openai/gpt-4o-mini::popularity::inspect@2wRuCQ9hGYaGPyAdoobgYV/mj7khqpMM4GBCfVQozKgzB"


def ingest_junit(cwd: Path, run_id: str) -> None:
    done = cli("ingest", "junit", str(REPORT), "--project", "unit", "--model", "m", "--run-id", run_id,
               "--tag", "branch=main", "--log", "bl.db", cwd=cwd)
    assert done.code == 0, done


def verdicts(cwd: Path, db: str) -> list[dict]:
    events = [json.loads(line)["event"] for line in cli("events", "--log", db, cwd=cwd).out.splitlines()]
    return [e["data"]["verdict"] for e in events if e["type"] == "verdict.recorded"]


def test_the_older_run_is_gated_against_no_later_run(tmp_path):
    ingest_junit(tmp_path, "ci-1")
    ingest_junit(tmp_path, "ci-2")
    older = cli("gate", "ci-1", "--baseline-latest", "--baseline-tag", "branch=main", "--min-items", "2",
                "--no-baseline", "review", "--log", "bl.db", cwd=tmp_path)
    assert older.code == 11, older  # no earlier run: the --no-baseline rule, not ci-2
    assert "baseline: none (no earlier active run of project 'unit' and model 'm' with those tags" in older.out
    assert [v["baseline_run_id"] for v in verdicts(tmp_path, "bl.db")] == [None]
    newer = cli("gate", "ci-2", "--baseline-latest", "--baseline-tag", "branch=main", "--min-items", "2",
                "--log", "bl.db", cwd=tmp_path)
    assert newer.code == 0 and "baseline: ci-1 (latest active run of unit/m, branch=main)" in newer.out, newer
    assert [v["baseline_run_id"] for v in verdicts(tmp_path, "bl.db")] == [None, "ci-1"]


def test_a_retried_append_gates_against_the_run_before_it_not_after(tmp_path):
    """`append run --gate-against latest` of a run already in the log (a retried step) after a later run
    was recorded: the baseline is the run before it."""
    items = [{"item_id": f"t{i}", "score": 1.0, "passed": True} for i in range(10)]
    for run_id in ("r1", "r2", "r3"):
        (tmp_path / f"{run_id}.json").write_text(json.dumps({"run_id": run_id, "project_id": "p", "model_id": "m",
                                                              "items": items}))
        assert cli("append", "run", f"{run_id}.json", "--log", "e.db", cwd=tmp_path).code == 0
    retried = cli("append", "run", "r2.json", "--gate-against", "latest", "--log", "e.db", cwd=tmp_path)
    assert retried.code == 0 and "baseline: r1 (latest active run of p/m)" in retried.out, retried


def ingest_inspect(cwd: Path, path: Path, *extra: str) -> None:
    done = cli("ingest", "inspect", str(path), *extra, "--log", "c.db", cwd=cwd)
    assert done.code == 0, done


def test_an_incomplete_run_can_be_excluded_from_the_latest_choice(tmp_path):
    ingest_inspect(tmp_path, FULL)
    ingest_inspect(tmp_path, CANCELLED, "--allow-incomplete")
    ingest_inspect(tmp_path, FULL, "--run-id", "cand-1")
    plain = cli("gate", "cand-1", "--baseline-latest", "--no-baseline", "review", "--log", "c.db", cwd=tmp_path)
    assert plain.code == 11 and f"baseline: {CANCELLED_RUN} " in plain.out, plain  # the review's case
    done = cli("gate", "cand-1", "--baseline-latest", "--baseline-exclude-tag", "inspect_status=cancelled",
               "--baseline-exclude-tag", "inspect_status=error", "--log", "c.db", cwd=tmp_path)
    assert done.code == 0, done
    assert (f"baseline: {FULL_RUN} (latest active run of popularity/openai/gpt-4o-mini, "
            "not inspect_status=cancelled, not inspect_status=error)") in done.out
    assert "n 10" in done.out
    assert [v["baseline_run_id"] for v in verdicts(tmp_path, "c.db")] == [CANCELLED_RUN, FULL_RUN]


def test_append_run_excludes_tags_too(tmp_path):
    items = [{"item_id": f"t{i}", "score": 1.0, "passed": True} for i in range(10)]
    for run_id, tags in (("good", {}), ("partial", {"inspect_status": "error"}), ("cand", {})):
        (tmp_path / f"{run_id}.json").write_text(json.dumps({"run_id": run_id, "project_id": "p", "model_id": "m",
                                                              "items": items, "tags": tags}))
    for run_id in ("good", "partial"):
        assert cli("append", "run", f"{run_id}.json", "--log", "e.db", cwd=tmp_path).code == 0
    done = cli("append", "run", "cand.json", "--gate-against", "latest", "--baseline-exclude-tag",
               "inspect_status=error", "--log", "e.db", cwd=tmp_path)
    assert done.code == 0 and "baseline: good (latest active run of p/m, not inspect_status=error)" in done.out, done


def test_exclude_tag_refusals_write_nothing(tmp_path):
    ingest_junit(tmp_path, "ci-1")
    ingest_junit(tmp_path, "ci-2")
    size = len(cli("events", "--log", "bl.db", cwd=tmp_path).out.splitlines())
    for args, says in (
            (["--baseline", "ci-1", "--baseline-exclude-tag", "branch=pr"],
             "--baseline-exclude-tag: goes with --baseline-latest"),
            (["--baseline-latest", "--baseline-exclude-tag", "branch"],
             "--baseline-exclude-tag: 'branch' is not KEY=VALUE"),
            (["--baseline-latest", "--baseline-tag", "branch=main", "--baseline-exclude-tag", "branch=main"],
             "--baseline-exclude-tag: branch=main is also required by --baseline-tag: no run could be chosen")):
        done = cli("gate", "ci-2", *args, "--log", "bl.db", cwd=tmp_path)
        assert done.code == 2 and done.err.strip() == f"auditlog: error: {says}", done
    (tmp_path / "r.json").write_text(json.dumps({"run_id": "r", "project_id": "unit", "model_id": "m",
                                                 "items": [{"item_id": "a", "score": 1.0, "passed": True}]}))
    done = cli("append", "run", "r.json", "--gate-against", "pinned", "--baseline-exclude-tag", "a=b",
               "--log", "bl.db", cwd=tmp_path)
    assert done.code == 2 and done.err.strip() == ("auditlog: error: --baseline-exclude-tag: goes with "
                                                   "--gate-against latest"), done
    assert len(cli("events", "--log", "bl.db", cwd=tmp_path).out.splitlines()) == size


def test_the_python_api_takes_exclusions_as_a_mapping(tmp_path):
    ingest_inspect(tmp_path, FULL)
    ingest_inspect(tmp_path, CANCELLED, "--allow-incomplete")
    ingest_inspect(tmp_path, FULL, "--run-id", "cand-1")
    with AuditLog.open(tmp_path / "c.db", create=False) as log:
        view = open_view(log, tmp_path / "c.db")
        gated = gate(log, view, "cand-1", BaselineChoice(latest=True,
                                                         exclude_tags={"inspect_status": ("cancelled", "error")}))
        assert gated.baseline.run_id == FULL_RUN and gated.result.n_paired == 10
        try:
            gate(log, view, "cand-1", BaselineChoice(latest=True, exclude_tags={"inspect_status": "cancelled"}))
        except InvalidInput as error:
            assert error.field == "--baseline-exclude-tag" and "not the string 'cancelled'" in error.reason
        else:
            raise AssertionError("a bare string of values was taken")


def test_a_retried_gate_whose_baseline_was_superseded_since_is_not_a_first_run(tmp_path):
    """ci-1 is ci-2's baseline; ci-1 is then re-run as ci-3 (after ci-2) and superseded by it. A retried gate
    of ci-2 finds no earlier active run, but earlier runs exist: it must not get the first-run ALLOW."""
    ingest_junit(tmp_path, "ci-1")
    ingest_junit(tmp_path, "ci-2")
    first = cli("gate", "ci-2", "--baseline-latest", "--min-items", "2", "--log", "bl.db", cwd=tmp_path)
    assert first.code == 0 and "baseline: ci-1" in first.out, first
    ingest_junit(tmp_path, "ci-3")
    assert cli("supersede", "ci-1", "--by", "ci-3", "--reason", "re-run", "--log", "bl.db", cwd=tmp_path).code == 0
    retried = cli("gate", "ci-2", "--baseline-latest", "--min-items", "2", "--log", "bl.db", cwd=tmp_path)
    assert retried.code == 3, retried
    assert "every earlier run of unit/m is superseded (the latest, 'ci-1', by 'ci-3')" in retried.err
    assert [v["baseline_run_id"] for v in verdicts(tmp_path, "bl.db")] == ["ci-1"]  # nothing recorded
