"""Metric scopes (issue 17) through the real CLI, as separate processes: a run's metrics in named
blocks with a status; trends, A/B summaries (and the gate) use only valid headline ones unless
asked, and every view marks the others.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from .cli_support import cli, fingerprint, ok, one_line_error, parse_events_jsonl, run_doc, write_json


def run(*args: Any, **kwargs: Any) -> Any:
    return ok(*args, process=True, **kwargs)


def scoped(run_id: str, version: str, scopes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return run_doc(run_id, version=version, metric_scopes=scopes, **extra)


EVAL_VALID = {"eval": {"status": "valid", "metrics": {"accuracy": 0.8, "f1": 0.7}}}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four runs of mmlu-pro: eval valid (v1), eval invalid (v2), eval diagnostic and a debug scope
    that is valid but not headline (v3), and one without scopes (v4)."""
    tmp = tmp_path_factory.mktemp("scopes")
    db = tmp / "log.db"
    docs = [
        scoped("r1", "v1", {**EVAL_VALID, "tools": {"status": "not_applicable", "reason": "no tool calls"}}),
        scoped("r2", "v2", {"eval": {"status": "invalid", "reason": "grader crashed", "metrics": {"accuracy": 0.1}}}),
        scoped("r3", "v3", {"eval": {"status": "diagnostic", "metrics": {"accuracy": 0.5}},
                            "debug": {"status": "valid", "headline": False, "metrics": {"latency_ms": 12}}}),
        run_doc("r4", version="v4"),
    ]
    for doc in docs:
        run("append", "run", write_json(tmp / f"{doc['run_id']}.json", doc), "--log", db)
    return db


@pytest.mark.parametrize(("scopes", "extra", "path", "reason"), [
    ({"eval": {"status": "broken"}}, {}, "$.metric_scopes.eval.status", "must be one of valid, invalid"),
    ({"eval": {"metrics": {}}}, {}, "$.metric_scopes.eval.status", "is required"),
    ({"eval": {"status": "invalid", "metrics": {"accuracy": 0.1}}}, {}, "$.metric_scopes.eval.reason",
     "is required when the status is invalid"),
    ({"eval": {"status": "not_applicable", "reason": "  "}}, {}, "$.metric_scopes.eval.reason", "is required"),
    ({"eval": {"status": "valid", "metrics": {"accuracy": "high"}}}, {}, "$.metric_scopes.eval.metrics.accuracy",
     "must be a number"),
    ({"eval": {"status": "valid", "metrics": {"accuracy": True}}}, {}, "$.metric_scopes.eval.metrics.accuracy",
     "must be a number"),
    ({"eval": {"status": "valid", "headline": "yes"}}, {}, "$.metric_scopes.eval.headline", "true or false"),
    ({"eval": {"status": "valid", "weight": 2}}, {}, "$.metric_scopes.eval.weight", "unknown field"),
    ({"a/b": {"status": "valid"}}, {}, "$.metric_scopes key 'a/b'", "a scope's name"),
    ([], {}, "$.metric_scopes", "must be an object"),
    ({"eval": {"status": "valid", "metrics": {"accuracy": 0.8}}}, {"metrics": {"eval/accuracy": 0.8}},
     '$.metrics["eval/accuracy"]', "a name means one value"),
])
def test_a_bad_scope_is_refused_naming_its_path_and_nothing_is_written(
        tmp_path: Path, scopes: Any, extra: dict[str, Any], path: str, reason: str) -> None:
    db = tmp_path / "log.db"
    run("append", "run", write_json(tmp_path / "ok.json", run_doc("ok")), "--log", db)
    before = fingerprint(db)
    doc = run_doc("bad", metric_scopes=scopes, **extra)
    line = one_line_error(cli("append", "run", write_json(tmp_path / "bad.json", doc), "--log", db, process=True),
                          2, reason)
    assert line.startswith(f"auditlog: error: {path}: "), line
    assert fingerprint(db) == before


