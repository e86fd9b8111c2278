"""The run and verdict documents: what is refused, with which path, and what is filled in."""

from __future__ import annotations

import copy

import pytest

from auditlog.errors import InvalidInput
from auditlog.evals.runs import config_fingerprint, document_sha256, normalize_run, normalize_verdict

GOOD = {
    "project_id": "mmlu-pro", "model_id": "claude-x", "model_version": "1.2",
    "dataset": {"name": "mmlu-pro", "version": "2025.1", "sha256": "ab" * 32},
    "experiment": {"id": "exp-1", "group": "B", "version": "2"},
    "config": {"temperature": 0.0, "n_shot": 5},
    "started_at": "2026-01-01T10:00:00Z", "finished_at": "2026-01-01T10:05:00+00:00",
    "metrics": {"accuracy": 0.5, "f1": 1},
    "items": [{"item_id": "a", "score": 1.0, "passed": True, "latency_ms": 12.5, "tokens": 7, "cost_usd": 0.001,
               "error": None, "extra": {"subject": "law"}},
              {"item_id": "b", "score": 0, "passed": False}],
    "tags": {"branch": "main"},
}


def test_a_good_document_is_filled_in_and_not_mutated():
    given = copy.deepcopy(GOOD)
    run, sha = normalize_run(given, environment={"python": "3.11"})
    assert given == GOOD
    assert sha == document_sha256(GOOD)
    assert run["run_id"].startswith("claude-x::mmlu-pro::") and len(run["run_id"].rsplit("::", 1)[1]) == 12
    assert run["config_fingerprint"] == config_fingerprint({"n_shot": 5, "temperature": 0.0})
    assert run["environment"] == {"python": "3.11"}


def test_given_values_are_kept():
    run, _ = normalize_run(dict(GOOD, run_id="r1", config_fingerprint="mine", environment={"x": 1}),
                           environment={"python": "3.11"})
    assert (run["run_id"], run["config_fingerprint"], run["environment"]) == ("r1", "mine", {"x": 1})


def test_fingerprint_ignores_key_order():
    assert config_fingerprint({"a": 1, "b": [1.0, 2]}) == config_fingerprint({"b": [1, 2.0], "a": 1})


def item(**changes):
    base = {"item_id": "x", "score": 0.5, "passed": True}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize("change, path", [
    ({"project_id": ...}, "$.project_id"),
    ({"model_id": ""}, "$.model_id"),
    ({"run_id": " "}, "$.run_id"),
    ({"run_id": "r" * 513}, "$.run_id"),  # ids: at most 512 characters (documents.md)
    ({"experiment": {"id": "e" * 513}}, "$.experiment.id"),
    ({"items": [item(item_id="i" * 513)]}, "$.items[0].item_id"),
    ({"run_id": "a\x1b[31m"}, "$.run_id"),
    ({"surprise": 1}, "$.surprise"),
    ({"model_version": 3}, "$.model_version"),
    ({"dataset": {"version": "1"}}, "$.dataset.name"),
    ({"dataset": {"name": "d", "sha256": "xyz"}}, "$.dataset.sha256"),
    ({"experiment": {"group": "A"}}, "$.experiment.id"),
    ({"environment": []}, "$.environment"),
    ({"started_at": "yesterday"}, "$.started_at"),
    ({"started_at": "2026-01-01T10:00:00"}, "$.started_at"),
    ({"finished_at": "2025-12-31T10:00:00Z"}, "$.finished_at"),
    ({"metrics": {"acc": "high"}}, "$.metrics.acc"),
    ({"metrics": {"acc": float("nan")}}, "$.metrics.acc"),
    ({"metrics": {"acc": True}}, "$.metrics.acc"),
    ({"tags": {"k": 1}}, "$.tags.k"),
    ({"items": {}}, "$.items"),
    ({"items": [item(), 3]}, "$.items[1]"),
    ({"items": [item(score=1.5)]}, "$.items[0].score"),
    ({"items": [item(score=-0.1)]}, "$.items[0].score"),
    ({"items": [item(score="1")]}, "$.items[0].score"),
    ({"items": [item(score=...)]}, "$.items[0].score"),
    ({"items": [item(passed=1)]}, "$.items[0].passed"),
    ({"items": [item(), item()]}, "$.items[1].item_id"),
    ({"items": [item(item_id="")]}, "$.items[0].item_id"),
    ({"items": [item(tokens=-1)]}, "$.items[0].tokens"),
    ({"items": [item(latency_ms=float("inf"))]}, "$.items[0].latency_ms"),
    ({"items": [item(colour="red")]}, "$.items[0].colour"),
    ({"config": {"lr": float("nan")}}, "$.config.lr"),
])
def test_refused_with_the_path(change, path):
    doc = {k: v for k, v in dict(GOOD, **change).items() if v is not ...}
    with pytest.raises(InvalidInput) as caught:
        normalize_run(doc)
    assert caught.value.field == path, str(caught.value)


def test_ids_of_512_characters_are_taken():
    run, _ = normalize_run(dict(GOOD, run_id="r" * 512, tags={"k" * 512: "v"}))
    assert len(run["run_id"]) == 512


@pytest.mark.parametrize("stamp", [
    "2026-01-01T10:00:00Z", "2026-01-01T10:00:00.123456789+05:30",
    "2026-01-01 10:00:00-00:00",  # RFC 3339 section 5.6 lets a space stand for the T
])
def test_rfc_3339_times_are_taken(stamp):
    normalize_run(dict(GOOD, started_at=stamp, finished_at="2026-12-31T00:00:00Z"))


@pytest.mark.parametrize("stamp", [
    "20260101T100000Z", "2026-W01-4T10:00:00Z", "2026-001T10:00:00Z",  # ISO 8601, not RFC 3339
    "2026-01-01T10:00Z", "2026-01-01T10Z", "2026-01-01T10:00:00+0100", "2026-01-01T10:00:00+01",
    "2026-01-01T10:00:00.Z", "2026-01-01", "2026-02-30T10:00:00Z",
    "2026-01-01t10:00:00z",  # RFC 3339 allows lower case; refused, as always, so that every reader parses it
])
def test_iso_8601_times_that_are_not_rfc_3339_are_refused(stamp):
    with pytest.raises(InvalidInput, match="must be an RFC 3339 timestamp with a time zone") as caught:
        normalize_run(dict(GOOD, started_at=stamp))
    assert caught.value.field == "$.started_at"


VERDICT = {"run_id": "r2", "baseline_run_id": "r1", "metric": "score", "delta": -0.01, "p_value": 0.3,
           "ci_low": -0.03, "ci_high": 0.01, "verdict": "ALLOW", "policy": {"tolerance": 0.05}, "reason": "ok"}


def test_a_good_verdict():
    verdict, sha = normalize_verdict(VERDICT)
    assert verdict == VERDICT and sha == document_sha256(VERDICT)


@pytest.mark.parametrize("change, path", [
    ({"verdict": "MAYBE"}, "$.verdict"),
    ({"p_value": 2}, "$.p_value"),
    ({"ci_low": 0.5}, "$.ci_low"),
    ({"delta": "x"}, "$.delta"),
    ({"policy": "strict"}, "$.policy"),
    ({"extra": 1}, "$.extra"),
    ({"baseline_run_id": ...}, "$.baseline_run_id"),
])
def test_verdict_refused_with_the_path(change, path):
    doc = {k: v for k, v in dict(VERDICT, **change).items() if v is not ...}
    with pytest.raises(InvalidInput) as caught:
        normalize_verdict(doc)
    assert caught.value.field == path, str(caught.value)
