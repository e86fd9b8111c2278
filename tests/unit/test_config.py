"""The pure project configuration (evals/config.py): options parsed, event data round-tripped, runs checked."""

from __future__ import annotations

import json
import re

import pytest

from auditlog.core.encoding import canonical_bytes
from auditlog.errors import InvalidInput
from auditlog.evals.config import (
    Bounds,
    ProjectConfig,
    from_data,
    parse_bounds,
    parse_metric_names,
    parse_names,
    violations,
)


def test_options_parse_into_a_configuration_whose_data_round_trips() -> None:
    bounds = parse_bounds(["accuracy=0..1, latency_ms=0..", "loss=..2.5", "delta=-1e-3..1e-3"])
    assert bounds == {"accuracy": Bounds(0.0, 1.0), "latency_ms": Bounds(0.0, None), "loss": Bounds(None, 2.5),
                      "delta": Bounds(-0.001, 0.001)}
    config = ProjectConfig().replaced(groups=parse_names("candidate, baseline", "--groups"),
                                      lower_is_better=parse_names("", "--lower-is-better"), metric_bounds=bounds)
    assert config.groups == ("baseline", "candidate") and config.lower_is_better == ()
    data = config.to_data()
    assert list(data["metric_bounds"]) == ["accuracy", "delta", "latency_ms", "loss"]
    read_back = from_data(json.loads(canonical_bytes(data)))  # as an event's bytes give it back
    assert read_back == config and canonical_bytes(read_back.to_data()) == canonical_bytes(data)
    assert config.describe() == ("groups=baseline,candidate metric_bounds=accuracy=0..1,delta=-0.001..0.001,"
                                 "latency_ms=0..,loss=..2.5")
    assert ProjectConfig().describe() == "(none)" and ProjectConfig().empty


@pytest.mark.parametrize("data", [
    {}, {"groups": [], "lower_is_better": []}, {"groups": "a", "lower_is_better": [], "metric_bounds": {}},
    {"groups": ["a", "a"], "lower_is_better": [], "metric_bounds": {}},
    {"groups": [], "lower_is_better": [], "metric_bounds": {"m": {"min": None, "max": None}}},
    {"groups": [], "lower_is_better": [], "metric_bounds": {"m": {"min": 2, "max": 1}}},
    {"groups": [], "lower_is_better": [], "metric_bounds": {"m": {"min": "0", "max": 1}}},
    {"groups": [], "lower_is_better": [], "metric_bounds": {"m": {"min": 0}}},
    {"groups": [], "lower_is_better": [], "metric_bounds": {}, "extra": 1},
])
def test_event_data_that_is_not_a_configuration_is_refused(data) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput):
        from_data(data)


def test_a_run_is_checked_and_its_violations_listed() -> None:
    config = ProjectConfig(groups=("a",), metric_bounds=(("acc", Bounds(0.0, 1.0)),))
    run = {"project_id": "p", "experiment": {"id": "e", "group": "a"}, "metrics": {"acc": 1.0}}
    config.check_run(run)  # the bounds are inclusive
    config.check_run({"project_id": "p"})  # no group, no metric: nothing to refuse
    assert violations(run, 3, (3, config)) == [] and violations(run, None, None) == []
    bad = {"project_id": "p", "experiment": {"id": "e", "group": "b"}, "metrics": {"acc": 1.5}}
    with pytest.raises(InvalidInput) as refused:
        config.check_run(bad)
    assert refused.value.field == "$.experiment.group"
    found = violations(dict(bad, experiment={"id": "e", "group": "a"}), None, (3, config))
    assert found[0].startswith("config_seq: the run names none;") and found[1].startswith("$.metrics.acc: 1.5")
    assert violations(run, 3, None)[0].startswith("config_seq: the run names 3; the configuration in force when "
                                                  "it was recorded was none")


def test_lm_eval_metric_names_keep_their_comma() -> None:
    """auditlog records lm-eval's metrics as `<task>/<metric>,<filter>` (docs/ingest.md): such a value
    is one name; a value whose parts have no `/` is the earlier comma-separated list; repeats add up."""
    lower = "--lower-is-better"
    assert parse_metric_names(["polymer_tg_prediction/mae,none"], lower) == ["polymer_tg_prediction/mae,none"]
    assert parse_metric_names(["gsm8k/exact_match,strict-match", "latency_ms, cost_usd", "judge/cost", ""],
                              lower) == ["gsm8k/exact_match,strict-match", "latency_ms", "cost_usd", "judge/cost"]
    assert parse_metric_names("", lower) == [] and parse_metric_names("a,b", lower) == ["a", "b"]
    assert parse_names(["a,b", "c", ""], "--groups") == ["a", "b", "c"]
    assert parse_bounds(["negotiationtom/acc,none=0..1,accuracy=0..1", "gsm8k/exact_match,strict-match=0.5.."]) == {
        "negotiationtom/acc,none": Bounds(0.0, 1.0), "accuracy": Bounds(0.0, 1.0),
        "gsm8k/exact_match,strict-match": Bounds(0.5, None)}


@pytest.mark.parametrize(("parse", "value", "reason"), [
    (parse_metric_names, "judge/latency,judge/cost", "'judge/latency,judge/cost' is ambiguous"),
    (parse_metric_names, "latency_ms,task/mae,none", "is ambiguous"),
    (parse_metric_names, "task/mae,none,extra", "is ambiguous"),
    (parse_bounds, "accuracy=0..1,latency_ms,cost_usd=0..", "'latency_ms' has no =LO..HI"),
    (parse_bounds, "task/acc,none", "is not NAME=LO..HI"),
    (parse_bounds, "task/acc,none=0..1,task/acc,none=0..2", "'task/acc,none' is bounded twice"),
])
def test_a_comma_that_could_be_read_two_ways_is_refused(parse, value, reason) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput, match=re.escape(reason)):
        parse([value], "--opt")
