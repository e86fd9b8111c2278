"""The query commands, their outputs checked against values recomputed from the run documents.

They run in-process (tests.support.cli: click's CliRunner), exit codes and one-line errors
included: errors are mapped inside the click group, as the installed command maps them.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import projections
from auditlog import AuditLog
from tests.support.cli import cli, ok

from .corpus import TS, expected_ab, expected_items, expected_trend, run_time


@pytest.fixture(scope="module")
def run(corpus, view):  # noqa: ANN001, ANN201 - `view` builds the projections first
    def invoke(*args: object, log: Path | None = None) -> str:
        return ok(*args, "--log", log or corpus.db).out

    return invoke


def newest_first(expected: dict, keep=lambda r: True) -> list[dict]:  # noqa: ANN001
    return [r for r in sorted(expected.values(), key=lambda r: -r["seq"]) if keep(r)]


def test_history_in_every_format(run, expected) -> None:  # noqa: ANN001
    rows = json.loads(run("history", "-o", "json"))
    want = newest_first(expected, lambda r: r["status"] == "active")
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in want]
    for row, exp in zip(rows, want):
        assert {k: row[k] for k in exp} == exp
    assert [json.loads(line) for line in run("history", "-o", "jsonl").splitlines()] == rows
    table = list(csv.DictReader(io.StringIO(run("history", "-o", "csv"))))
    assert [r["run_id"] for r in table] == [r["run_id"] for r in rows]
    for line, row in zip(table, rows):  # flat: a column per tag and per metric (issue 17)
        assert {k[len("tags."):]: v for k, v in line.items() if k.startswith("tags.") and v} == row["tags"]
        assert {k[len("metrics."):]: float(v) for k, v in line.items()
                if k.startswith("metrics.") and v} == row["metrics"]
        assert line["recorded_at"] == row["recorded_at"] and "tags" not in line
        assert (float(line["pass_rate"]) if line["pass_rate"] else None) == row["pass_rate"]
    exported = list(csv.DictReader(io.StringIO(run("export", "-o", "csv"))))
    assert table == exported[::-1]  # the same writer: the same columns and cells, newest first
    cells = list(csv.DictReader(io.StringIO(run("history", "-o", "csv", "--json-cells"))))
    for line, row in zip(cells, rows, strict=True):  # the form before: each map as JSON in one cell
        assert json.loads(line["tags"]) == row["tags"] and json.loads(line["metrics"]) == row["metrics"]
    text = run("history").splitlines()
    assert text[0].split()[:4] == ["run_id", "project_id", "model_id", "model_version"]
    assert [line.split()[0] for line in text[2:]] == [r["run_id"] for r in rows]


def test_history_filters(run, expected, corpus) -> None:  # noqa: ANN001
    since = (corpus.now - timedelta(days=30)).strftime(TS)
    got = json.loads(run("history", "--project", "gsm8k", "--since", since, "--all", "--tag", "suite=nightly", "-o", "json"))
    want = newest_first(expected, lambda r: r["project_id"] == "gsm8k" and run_time(r) >= since
                        and r["tags"]["suite"] == "nightly")
    assert [r["run_id"] for r in got] == [r["run_id"] for r in want] and want
    got = json.loads(run("history", "--verdict", "ALLOW", "--model", "claude-x", "--limit", "3", "--offset", "1", "-o", "json"))
    want = newest_first(expected, lambda r: r["verdict"] == "ALLOW" and r["model_id"] == "claude-x"
                        and r["status"] == "active")[1:4]
    assert [r["run_id"] for r in got] == [r["run_id"] for r in want] and want
    got = json.loads(run("history", "--experiment", "exp-ab", "--until", corpus.now.strftime("%Y-%m-%d"), "-o", "json"))
    assert {r["experiment_id"] for r in got} == {"exp-ab"}


def test_show_current_state_events_and_items(run, expected, corpus) -> None:  # noqa: ANN001
    _, old, by, reason = corpus.supersessions[0]
    text = run("show", old)
    assert f"run_id: {old}" in text and f"status: superseded by {by} ({reason})" in text
    assert "run.superseded" in text and "events:" in text
    annotated = corpus.annotations[0][1]
    shown = json.loads(run("show", annotated, "--items", "--failed", "-o", "json"))
    assert shown["run"] == corpus.run(annotated) | {"config_fingerprint": expected[annotated]["config_fingerprint"]}
    assert shown["current"]["tags"] == expected[annotated]["tags"] and shown["current"]["notes"] == expected[annotated]["notes"]
    assert "run.annotated" in [e["type"] for e in shown["events"]]
    assert shown["items"] == [i for i in expected_items(corpus, annotated) if not i["passed"]]
    items = list(csv.DictReader(io.StringIO(run("show", annotated, "--items", "-o", "csv"))))
    assert [i["item_id"] for i in items] == [i["item_id"] for i in corpus.run(annotated)["items"]]
    table = run("show", annotated, "--failed")
    assert f"items ({len(shown['items'])}):" in table and "current:" in table


def test_show_escapes_control_characters_in_tables(run, corpus) -> None:  # noqa: ANN001
    doc = next(d for d in corpus.runs if any("\x1b" in (i.get("error") or "") for i in d["items"]))
    text = run("show", doc["run_id"], "--items")
    assert "\x1b" not in text and "\\x1b[31m" in text


def test_compare(run, expected, corpus) -> None:  # noqa: ANN001
    a, b = [d for d in corpus.runs if d["project_id"] == "mmlu-pro"][2:4]
    report = json.loads(run("compare", a["run_id"], b["run_id"], "-o", "json"))
    ea, eb = expected[a["run_id"]], expected[b["run_id"]]
    delta = eb["pass_rate"] - ea["pass_rate"]
    assert report["figures"][0] == {"name": "pass_rate", "a": ea["pass_rate"], "b": eb["pass_rate"],
                                    "delta": delta, "lower_is_better": False, "improvement": delta}
    ia = {i["item_id"]: i for i in a["items"]}
    ib = {i["item_id"]: i for i in b["items"]}
    flips = sorted(i for i in ia.keys() & ib.keys() if ia[i]["passed"] and not ib[i]["passed"])
    assert report["pass_to_fail"] == flips and report["only_in_b"] == sorted(ib.keys() - ia.keys())
    text = run("compare", a["run_id"], b["run_id"])
    assert f"pass->fail: {len(flips)}," in text and f"items in both: {len(ia.keys() & ib.keys())};" in text
    rows = list(csv.DictReader(io.StringIO(run("compare", a["run_id"], b["run_id"], "--items", "-o", "csv"))))
    assert sorted(r["item_id"] for r in rows if r["change"] == "pass->fail") == flips
    figures = [json.loads(line) for line in run("compare", a["run_id"], b["run_id"], "-o", "jsonl").splitlines()]
    assert [f["name"] for f in figures] == [f["name"] for f in report["figures"]]


def test_trend_and_ab(run, expected, corpus) -> None:  # noqa: ANN001
    points = json.loads(run("trend", "--project", "mmlu-pro", "--metric", "accuracy", "--by", "model_id", "-o", "json"))
    want = expected_trend(expected, "mmlu-pro", "accuracy", "model_id")
    assert points == [{"model_id": p.pop("key"), **p} for p in want]
    text = run("trend", "--project", "gsm8k", "--metric", "pass_rate", "--group", "a")
    assert text.splitlines()[0].split()[:4] == ["model_version", "samples", "avg", "min"]
    summary = json.loads(run("ab", "--experiment", "exp-abc", "-o", "json"))
    assert summary["baseline"] == "a" and summary["groups"] == ["a", "b", "c"]
    assert summary["rows"] == expected_ab(corpus, expected, "exp-abc")
    rows = [r for r in csv.DictReader(io.StringIO(run("ab", "--experiment", "exp-ab", "--baseline", "treatment",
                                                      "-o", "csv"))) if r["task"]]  # "": the overall rows
    want = expected_ab(corpus, expected, "exp-ab", "treatment")
    assert [(r["task"], int(r["wins"]), int(r["losses"]), int(r["ties"])) for r in rows] == \
        [(r["task"], r["wins"], r["losses"], r["ties"]) for r in want]
    assert float(rows[0]["improvement.pass_rate"]) == want[0]["improvement"]["pass_rate"]


def test_export_every_format(run, expected, corpus, tmp_path) -> None:  # noqa: ANN001
    want = [r for r in sorted(expected.values(), key=lambda r: r["seq"]) if r["project_id"] == "safety"]
    run("export", "--format", "parquet", "--what", "runs", "--project", "safety", "--all", "--out", tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.schema.equals(projections.schema.arrow_schema("runs"), check_metadata=False)
    assert projections.to_records(table) == projections.list_runs(
        projections.open_built(f"{corpus.db}.projections"), project_id="safety", include_superseded=True)[::-1]
    lines = run("export", "--format", "jsonl", "--what", "runs", "--project", "safety", "--all").splitlines()
    assert [{k: json.loads(line)[k] for k in want[0]} for line in lines] == want
    rows = list(csv.DictReader(io.StringIO(run("export", "--format", "csv", "--what", "runs", "--project", "safety",
                                               "--all"))))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in want]
    assert [r["started_at"] for r in rows] == [r["started_at"] or "" for r in want]
    metrics = sorted({k for r in want for k in r["metrics"]})
    tags = sorted({k for r in want for k in r["tags"]})
    assert [c for c in rows[0] if c.startswith(("metrics", "tags"))] == \
        [*(f"metrics.{k}" for k in metrics), *(f"tags.{k}" for k in tags)], "one column per metric, per tag"
    assert [{k: float(r[f"metrics.{k}"]) for k in metrics if r[f"metrics.{k}"]} for r in rows] == \
        [r["metrics"] for r in want]
    assert [{k: r[f"tags.{k}"] for k in tags if r[f"tags.{k}"]} for r in rows] == [r["tags"] for r in want]
    cells = list(csv.DictReader(io.StringIO(run("export", "--what", "runs", "--project", "safety", "--all",
                                                "--json-cells"))))
    assert [json.loads(r["metrics"]) for r in cells] == [r["metrics"] for r in want]
    assert [json.loads(r["tags"]) for r in cells] == [r["tags"] for r in want]

    items = [json.loads(line) for line in run("export", "--format", "jsonl", "--what", "items", "--model", "llama-z",
                                               "--all").splitlines()]
    assert items == [i for r in sorted(expected.values(), key=lambda r: r["seq"]) if r["model_id"] == "llama-z"
                     for i in expected_items(corpus, r["run_id"])]
    verdicts = list(csv.DictReader(io.StringIO(run("export", "--format", "csv", "--what", "verdicts", "--all"))))
    assert [(int(v["seq"]), v["run_id"], v["verdict"]) for v in verdicts] == \
        [(seq, doc["run_id"], doc["verdict"]) for seq, doc in corpus.verdicts]
    assert json.loads(verdicts[0]["policy"]) == corpus.verdicts[0][1]["policy"]
    pins = [json.loads(line) for line in run("export", "--format", "jsonl", "--what", "baselines", "--all",
                                             "--project", "gsm8k").splitlines()]
    assert [(p["seq"], p["run_id"], p["project_id"], p["model_id"]) for p in pins] == \
        [pin for pin in corpus.pins if pin[2] == "gsm8k"]


def test_status_catch_up_and_compact(corpus, log_copy) -> None:
    def invoke(*args: object) -> str:
        return ok(*args, "--log", log_copy).out

    status = json.loads(invoke("projections", "status", "-o", "json"))
    assert status["built"] is False and status["behind"] > 0
    invoke("history")
    status = json.loads(invoke("projections", "status", "-o", "json"))
    assert status["up_to_date"] and status["behind"] == 0 and status["counts"]["runs"] == len(corpus.runs)
    assert {f["kind"] for f in status["files"]} == {"runs", "verdicts", "baselines", "manifest", "items"}
    with AuditLog.open(log_copy, create=False) as log:
        for k in range(3):
            receipt = log.record_run(dict(corpus.runs[k], run_id=f"late-{k}"))
            status = json.loads(invoke("projections", "status", "-o", "json"))
            assert status["behind"] == 1 and status["position"] == receipt.seq - 1
            assert status["stale_since"] == json.loads(next(log.events(after=receipt.seq - 1)).body)["ts"]
            assert "1 event behind" in invoke("projections", "status")
            invoke("history", "--limit", "1")
    kinds = [f["kind"] for f in json.loads(invoke("projections", "status", "-o", "json"))["files"]]
    assert 2 <= kinds.count("runs") == kinds.count("manifest") <= 3 and 2 <= kinds.count("items") <= 3, \
        "three catch-ups: a part each, merged by size"
    assert f"{kinds.count('items')} item part files -> 1" in invoke("projections", "compact")
    kinds = [f["kind"] for f in json.loads(invoke("projections", "status", "-o", "json"))["files"]]
    assert sorted(kinds) == ["baselines", "items", "manifest", "runs", "verdicts"], "compacted: one part each"
    latest = json.loads(invoke("history", "--limit", "1", "-o", "json"))[0]
    assert latest["run_id"] == "late-2" and latest["n_items"] == len(corpus.runs[2]["items"])


def test_errors_are_one_line_with_their_exit_code(corpus, view, tmp_path) -> None:  # noqa: ANN001
    for args, code, words in [
        (("show", "no-such-run"), 3, "no-such-run"),
        (("compare", corpus.runs[0]["run_id"], "nope"), 3, "nope"),
        (("history", "--since", "yesterday"), 2, "since"),
        (("trend", "--project", "gsm8k", "--metric", "acuracy"), 2, "accuracy"),
        (("ab", "--experiment", "exp-ab", "--baseline", "x"), 2, "baseline"),
        (("history", "--tag", "novalue"), 2, "--tag"),
    ]:
        done = cli(*args, "--log", corpus.db)
        assert done.code == code, (args, done.err)
        assert words in done.err and "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (("history",), ("trend", "--project", "p", "--metric", "m"), ("projections", "status")):
        done = cli(*args, cwd=empty)
        assert done.code == 3 and "auditlog.db" in done.err, done.err
    assert list(empty.iterdir()) == [], "reading a log that does not exist creates nothing"


def test_a_project_or_model_no_run_has_is_named_on_stderr_with_those_the_log_has(corpus, view) -> None:  # noqa: ANN001
    """A typo in --project or --model would read as "(no records)": stderr says so, and lists the names the log
    has; the records themselves (stdout) stay what they are, and a filter that is merely empty says nothing."""
    projects = sorted({r["project_id"] for r in corpus.runs})
    models = sorted({r["model_id"] for r in corpus.runs})
    typo = ok("history", "--project", projects[0] + "-typo", "-o", "json", "--log", corpus.db)
    assert json.loads(typo.out) == []
    assert f"no run of the log has --project {projects[0] + '-typo'!r}; it has: {', '.join(projects)}" in typo.err
    trend = ok("trend", "--project", projects[0], "--metric", "accuracy", "--model", "nobody", "--log", corpus.db)
    assert trend.out == "(no records)\n" and f"--model 'nobody'; it has: {', '.join(models)}" in trend.err, trend
    empty = ok("history", "--project", projects[0], "--until", "1970-01-02", "--log", corpus.db)
    assert empty.out == "(no records)\n" and empty.err == "", empty
    exported = ok("export", "--project", "nope", "-o", "json", "--log", corpus.db)
    assert json.loads(exported.out) == [] and "no run of the log has --project 'nope'" in exported.err, exported
