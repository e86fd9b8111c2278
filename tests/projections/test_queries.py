"""Every query against values recomputed straight from the run documents (corpus.py)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

import projections
from auditlog import InvalidInput, NotFound

from .corpus import MODELS, PROJECTS, TS, expected_ab, expected_items, expected_pinned, expected_trend, run_time


def newest_first(runs: dict, keep=lambda r: True) -> list[str]:  # noqa: ANN001
    return [r["run_id"] for r in sorted(runs.values(), key=lambda r: -r["seq"]) if keep(r)]


def test_every_run_row_is_exactly_what_the_documents_say(view, expected) -> None:
    rows = projections.list_runs(view, include_superseded=True)
    assert [r["run_id"] for r in rows] == newest_first(expected)
    for row in rows:
        want = expected[row["run_id"]]
        assert {k: row[k] for k in want} == want, row["run_id"]
    assert any(r["n_items"] == 0 and r["pass_rate"] is None and r["mean_score"] is None for r in rows)
    assert any(r["notes"] for r in rows) and any(r["status"] == "superseded" for r in rows)


def test_default_history_hides_superseded_runs(view, expected) -> None:
    active = projections.list_runs(view)
    assert [r["run_id"] for r in active] == newest_first(expected, lambda r: r["status"] == "active")
    assert len(active) < len(expected)


@pytest.mark.parametrize("filters, keep", [
    ({"project_id": "gsm8k"}, lambda r: r["project_id"] == "gsm8k"),
    ({"model_id": "gpt-y", "project_id": "safety"}, lambda r: r["model_id"] == "gpt-y" and r["project_id"] == "safety"),
    ({"verdict": "BLOCK"}, lambda r: r["verdict"] == "BLOCK"),
    ({"experiment_id": "exp-abc"}, lambda r: r["experiment_id"] == "exp-abc"),
    ({"tags": {"suite": "override"}}, lambda r: r["tags"].get("suite") == "override"),
    ({"tags": {"suite": "nightly", "branch": "main"}}, lambda r: r["tags"].get("suite") == "nightly"),
])
def test_filters(view, expected, filters, keep) -> None:  # noqa: ANN001
    for superseded in (False, True):
        got = [r["run_id"] for r in projections.list_runs(view, include_superseded=superseded, **filters)]
        want = newest_first(expected, lambda r, superseded=superseded: keep(r) and (superseded or r["status"] == "active"))
        assert got == want and want, filters


def test_time_filters_limit_and_offset(view, expected, corpus) -> None:
    since = (corpus.now - timedelta(days=20)).strftime(TS)
    until = (corpus.now - timedelta(days=5)).strftime(TS)
    got = [r["run_id"] for r in projections.list_runs(view, since=since, until=until)]
    want = newest_first(expected, lambda r: r["status"] == "active" and since <= run_time(r) <= until)
    assert got == want and want
    day = (corpus.now - timedelta(days=10)).strftime("%Y-%m-%d")
    got = [r["run_id"] for r in projections.list_runs(view, since=day, until=day, include_superseded=True)]
    assert got == newest_first(expected, lambda r: run_time(r)[:10] == day) and got
    everything = newest_first(expected, lambda r: r["status"] == "active")
    page = [r["run_id"] for r in projections.list_runs(view, limit=7, offset=5)]
    assert page == everything[5:12]
    assert projections.query_runs(view, offset=len(everything)).num_rows == 0
    with pytest.raises(InvalidInput, match="since"):
        projections.list_runs(view, since="last tuesday")


def test_load_run_header_and_items(view, expected, corpus) -> None:
    for doc in corpus.runs[::37]:
        frame = projections.load_run(view, doc["run_id"])
        assert {k: frame.header[k] for k in expected[doc["run_id"]]} == expected[doc["run_id"]]
        assert projections.to_records(frame.items) == expected_items(corpus, doc["run_id"])
        failed = frame.item_records(failed_only=True)
        assert [i["item_id"] for i in failed] == [i["item_id"] for i in doc["items"] if not i["passed"]]
    with_extra = next(d for d in corpus.runs if any("extra" in i for i in d["items"]))
    assert projections.to_records(projections.load_run(view, with_extra["run_id"]).items) == \
        expected_items(corpus, with_extra["run_id"])
    with pytest.raises(NotFound):
        projections.load_run(view, "no-such-run")


def test_compare_runs(view, expected, corpus) -> None:
    by_project: dict[str, list[dict]] = {}
    for doc in corpus.runs:
        by_project.setdefault(doc["project_id"], []).append(doc)
    pairs = [(docs[i], docs[i + 3]) for docs in by_project.values() for i in (0, 10, 40)]
    for a, b in pairs:
        report = projections.compare_runs(view, a["run_id"], b["run_id"])
        ea, eb = expected[a["run_id"]], expected[b["run_id"]]
        figures = {f.name: (f.a, f.b, f.delta) for f in report.figures}
        for name in ("pass_rate", "mean_score"):
            delta = None if ea[name] is None or eb[name] is None else eb[name] - ea[name]
            assert figures[name] == (ea[name], eb[name], delta)
        for name in set(ea["metrics"]) | set(eb["metrics"]):
            ma, mb = ea["metrics"].get(name), eb["metrics"].get(name)
            assert figures[f"metrics.{name}"] == (ma, mb, None if ma is None or mb is None else mb - ma)
        assert len(figures) == 2 + len(set(ea["metrics"]) | set(eb["metrics"]))
        ia = {i["item_id"]: i for i in a["items"]}
        ib = {i["item_id"]: i for i in b["items"]}
        both = ia.keys() & ib.keys()
        assert report.common_items == len(both)
        assert report.pass_to_fail == sorted(i for i in both if ia[i]["passed"] and not ib[i]["passed"])
        assert report.fail_to_pass == sorted(i for i in both if not ia[i]["passed"] and ib[i]["passed"])
        assert report.only_in_a == sorted(ia.keys() - ib.keys())
        assert report.only_in_b == sorted(ib.keys() - ia.keys())
    assert any(projections.compare_runs(view, a["run_id"], b["run_id"]).pass_to_fail for a, b in pairs)


@pytest.mark.parametrize("project, metric, by, group, days", [
    ("mmlu-pro", "accuracy", "model_version", None, None),
    ("gsm8k", "f1", "model_id", None, None),
    ("humaneval", "pass_rate", "experiment.version", None, None),
    ("safety", "mean_score", "model_version", "treatment", None),
    ("mmlu-pro", "latency_ms", "model_id", None, 30),
])
def test_trend(view, expected, corpus, project, metric, by, group, days) -> None:  # noqa: ANN001
    since = None if days is None else (corpus.now - timedelta(days=days)).strftime(TS)
    points = projections.trend(view, project, metric, by=by, group=group, days=days, now=corpus.now)
    want = expected_trend(expected, project, metric, by, group, since)
    assert [p.to_json() for p in points] == want and want
    assert sum(p.samples for p in points) > 3


def test_trend_errors(view) -> None:
    with pytest.raises(InvalidInput, match="accuracy"):
        projections.trend(view, "gsm8k", "acuracy")
    with pytest.raises(InvalidInput, match="by"):
        projections.trend(view, "gsm8k", "f1", by="dataset")
    assert projections.trend(view, "no-such-project", "f1") == []


@pytest.mark.parametrize("experiment, baseline", [("exp-ab", None), ("exp-abc", None), ("exp-abc", "b")])
def test_ab_summary(view, expected, corpus, experiment, baseline) -> None:  # noqa: ANN001
    summary = projections.ab_summary(view, experiment, baseline=baseline)
    want = expected_ab(corpus, expected, experiment, baseline)
    assert [r.to_json() for r in summary.rows] == want
    assert sum(r["wins"] + r["losses"] for r in want) > 50
    assert all(r["items"] == r["wins"] + r["losses"] + r["ties"] for r in want)
    for row in want:
        for value in row["improvement"].values():
            assert value is None or math.isfinite(value)
    for overall in summary.overall:  # per group: counts summed over the tasks, figures averaged over them
        mine = [r for r in want if r["group"] == overall.group]
        assert overall.task is None and overall.wins == sum(r["wins"] for r in mine)
        assert (overall.items, overall.runs) == (sum(r["items"] for r in mine), sum(r["runs"] for r in mine))
        pcts = [f["improvement_pct"] for r in mine for f in r["figures"]
                if f["name"] == "mean_score" and f["improvement_pct"] is not None]
        assert overall.figure("mean_score").improvement_pct == math.fsum(pcts) / len(pcts)
    assert [r.group for r in summary.overall] == [g for g in summary.groups if g != summary.baseline]


def test_ab_errors(view) -> None:
    with pytest.raises(NotFound):
        projections.ab_summary(view, "no-such-experiment")
    with pytest.raises(InvalidInput, match="baseline"):
        projections.ab_summary(view, "exp-ab", baseline="nope")


def test_pinned_baseline(view, corpus) -> None:  # noqa: ANN001
    assert len(corpus.pins) > 3 and {m for *_, m in corpus.pins} > {None}
    for project in (*PROJECTS, "no-such-project"):
        for model in (*MODELS, None):
            assert projections.pinned_baseline(view, project, model) == expected_pinned(corpus, project, model)
    rows = projections.to_records(view.baselines)
    assert [(r["seq"], r["run_id"], r["project_id"], r["model_id"]) for r in rows] == corpus.pins
