"""What the gate refuses before it records anything, through the real CLI and the use case: a run
as its own baseline (given, pinned, or `append run --gate-against`), and a run without items,
with a baseline or without one (whatever --no-baseline says). Each refusal is exit 2, one line
naming the option or field, and no verdict event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditlog.app.gating import BaselineChoice, gate
from auditlog.app.verified import open_view
from auditlog.errors import InvalidInput
from auditlog.services.log import AuditLog
from tests.ingest.ingest_support import EVAL_OUTPUTS
from tests.support.cli import Result, cli

# lm-eval results without per-sample files: a run of 0 items (the new-user review's case)
NO_SAMPLES = EVAL_OUTPUTS / "lm-eval" / "results_2024-08-21T03-44-09.494230.json"
NO_SAMPLES_RUN = "meta-llama/Meta-Llama-3-8B-Instruct::asdiv::lm-eval@2024-08-21T03:43:56.101268Z"
NO_ITEMS = "candidate $.items: the run has no items"


def run_doc(path: Path, run_id: str, n: int = 20) -> Path:
    items = [{"item_id": f"t{i}", "score": 1.0, "passed": True} for i in range(n)]
    path.write_text(json.dumps({"run_id": run_id, "project_id": "p", "model_id": "m", "items": items}))
    return path


def size(workspace: Path) -> int:
    with AuditLog.open(workspace / "e.db", create=False) as log:
        return log.head().size


def verdicts(workspace: Path) -> int:
    return cli("events", "--log", "e.db", cwd=workspace).out.count('"type":"verdict.recorded"')


def one_line(done: Result, says: str) -> bool:
    err = done.err.strip()
    return len(err.splitlines()) == 1 and err.startswith(f"auditlog: error: {says}")


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    for run_id in ("base", "cand"):
        run_doc(tmp_path / f"{run_id}.json", run_id)
        assert cli("append", "run", f"{run_id}.json", "--log", "e.db", cwd=tmp_path).code == 0
    return tmp_path


# -- a run is never its own baseline ------------------------------------------------------------


def test_a_run_given_as_its_own_baseline_is_refused(two_runs):
    before = size(two_runs)
    done = cli("gate", "cand", "--baseline", "cand", "--log", "e.db", cwd=two_runs)
    assert done.code == 2 and one_line(done, "--baseline: a run cannot be its own baseline"), done
    assert size(two_runs) == before and verdicts(two_runs) == 0


def test_a_pinned_baseline_that_is_the_candidate_is_refused(two_runs):
    assert cli("baseline", "pin", "cand", "--project", "p", "--log", "e.db", cwd=two_runs).code == 0
    before = size(two_runs)
    done = cli("gate", "cand", "--baseline", "pinned", "--log", "e.db", cwd=two_runs)
    assert done.code == 2 and one_line(done, "--baseline pinned: the pinned baseline of project 'p' is 'cand' "
                                             "itself: a run cannot be its own baseline"), done
    assert size(two_runs) == before and verdicts(two_runs) == 0
    other = cli("gate", "base", "--baseline", "pinned", "--log", "e.db", cwd=two_runs)  # the pin gates others
    assert other.code == 0 and "baseline: cand (pinned)" in other.out, other
    latest = cli("gate", "cand", "--baseline-latest", "--log", "e.db", cwd=two_runs)  # never the candidate
    assert latest.code == 0 and "baseline: base (latest active run of p/m)" in latest.out, latest


def test_append_run_gated_against_itself_writes_nothing(tmp_path):
    run_doc(tmp_path / "cand.json", "cand")
    done = cli("append", "run", "cand.json", "--gate-against", "cand", "--log", "e.db", cwd=tmp_path)
    assert done.code == 2 and one_line(done, "--gate-against: a run cannot be its own baseline"), done
    assert not (tmp_path / "e.db").exists()


def test_the_use_case_refuses_it_too(two_runs):
    assert cli("baseline", "pin", "cand", "--project", "p", "--log", "e.db", cwd=two_runs).code == 0
    before = size(two_runs)
    with AuditLog.open(two_runs / "e.db", create=False) as log:
        view = open_view(log, two_runs / "e.db")
        with pytest.raises(InvalidInput, match="a run cannot be its own baseline") as given:
            gate(log, view, "cand", BaselineChoice("cand"), no_baseline="allow")
        with pytest.raises(InvalidInput, match="is 'cand' itself") as pinned:
            gate(log, view, "cand", BaselineChoice("pinned"), no_baseline="allow")
    assert (given.value.field, pinned.value.field) == ("--baseline", "--baseline pinned")
    assert size(two_runs) == before


# -- a run without items is refused, with a baseline or without -----------------------------------


@pytest.mark.parametrize("baseline", [["--baseline-latest"], ["--baseline", "pinned"], ["--baseline", "base"]],
                         ids=" ".join)
@pytest.mark.parametrize("rule", ["allow", "review", "block"])
def test_a_run_without_items_is_refused_with_or_without_a_baseline(tmp_path, baseline, rule):
    if baseline == ["--baseline", "base"]:  # the others find none: a first run
        run_doc(tmp_path / "base.json", "base")
        assert cli("append", "run", "base.json", "--log", "e.db", cwd=tmp_path).code == 0
    run_doc(tmp_path / "empty.json", "empty", n=0)
    assert cli("append", "run", "empty.json", "--log", "e.db", cwd=tmp_path).code == 0
    before = size(tmp_path)
    done = cli("gate", "empty", *baseline, "--no-baseline", rule, "--log", "e.db", cwd=tmp_path)
    assert done.code == 2 and one_line(done, NO_ITEMS), done
    assert size(tmp_path) == before and verdicts(tmp_path) == 0


def test_an_lm_eval_run_without_samples_is_refused_without_a_baseline(tmp_path):
    if not NO_SAMPLES.is_file():
        pytest.skip(f"the real eval outputs are not at {EVAL_OUTPUTS}")
    ingested = cli("ingest", "lm-eval", NO_SAMPLES, "--log", "e.db", cwd=tmp_path)
    assert ingested.code == 0 and f"{NO_SAMPLES_RUN} recorded at seq 1" in ingested.out, ingested
    done = cli("gate", NO_SAMPLES_RUN, "--baseline-latest", "--log", "e.db", cwd=tmp_path)
    assert done.code == 2 and one_line(done, NO_ITEMS) and not done.out, done
    assert size(tmp_path) == 2 and verdicts(tmp_path) == 0  # the genesis and the run


def test_append_run_gated_without_items_writes_nothing(tmp_path):
    run_doc(tmp_path / "empty.json", "empty", n=0)
    done = cli("append", "run", "empty.json", "--gate-against", "latest", "--log", "e.db", cwd=tmp_path)
    assert done.code == 2 and one_line(done, NO_ITEMS), done
    assert not (tmp_path / "e.db").exists()


def test_append_run_with_a_baseline_tag_but_no_latest_baseline_writes_nothing(two_runs):
    run_doc(two_runs / "next.json", "next")
    before = size(two_runs)
    done = cli("append", "run", "next.json", "--gate-against", "base", "--baseline-tag", "branch=main",
               "--log", "e.db", cwd=two_runs)
    assert done.code == 2 and one_line(done, "--baseline-tag: goes with --gate-against latest"), done
    assert size(two_runs) == before


def test_a_hand_written_verdict_with_the_run_as_its_own_baseline_is_refused(two_runs: Path) -> None:
    verdict = {"run_id": "cand", "baseline_run_id": "cand", "metric": "pass_rate", "verdict": "ALLOW"}
    (two_runs / "v.json").write_text(json.dumps(verdict))
    before = size(two_runs)
    done = cli("append", "verdict", "v.json", "--log", "e.db", cwd=two_runs)
    assert done.code == 2 and one_line(done, "$.baseline_run_id: names the run itself"), done
    assert size(two_runs) == before and verdicts(two_runs) == 0
