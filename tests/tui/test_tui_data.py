"""The headless half of the TUI (auditlog/tui/data): selections, detail and proofs, without a terminal."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import projections
from auditlog.errors import IntegrityError
from auditlog.services.log import AuditLog
from auditlog.tui.data import detail, runs, trends

from .tui_support import flip_score, small_run, tamper

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def opened(demo_log):
    with AuditLog.open(demo_log, create=False) as log:
        yield log, projections.open(log, f"{demo_log}.projections")


def ids(selection: runs.Selection) -> list[str]:
    return [r["run_id"] for r in selection.rows(0, len(selection))]


def test_selection_filters_sorts_and_pages(opened):
    _, view = opened
    everything = runs.select(view)
    assert len(everything) == 16 and everything.total == 17
    assert everything.rows(0, 1)[0]["run_id"] == "claude-x::mmlu-pro::v1.3-rc1"
    assert [r["run_id"] for r in everything.rows(14, 99)] == ["claude-x::mmlu-pro::v1.1", "claude-x::mmlu-pro::v1.0"]
    assert ids(runs.select(view, runs.RunFilter(project="mmlu-pro", model="gpt-y"))) == [
        "gpt-y::mmlu-pro::v2025-06", "gpt-y::mmlu-pro::v2025-01"]
    assert ids(runs.select(view, runs.RunFilter(verdict="NEEDS_REVIEW"))) == [
        "claude-x::safety-refusals::v1.2", "claude-x::humaneval-lite::v1.2"]
    assert len(runs.select(view, runs.RunFilter(verdict=runs.NO_VERDICT))) == 13
    assert len(runs.select(view, runs.RunFilter(include_superseded=True))) == 17
    by_score = runs.select(view, order=runs.SortOrder("mean_score", descending=False))
    scores = [r["mean_score"] for r in by_score.rows(0, 16)]
    assert scores == sorted(scores)
    assert by_score.index_of("claude-x::mmlu-pro::v1.0") == ids(by_score).index("claude-x::mmlu-pro::v1.0")
    assert by_score.index_of("no-such-run") is None


def test_search_covers_ids_and_tags_case_insensitively(opened):
    _, view = opened
    assert len(runs.select(view, runs.RunFilter(search="GPT-Y"))) == 6  # 7 runs; the superseded one is hidden
    assert ids(runs.select(view, runs.RunFilter(search="reviewed"))) == ["claude-x::mmlu-pro::v1.2"]
    assert ids(runs.select(view, runs.RunFilter(search="reviewed=yes", project="mmlu-pro"))) == [
        "claude-x::mmlu-pro::v1.2"]
    assert len(runs.select(view, runs.RunFilter(search="suite=nightly"))) == 16
    assert len(runs.select(view, runs.RunFilter(search="exp-demo"))) == 16  # experiment ids too
    assert len(runs.select(view, runs.RunFilter(search="nothing like it"))) == 0
    assert runs.choices(view, "project_id") == ["humaneval-lite", "mmlu-pro", "safety-refusals"]


def test_trend_for_one_model_uses_the_projections_definition(opened):
    _, view = opened
    mine = trends.trend(view, "mmlu-pro", "accuracy", model="gpt-y")
    everyone = projections.trend(view, "mmlu-pro", "accuracy")
    assert mine == [p for p in everyone if p.last_run_id.startswith("gpt-y::")]
    assert trends.metrics(view, "mmlu-pro") == ["pass_rate", "mean_score", "accuracy", "mean_latency_ms"]


def test_the_trend_chart_plots_the_points_with_their_labels_escaped(opened):
    _, view = opened
    points = trends.trend(view, "mmlu-pro", "accuracy", model="gpt-y")
    chart = trends.chart(points)
    assert chart.positions == [1, 2] and chart.labels == [p.key for p in points]
    assert chart.lines == {"avg": [p.avg for p in points], "min": [p.min for p in points], "max": [p.max for p in points]}
    odd = trends.chart([replace(points[0], key="\x1b[31mred"), replace(points[0], key=None)])
    assert odd.labels == ["\\x1b[31mred", "(none)"]  # an escape drawn by a plotting library would act
    assert trends.chart([]).empty


def test_detail_and_its_inclusion_proof(opened):
    log, view = opened
    run = detail.load_detail(log, view, "claude-x::mmlu-pro::v1.2")
    assert run.proof.status == "proven"
    assert run.proof.describe() == ("proven in checkpoint of size 23; its note names ci.example.org, signature not "
                                    "checked (start the TUI with --vkey KEY to check it)")
    from auditlog.services.signing import Signer

    from .tui_support import SIGNER_SEED
    trusted = detail.load_detail(log, view, "claude-x::mmlu-pro::v1.2", [Signer.from_seed("ci.example.org", SIGNER_SEED).verifier()])
    assert trusted.proof.describe() == "proven in checkpoint of size 23 signed by ci.example.org (signature checked)"
    stranger = detail.load_detail(log, view, "claude-x::mmlu-pro::v1.2", [Signer.from_seed("ci.example.org", bytes(32)).verifier()])
    assert "signature not checked" in stranger.proof.describe(), "a key that did not sign it vouches for nothing"
    assert [e.type for e in run.history] == ["run.recorded", "verdict.recorded", "verdict.overridden",
                                             "run.annotated"]
    assert run.history[2].verdict == "ALLOW" and "NEEDS_REVIEW → ALLOW" in run.history[2].summary
    assert [i["passed"] for i in run.items] == sorted(i["passed"] for i in run.items)
    late = detail.load_detail(log, view, "claude-x::mmlu-pro::v1.3-rc1")
    assert late.proof.status == "uncovered"


def test_a_proof_fails_when_the_bytes_changed(demo_log):
    with AuditLog.open(demo_log, create=False) as log:
        view = projections.open(log, f"{demo_log}.projections")
    tamper(demo_log, 3, flip_score)
    with AuditLog.open(demo_log, create=False) as log:
        view.log = log
        with pytest.raises(IntegrityError, match="seq 3"):  # the figures are not shown at all
            detail.load_detail(log, view, "claude-x::mmlu-pro::v1.2")
    assert detail.check_inclusion(AuditLog.open(demo_log, create=False), 3).status == "failed"


def test_history_of_every_event_type_reads_as_words(tmp_path):
    with AuditLog.open(tmp_path / "h.db") as log:
        log.record_run(small_run("a"))
        log.record_run(small_run("b"))
        log.pin_baseline("a", project="proj")
        log.supersede("a", "b", "rerun")
        summaries = [detail.summarize(e).summary for e in log.about("a")]
    assert summaries == ["recorded", "pinned as the baseline of proj", "superseded by b: rerun"]


def test_the_headless_half_loads_no_textual():
    code = ("import sys, auditlog.tui.data.runs, auditlog.tui.data.detail, auditlog.tui.data.chain, "
            "auditlog.tui.data.trends, auditlog.tui.data.session\n"
            "print(' '.join(m for m in ('textual', 'rich') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""


def test_the_tui_command_loads_textual_only_when_it_runs():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom auditlog.cli import cli\n"
            "out = CliRunner().invoke(cli, ['tui', '--help']).output\n"
            "print('textual' in sys.modules, '--verify' in out, '--projections' in out)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


def test_the_run_screen_shows_no_event_that_is_not_in_the_verified_tree(tmp_path):
    """The holder rewrites a verdict's bytes AND its stored hash, inside a block a stored Merkle subtree
    covers (seqs 0..15): each event alone still hashes to its stored hash. The run's history must not show
    the forged verdict: it is read as `show` reads it, included in the verified tree, or not at all."""
    import hashlib

    from tests.tampering import as_holder

    db = tmp_path / "t.db"
    with AuditLog.open(db) as log:
        for run_id, score in (("m::weak", 0.1), ("m::good", 0.9), ("m::bad", 0.3)):
            log.record_run({"run_id": run_id, "project_id": "p", "model_id": "m", "items": [
                {"item_id": f"q{i}", "score": score, "passed": score >= 0.5} for i in range(12)]})
        verdict = log.record_verdict({"run_id": "m::bad", "baseline_run_id": "m::good", "metric": "score",
                                      "verdict": "BLOCK", "delta": -0.6})
        for i in range(12):
            log.annotate("m::good", tags={f"k{i}": "v"})
        view = projections.open(log, f"{db}.projections")
        assert [e.verdict for e in detail.load_detail(log, view, "m::bad").history if e.verdict] == ["BLOCK"]
    with as_holder(db) as conn:
        (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (verdict.seq,)).fetchone()
        forged = body.replace(b'"verdict":"BLOCK"', b'"verdict":"ALLOW"')
        assert forged != body
        conn.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?",
                     (forged, hashlib.sha256(forged).hexdigest(), verdict.seq))
    with AuditLog.open(db, create=False) as log:
        view.log = log
        with pytest.raises(IntegrityError, match="not included in the verified tree"):
            detail.load_detail(log, view, "m::bad")
