"""The verdict computed elsewhere (`computed_by`): accepted with its figures and no baseline, folded,
and still refused where it would hide a mistake."""

from __future__ import annotations

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