def test_a_nan_in_a_scope_is_refused(tmp_path: Path) -> None:
    text = json.dumps(run_doc("nan", metric_scopes={"eval": {"status": "valid", "metrics": {"x": 1.0}}}))
    text = text.replace('"x": 1.0', '"x": NaN')
    one_line_error(cli("append", "run", "-", "--log", tmp_path / "log.db", input=text, process=True), 2, "NaN")
    assert not (tmp_path / "log.db").exists()


# Computed with the code before metric scopes existed (main at 0b440f1): a run without scopes is
# recorded byte for byte as it was, so its hashes are too.
PLAIN = {"run_id": "plain-1", "project_id": "mmlu-pro", "model_id": "acme-7b", "model_version": "1.0",
         "metrics": {"accuracy": 0.625, "n": 4, "tiny": 1e-7, "whole": 2.0, "caf\u00e9": 0.3},
         "items": [{"item_id": "q0", "score": 0.5, "passed": True, "latency_ms": 10.5, "tokens": 100}],
         "tags": {"suite": "nightly"}, "environment": {"python": "3.11"}, "config": {"k": [1, 2.5]}}
PLAIN_RUN = ('{"config":{"k":[1,2.5]},"config_fingerprint":"3a2db7aec92b2a62a6d829920b6a8b561a748c13392dd56e2874c8'
             'fafaa9e2f7","environment":{"python":"3.11"},"items":[{"item_id":"q0","latency_ms":10.5,"passed":true,'
             '"score":0.5,"tokens":100}],"metrics":{"accuracy":0.625,"caf\u00e9":0.3,"n":4,"tiny":1e-7,"whole":2},'
             '"model_id":"acme-7b","model_version":"1.0","project_id":"mmlu-pro","run_id":"plain-1",'
             '"tags":{"suite":"nightly"}}').encode()
PLAIN_SHA256 = "3b658f5cfedcd16ade2a3d1d4ec64b42294a383d06d7a85d806ee6a894ba7243"


