"""The verdict computed elsewhere (`computed_by`): accepted with its figures and no baseline, folded,
and still refused where it would hide a mistake."""

from __future__ import annotations

import json

import pytest

from auditlog.errors import InvalidInput
from auditlog.evals.runs import normalize_verdict
from tests.support.cli import cli

ELSEWHERE = {"run_id": "cand", "baseline_run_id": None, "metric": "accuracy", "verdict": "BLOCK",
             "delta": -0.25, "p_value": 0.2, "computed_by": "evalsig"}


def test_figures_without_a_baseline_are_kept_when_another_tool_computed_them():
    verdict, _sha = normalize_verdict(ELSEWHERE)
    assert verdict == ELSEWHERE


@pytest.mark.parametrize(("change", "field"), [
    ({"computed_by": None}, "$.delta"),  # without computed_by the old rule stands: no figures without a baseline
    ({"computed_by": ""}, "$.computed_by"),
    ({"computed_by": "evil\u202etool"}, "$.computed_by"),
    ({"computed_by": 3}, "$.computed_by"),
    ({"p_value": 1.5}, "$.p_value"),
])
def test_what_is_still_refused(change, field):
    doc = {**ELSEWHERE, **change}
    if change.get("computed_by", "x") is None:
        del doc["computed_by"]
    with pytest.raises(InvalidInput) as refused:
        normalize_verdict(doc)
    assert refused.value.field == field


def test_history_and_the_verdicts_export_fold_it(store, tmp_path):
    db = tmp_path / "a.db"
    assert cli("import", "evalsig", store, "--log", db).code == 0
    history = {r["run_id"]: r for r in cli("history", "--log", db, "--output", "json").json()}
    assert (history["cand"]["verdict"], history["worse"]["verdict"], history["base"]["verdict"]) == (
        "ALLOW", "BLOCK", None)
    verdicts = cli("export", "--log", db, "--what", "verdicts", "--format", "json")
    assert verdicts.code == 0, verdicts
    worse = next(v for v in verdicts.json() if v["run_id"] == "worse")
    assert (worse["baseline_run_id"], worse["delta"], worse["p_value"]) == (None, -0.25, 0.2)
    assert cli("projections", "rebuild", "--log", db).code == 0
    again = {r["run_id"]: r for r in cli("history", "--log", db, "--output", "json").json()}
    assert again == history


def test_history_marks_a_verdict_computed_elsewhere(store, tmp_path):
    """history's records carry `verdict_computed_by`, its table says "BLOCK (evalsig)", the verdicts table
    `computed_by`; a later verdict auditlog's own gate recorded is the run's, and is not marked."""
    db = tmp_path / "a.db"
    assert cli("import", "evalsig", store, "--log", db).code == 0
    records = {r["run_id"]: r for r in cli("history", "--log", db, "--output", "json").json()}
    assert {k: (r["verdict"], r["verdict_computed_by"]) for k, r in records.items()} == {
        "cand": ("ALLOW", "evalsig"), "worse": ("BLOCK", "evalsig"), "base": (None, None), "solo": (None, None)}
    table = cli("history", "--log", db).out
    assert "BLOCK (evalsig)" in table and "ALLOW (evalsig)" in table
    verdicts = cli("export", "--log", db, "--what", "verdicts", "--format", "json").json()
    assert {v["computed_by"] for v in verdicts} == {"evalsig"}
    ours = {"run_id": "worse", "baseline_run_id": "base", "metric": "accuracy", "delta": -0.1, "p_value": 0.04,
            "verdict": "NEEDS_REVIEW", "reason": "re-gated here"}
    assert cli("append", "verdict", "-", "--log", db, input=json.dumps(ours)).code == 0
    worse = next(r for r in cli("history", "--log", db, "--output", "json").json() if r["run_id"] == "worse")
    assert (worse["verdict"], worse["verdict_computed_by"]) == ("NEEDS_REVIEW", None)
    lines = cli("history", "--log", db).out.splitlines()
    assert "NEEDS_REVIEW" in next(line for line in lines if line.startswith("worse"))
    assert "(evalsig)" not in next(line for line in lines if line.startswith("worse"))
