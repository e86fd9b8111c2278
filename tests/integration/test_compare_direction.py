"""Which way `compare` calls better for a metric: the project's configuration, else what the harness
recorded in the runs (lm-eval's higher_is_better), none for a standard error, else the guess by name.
The new-user review's case: lm-eval `mae` was labelled "better: higher" and its improvement signed
so, though the recorded run says `higher_is_better.<task>.mae = false`."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from projections.direction import direction, recorded_directions
from tests.ingest.ingest_support import EVAL_OUTPUTS
from tests.support.cli import cli

LM_EVAL = EVAL_OUTPUTS / "lm-eval"
MATERIALS = LM_EVAL / "results_2025-06-30T19-37-57.457759.json"
POLYMER = LM_EVAL / "results_2025-06-30T19-40-09.461247.json"
MATERIALS_RUN = "gpt-4o-mini::materials::lm-eval@2025-06-30T23:32:51.549775Z"
POLYMER_RUN = "gpt-4o-mini::polymer_tg_prediction::lm-eval@2025-06-30T23:39:56.890493Z"


def figures(cwd: Path, a: str, b: str) -> dict[str, dict]:
    done = cli("compare", a, b, "--log", "e.db", "--output", "json", cwd=cwd)
    assert done.code == 0, done
    return {f["name"]: f for f in done.json()["figures"]}


def test_real_lm_eval_runs_mae_is_lower_and_stderr_has_no_direction(tmp_path):
    for path, extra in ((MATERIALS, ["--project", "materials"]), (POLYMER, [])):
        assert cli("ingest", "lm-eval", str(path), *extra, "--log", "e.db", cwd=tmp_path).code == 0
    table = cli("compare", POLYMER_RUN, MATERIALS_RUN, "--log", "e.db", cwd=tmp_path).out
    [mae] = [line for line in table.splitlines() if line.startswith("metrics.pxrd_lattice_prediction/mae,none")]
    assert mae.split()[-1] == "lower", mae
    [stderr] = [line for line in table.splitlines() if "pxrd_lattice_prediction/mae_stderr,none" in line]
    assert stderr.split()[-1] == "0.4909", stderr  # the value only: no "higher"/"lower" after it
    shown = figures(tmp_path, POLYMER_RUN, MATERIALS_RUN)
    assert shown["metrics.pxrd_lattice_prediction/mae,none"]["lower_is_better"] is True
    assert shown["metrics.pxrd_lattice_prediction/mae_stderr,none"]["lower_is_better"] is None
    accuracy = [n for n in shown if n.endswith("/exact_match,none")]
    assert accuracy and all(shown[n]["lower_is_better"] is False for n in accuracy)


def run(path: Path, run_id: str, mae: float, higher: bool | None = False) -> Path:
    doc = {"run_id": run_id, "project_id": "p", "model_id": "m",
           "metrics": {"t/mae,none": mae, "t/mae_stderr,none": mae / 10, "t/error_rate,none": mae / 10}}
    if higher is not None:
        doc["config"] = {"lm_eval": {"higher_is_better": {"t": {"mae": higher, "error_rate": True}}}}
    (path / f"{run_id}.json").write_text(json.dumps(doc))
    assert cli("append", "run", f"{run_id}.json", "--log", "e.db", cwd=path).code == 0
    return path


def test_a_smaller_error_is_an_improvement_when_the_harness_says_lower_is_better(tmp_path):
    run(tmp_path, "a", 4.0)
    run(tmp_path, "b", 3.0)
    shown = figures(tmp_path, "a", "b")
    mae = shown["metrics.t/mae,none"]
    assert (mae["delta"], mae["lower_is_better"], mae["improvement"]) == (-1.0, True, 1.0)
    stderr = shown["metrics.t/mae_stderr,none"]
    assert stderr["delta"] == pytest.approx(-0.1) and stderr["lower_is_better"] is None and stderr["improvement"] is None
    # the harness's word beats the guess by name ("error" in the name says lower)
    assert shown["metrics.t/error_rate,none"]["lower_is_better"] is False


def test_the_project_configuration_comes_first_and_the_guess_by_name_last(tmp_path):
    run(tmp_path, "a", 4.0, higher=True)  # a harness that says higher for mae
    run(tmp_path, "b", 3.0, higher=True)
    assert figures(tmp_path, "a", "b")["metrics.t/mae,none"]["improvement"] == -1.0
    assert cli("project", "configure", "p", "--lower-is-better", "t/mae,none", "--log", "e.db", cwd=tmp_path).code == 0
    mae = figures(tmp_path, "a", "b")["metrics.t/mae,none"]
    assert (mae["lower_is_better"], mae["improvement"]) == (True, 1.0)
    plain = tmp_path / "plain"
    plain.mkdir()
    run(plain, "a", 4.0, higher=None)  # nothing recorded: the guess by name ("mae" says nothing: higher)
    run(plain, "b", 3.0, higher=None)
    shown = figures(plain, "a", "b")
    assert shown["metrics.t/mae,none"]["lower_is_better"] is False
    assert shown["metrics.t/error_rate,none"]["lower_is_better"] is True
    assert shown["metrics.t/mae_stderr,none"]["lower_is_better"] is None


def test_runs_that_disagree_leave_the_metric_to_the_next_rule():
    recorded = recorded_directions([
        {"config": {"lm_eval": {"higher_is_better": {"t": {"mae": False, "acc": True}}}}},
        {"config": {"lm_eval": {"higher_is_better": {"t": {"mae": True, "acc": True}}}}}])
    assert recorded == {"t/acc": True}
    assert direction("metrics.t/mae,none", None, recorded) == "higher"  # the guess by name
    assert direction("metrics.t/acc_stderr,none", ["acc_stderr,none"], recorded) == "lower"  # declared
    assert direction("latency_ms") == "lower" and direction("pass_rate") == "higher"


def test_an_unchanged_lower_is_better_figure_improves_by_zero_not_minus_zero(tmp_path):
    """-(0.0) is -0.0: compare showed "-0.000" (and -0.0 in JSON and CSV) for a lower-is-better metric
    that did not change, which reads as a regression (new-user review 2, finding 11)."""
    run(tmp_path, "a", 2.5)
    run(tmp_path, "b", 2.5)
    mae = figures(tmp_path, "a", "b")["metrics.t/mae,none"]
    assert mae["lower_is_better"] is True and mae["delta"] == 0 and mae["improvement"] == 0
    assert math.copysign(1, mae["improvement"]) == 1 and math.copysign(1, mae["delta"]) == 1
    raw = cli("compare", "a", "b", "--log", "e.db", "--output", "json", cwd=tmp_path).out
    assert "-0.0" not in raw
    csv_row = next(r for r in csv.reader(io.StringIO(cli("compare", "a", "b", "--log", "e.db", "--output", "csv",
                                                          cwd=tmp_path).out)) if r and r[0] == "metrics.t/mae,none")
    assert "-0.0" not in csv_row and csv_row[-1] in {"0.0", "0"}, csv_row
    table = cli("compare", "a", "b", "--log", "e.db", cwd=tmp_path).out
    [line] = [line for line in table.splitlines() if line.startswith("metrics.t/mae,none")]
    assert line.split()[-2:] == ["lower", "0.000"], line