def test_a_run_without_scopes_is_recorded_byte_for_byte_as_before(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    run("append", "run", write_json(tmp_path / "plain.json", PLAIN), "--log", db)
    (_, _, body), = [e for e in parse_events_jsonl(run("events", "--log", db, "-o", "jsonl").stdout)
                     if b'"run.recorded"' in e[2]]
    assert b'"run":' + PLAIN_RUN + b"}" in body
    assert json.loads(body)["data"]["document_sha256"] == PLAIN_SHA256
    assert hashlib.sha256(PLAIN_RUN).hexdigest() == "50ef258f78c55a887cd3ced499c56706fdf3cb55d18144099687f9821f11cfe8"
    # its runs row has empty scope columns, and no view marks anything
    row, = run("history", "--log", db, "-o", "json").json()
    assert (row["scoped_metrics"], row["scope_status"], row["scope_reason"], row["headline_scopes"]) == ({}, {}, {}, [])
    assert "scopes" not in run("history", "--log", db).out


def test_scopes_are_kept_as_given_and_projected(log: Path) -> None:
    shown = run("show", "r1", "--log", log, "-o", "json").json()
    assert shown["run"]["metric_scopes"]["tools"] == {"status": "not_applicable", "reason": "no tool calls"}
    rows = {r["run_id"]: r for r in run("history", "--log", log, "-o", "json").json()}
    assert rows["r1"]["scoped_metrics"] == {"eval/accuracy": 0.8, "eval/f1": 0.7}
    assert rows["r1"]["scope_status"] == {"eval": "valid", "tools": "not_applicable"}
    assert rows["r1"]["scope_reason"] == {"tools": "no tool calls"}
    assert rows["r3"]["headline_scopes"] == ["eval"]  # debug says headline: false
    assert shown["current"]["scope_status"] == rows["r1"]["scope_status"]  # show's fold agrees with the tables


def test_trend_uses_valid_headline_values_unless_asked(log: Path) -> None:
    args = ("trend", "--log", log, "--project", "mmlu-pro", "--metric", "eval/accuracy")
    default = run(*args, "-o", "json")
    assert [(p["model_version"], p["avg"]) for p in default.json()] == [("v1", 0.8)]
    assert "included" not in default.json()[0]
    assert "left out, by their scope's status: 1 run diagnostic, 1 run invalid" in default.err
    asked = run(*args, "--include-status", "invalid,diagnostic", "-o", "json").json()
    assert [(p["model_version"], p["avg"], p.get("included")) for p in asked] == [
        ("v1", 0.8, None), ("v2", 0.1, {"invalid": 1}), ("v3", 0.5, {"diagnostic": 1})]
    table = run(*args, "--include-status", "invalid")
    assert "scopes" in table.out.splitlines()[0] and "used invalid 1" in table.out
    assert "left out, by their scope's status: 1 run diagnostic; --include-status diagnostic" in table.err
    # a valid scope that is not headline is left out too, and asked for by name
    one_line_error(cli("trend", "--log", log, "--project", "mmlu-pro", "--metric", "debug/latency_ms", process=True),
                   2, "only in scopes that trends leave out", "--include-status non_headline")
    points = run("trend", "--log", log, "--project", "mmlu-pro", "--metric", "debug/latency_ms",
                 "--include-status", "all", "-o", "json").json()
    assert [(p["model_version"], p["avg"], p["included"]) for p in points] == [("v3", 12.0, {"non_headline": 1})]
    one_line_error(cli(*args, "--include-status", "bogus", process=True), 2, "--include-status", "'bogus'")


def test_ab_uses_valid_headline_values_unless_asked(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    judge = {"a": {"status": "valid", "metrics": {"score": 0.4}},
             "b": {"status": "invalid", "reason": "judge timed out", "metrics": {"score": 0.9}}}
    for group in ("a", "b"):
        doc = run_doc(f"{group}1", project="t", experiment={"id": "exp", "group": group},
                      metric_scopes={"judge": judge[group]})
        run("append", "run", write_json(tmp_path / f"{group}.json", doc), "--log", db)

    def figure(summary: dict[str, Any]) -> dict[str, Any]:
        row, = summary["rows"]  # task t, group b against a
        return next(f for f in row["figures"] if f["name"] == "metrics.judge/score")

    default = figure(run("ab", "--log", db, "--experiment", "exp", "-o", "json").json())
    assert (default["baseline"], default["value"], default["improvement"]) == (0.4, None, None)
    assert default["left_out"] == {"invalid": 1} and "included" not in default
    asked = figure(run("ab", "--log", db, "--experiment", "exp", "--include-status", "invalid", "-o", "json").json())
    assert (asked["baseline"], asked["value"]) == (0.4, 0.9) and asked["included"] == {"invalid": 1}
    table = run("ab", "--log", db, "--experiment", "exp").out
    assert "left out invalid 1" in table


def test_views_mark_the_scopes_left_out(log: Path) -> None:
    history = run("history", "--log", log).out.splitlines()
    assert "scopes" in history[0].split()
    marks = {line.split()[0]: line for line in history[2:]}
    assert "tools: not_applicable" in marks["r1"] and "eval: invalid" in marks["r2"]
    assert "debug: non_headline" in marks["r3"] and "eval: diagnostic" in marks["r3"]
    assert ":" not in marks["r4"].split("active")[0]  # no mark on a run without scopes
    shown = run("show", "r2", "--log", log).out
    assert "  eval: invalid (grader crashed)  [left out by default]: accuracy=0.1000" in shown
    figures = {f["name"]: f for f in run("compare", "r1", "r2", "--log", log, "-o", "json").json()["figures"]}
    assert figures["metrics.eval/accuracy"] == {"name": "metrics.eval/accuracy", "a": 0.8, "b": 0.1,
                                                "delta": pytest.approx(-0.7), "mark_b": "invalid",
                                                "lower_is_better": False, "improvement": pytest.approx(-0.7)}
    assert "mark_a" not in figures["metrics.accuracy"]
    table = run("compare", "r1", "r2", "--log", log).out
    assert "mark_b" in table and "invalid" in table


def test_where_addresses_scoped_metrics_and_statuses(log: Path) -> None:
    def kept(expression: str) -> list[str]:
        return sorted(r["run_id"] for r in run("history", "--log", log, "--where", expression, "-o", "json").json())

    assert kept("metrics.eval/accuracy > 0.3") == ["r1", "r3"]  # every recorded value, whatever its status
    assert kept("metrics.eval/accuracy > 0.3 and scopes.eval = 'valid'") == ["r1"]
    assert kept("scopes.eval in ('invalid', 'diagnostic')") == ["r2", "r3"]
    assert kept("not scopes.eval exists") == ["r4"]
    assert kept("metrics.'debug/latency_ms' >= 12") == ["r3"]
    one_line_error(cli("history", "--log", log, "--where", "scopes.eval > 1", process=True), 2,
                   "--where", "at column 15", "scopes.eval is text")


def test_csv_export_has_a_column_per_scoped_metric_and_scope(log: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(run("export", "--log", log, "--project", "mmlu-pro").out)))
    header = list(rows[0])
    for column in ("metrics.eval/accuracy", "metrics.eval/f1", "metrics.debug/latency_ms", "scopes.eval",
                   "scopes.tools", "scope_reason.eval", "scope_reason.tools", "headline_scopes"):
        assert column in header, header
    assert header.index("metrics.accuracy") < header.index("metrics.eval/accuracy") < header.index("scopes.eval")
    by_id = {r["run_id"]: r for r in rows}
    assert (by_id["r2"]["metrics.eval/accuracy"], by_id["r2"]["scopes.eval"], by_id["r2"]["scope_reason.eval"]) == (
        "0.1", "invalid", "grader crashed")
    assert (by_id["r4"]["metrics.eval/accuracy"], by_id["r4"]["scopes.eval"]) == ("", "")
    assert json.loads(by_id["r3"]["headline_scopes"]) == ["eval"]


def test_the_gate_compares_item_scores_whatever_the_scopes_say(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    bad = {"eval": {"status": "invalid", "reason": "grader crashed", "metrics": {"accuracy": 0.0}}}
    docs = [run_doc("base", n_items=30), run_doc("cand", n_items=30, seed=1),
            run_doc("cand-scoped", n_items=30, seed=1, metric_scopes=bad)]
    for doc in docs:
        run("append", "run", write_json(tmp_path / f"{doc['run_id']}.json", doc), "--log", db)
    results = []
    for candidate in ("cand", "cand-scoped"):
        done = cli("gate", candidate, "--baseline", "base", "--log", db, "-o", "json", process=True)
        assert "Traceback" not in done.err
        verdict = done.json()
        results.append((done.code, verdict["verdict"], verdict["delta"], verdict["p_value"]))
    assert results[0] == results[1]


def test_an_address_recorded_before_scopes_meets_its_scoped_successor(tmp_path: Path) -> None:
    """A run from before scopes may have an unscoped metric named `eval/accuracy`: it counts as
    unscoped metrics always do, and is the same figure as scope `eval`'s `accuracy` of a later run."""
    db = tmp_path / "log.db"
    old = run_doc("old", version="v1", metrics={"eval/accuracy": 0.5})
    new = run_doc("new", version="v2", metric_scopes={
        "eval": {"status": "invalid", "reason": "grader crashed", "metrics": {"accuracy": 0.25}}})
    for doc in (old, new):
        run("append", "run", write_json(tmp_path / f"{doc['run_id']}.json", doc), "--log", db)
    figures = [f for f in run("compare", "old", "new", "--log", db, "-o", "json").json()["figures"]
               if f["name"] == "metrics.eval/accuracy"]
    assert figures == [{"name": "metrics.eval/accuracy", "a": 0.5, "b": 0.25, "delta": -0.25, "mark_b": "invalid",
                        "lower_is_better": False, "improvement": -0.25}]
    points = run("trend", "--log", db, "--project", "mmlu-pro", "--metric", "eval/accuracy", "-o", "json").json()
    assert [(p["model_version"], p["avg"]) for p in points] == [("v1", 0.5)]
    assert sorted(r["run_id"] for r in run("history", "--log", db, "--where", "metrics.eval/accuracy < 1",
                                           "-o", "json").json()) == ["new", "old"]
