"""`auditlog report` through the real CLI, on real logs: what the page says, that it is offline, that
every value is text, and that a log that fails verify shows nothing but the failure."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditlog.render import safe_text
from auditlog.render_svg import escape
from tests.hostile.hostile_support import NASTY_IDS
from tests.integration.cli_support import cli, ok, one_line_error, run_doc
from tests.tampering import as_holder


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    db = tmp_path / "evals.db"
    ok("demo", "--log", db)
    return db


class Elements(HTMLParser):
    """Every element and attribute of a page, as a browser's parser sees them, and the text of its <style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "style":
            self.styles.append(data)


def offline(page: str) -> Elements:
    """Nothing in the page is fetched or run: no script, no external resource, no handler, only in-page links."""
    parsed = Elements()
    parsed.feed(page)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignobject"}, names
    for tag, attrs in parsed.tags:
        assert "src" not in attrs and not any(a.startswith("on") for a in attrs), (tag, attrs)
        assert attrs.get("href") is None or attrs["href"].startswith("#"), (tag, attrs)
        assert "xlink:href" not in attrs
    assert len(parsed.styles) == 1 and "url(" not in parsed.styles[0] and "@import" not in parsed.styles[0]
    return parsed


def test_a_report_of_the_demo_log(demo: Path, tmp_path: Path):
    key = tmp_path / "ci.key"
    ok("keygen", "--name", "ci.example", "--out", key)
    vkey = key.with_suffix(".vkey")
    ok("checkpoint", "--log", demo, "--key", key)
    verdicts = json.loads(ok("export", "--log", demo, "--what", "verdicts", "--output", "json").out)
    ok("override", str(verdicts[0]["seq"]), "--to", "ALLOW", "--reason", "reviewed by the safety board", "--log", demo)
    out = tmp_path / "report.html"

    result = ok("report", "--log", demo, "--out", out, "--vkey", vkey)
    assert str(out) in result.out and "16 runs" in result.out and "3 verdicts" in result.out
    page = out.read_text(encoding="utf-8")
    offline(page)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")

    # verification: the real verify, in its own words (what it checked and what it did not)
    said = ok("verify", "--log", demo, "--vkey", vkey).out.strip()
    assert said.startswith("ok: ") and "signed by ci.example" in said
    assert escape(said) in page and "VERIFIED" in page
    # the stored checkpoint, and which key checked its signature
    assert re.search(r"<td>ci\.example</td><td>ci\.example</td>", page)
    # the verdict timeline, with the override and its reason
    assert page.count('class="timeline"') == 1
    assert "reviewed by the safety board" in page and "ALLOW</span>" in page
    # a trend chart per project and metric, drawn as SVG
    assert page.count('<svg class="chart"') >= 6
    for project in ("mmlu-pro", "humaneval-lite", "safety-refusals"):
        assert f'aria-label="{project}: pass_rate"' in page
    # the latest A/B summary
    assert '<h2 id="ab">' in page and "wins" in page
    # every run, anchored, with its event hash and the command that writes its evidence
    runs = ok("history", "--log", demo, "--all", "--output", "json").json()
    assert len(runs) == 16
    for run in runs:
        assert f'id="run-{run["seq"]}"' in page and run["event_hash"] in page
        assert escape(f"auditlog prove {run['run_id']} --log {demo}") in page


def test_the_evidence_files_the_report_names_are_what_prove_writes(demo: Path, tmp_path: Path):
    key = tmp_path / "ci.key"
    ok("keygen", "--name", "ci.example", "--out", key)
    ok("checkpoint", "--log", demo, "--key", key)
    out = tmp_path / "report.html"
    ok("report", "--log", demo, "--out", out)
    page = out.read_text(encoding="utf-8")
    run = ok("history", "--log", demo, "--limit", "1", "--output", "json").json()[0]
    row = page[page.index(f'id="run-{run["seq"]}"'):]
    files = re.search(r"writes (evidence/\S+\.event), (evidence/\S+\.tlog-proof)</span>", row)
    assert files is not None
    ok("prove", run["run_id"], "--log", demo, "--out", tmp_path / "evidence", "--vkey", key.with_suffix(".vkey"), cwd=tmp_path)
    for name in files.groups():
        assert (tmp_path / html.unescape(name)).is_file(), name


def test_ids_are_text_in_the_page(tmp_path: Path):
    db = tmp_path / "hostile.db"
    ok("init", "--log", db)
    recorded = []
    for n, nasty in enumerate(["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', *NASTY_IDS]):
        doc = run_doc(nasty, project=f"<b>p{n % 2}</b>", model=nasty, version=nasty, seed=n,
                      experiment={"id": "<i>exp</i>", "group": "<a>" if n % 2 else "<b>"})
        path = tmp_path / f"run{n}.json"
        path.write_text(json.dumps(doc))  # ASCII: \u escapes, a lone surrogate included
        if cli("append", "run", path, "--log", db).code == 0:
            recorded.append(nasty)
    assert "<script>alert(1)</script>" in recorded and len(recorded) > 10
    out = tmp_path / "report.html"
    ok("report", "--log", db, "--out", out)
    page = out.read_text(encoding="utf-8")
    offline(page)
    assert "<b>p0</b>" not in page and "&lt;b&gt;p0&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<a>" not in page
    for nasty in recorded:
        assert escape(safe_text(nasty, limit=80)) in page, nasty


def test_a_log_that_fails_verify_gets_a_report_of_the_failure_and_nothing_else(demo: Path, tmp_path: Path):
    run_ids = [r["run_id"] for r in ok("history", "--log", demo, "--all", "--output", "json").json()]
    with as_holder(demo) as conn:
        body = conn.execute("SELECT body FROM events WHERE seq = 3").fetchone()[0]
        conn.execute("UPDATE events SET body = ? WHERE seq = 3", (bytes(body).replace(b'"score":', b'"score": ', 1),))
    out = tmp_path / "report.html"
    result = cli("report", "--log", demo, "--out", out)
    assert result.code == 1, str(result)
    assert "Traceback" not in result.err and "verify FAILED" in result.err
    page = out.read_text(encoding="utf-8")
    offline(page)
    assert "VERIFICATION FAILED" in page and "Nothing else from this log is shown" in page
    assert "first at seq 3" in page
    assert not any(run_id in page for run_id in run_ids)
    assert "<svg" not in page


def test_bad_input_writes_nothing(demo: Path, tmp_path: Path):
    out = tmp_path / "report.html"
    one_line_error(cli("report", "--log", demo, "--out", out, "--project", "no-such-project"), 2, "--project",
                   "no-such-project")
    one_line_error(cli("report", "--log", demo, "--out", out, "--checkpoint", demo), 2, "--vkey")
    one_line_error(cli("report", "--log", tmp_path / "missing.db", "--out", out), 3)
    one_line_error(cli("report", "--log", demo, "--out", out, "--include-status", "valid,bogus"), 2,
                   "--include-status", "'bogus'")
    one_line_error(cli("report", "--log", tmp_path / "never.db", "--out", out, "--include-status", "bogus"), 2)
    assert not out.exists() and not (tmp_path / "never.db").exists()
    assert not list(tmp_path.glob(".report.html.*"))


def test_project_runs_and_experiments_limit_what_is_shown(demo: Path, tmp_path: Path):
    out = tmp_path / "report.html"
    result = ok("report", "--log", demo, "--out", out, "--project", "mmlu-pro", "--runs", "2", "--experiments", "0")
    assert "2 runs" in result.out and "0 A/B summaries" in result.out
    page = out.read_text(encoding="utf-8")
    assert 'aria-label="mmlu-pro: pass_rate"' in page and "humaneval-lite: pass_rate" not in page
    assert page.count('<a id="run-') == 2 and "No experiment with two groups" in page


def test_a_report_of_a_log_on_postgresql(pg_url: str, tmp_path: Path):
    ok("demo", "--log", pg_url)
    out = tmp_path / "report.html"
    result = ok("report", "--log", pg_url, "--out", out, "--projections", tmp_path / "projections")
    assert "16 runs" in result.out
    page = out.read_text(encoding="utf-8")
    offline(page)
    assert "VERIFIED" in page and page.count('<svg class="chart"') >= 6
    assert escape(ok("verify", "--log", pg_url).out.strip()) in page


def test_a_verdict_computed_elsewhere_is_marked(tmp_path: Path):
    db, out = tmp_path / "l.db", tmp_path / "report.html"
    ok("append", "run", "-", "--log", db, input=json.dumps(run_doc("imported")))
    ok("append", "run", "-", "--log", db, input=json.dumps(run_doc("gated")))
    ok("append", "verdict", "-", "--log", db, input=json.dumps(
        {"run_id": "imported", "baseline_run_id": None, "metric": "accuracy", "delta": -0.25, "p_value": 0.2,
         "verdict": "BLOCK", "computed_by": "evalsig"}))
    ok("append", "verdict", "-", "--log", db, input=json.dumps(
        {"run_id": "gated", "baseline_run_id": "imported", "metric": "accuracy", "delta": 0.0, "p_value": 1.0,
         "verdict": "ALLOW"}))
    ok("report", "--log", db, "--out", out)
    page = out.read_text()
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    imported = [r for r in rows if ">imported<" in r and "BLOCK" in r]
    gated = [r for r in rows if ">gated<" in r and "ALLOW" in r]
    assert len(imported) == 2 and len(gated) == 2  # the verdict timeline's table and the runs table
    assert all("computed by evalsig" in r for r in imported)
    assert not any("computed by" in r for r in gated)
    assert page.count("computed by evalsig") == 3  # and the timeline's dot says so


def scoped_runs(db: Path) -> None:
    """agent-suite: eval valid in 1.0 and once in 1.1, invalid once in 1.1 and in 1.2 (left out); judge
    invalid in every run."""
    for version, status, value in (("1.0", "valid", 0.8), ("1.1", "valid", 0.9), ("1.1", "invalid", 0.1),
                                   ("1.2", "invalid", 0.3)):
        scopes = {"eval": {"status": status, "metrics": {"accuracy": value},
                           **({"reason": "grader crashed"} if status == "invalid" else {})},
                  "judge": {"status": "invalid", "reason": "judge timed out", "metrics": {"accuracy": 0.25}}}
        ok("append", "run", "-", "--log", db,
           input=json.dumps(run_doc(f"agent-{version}-{status}", "agent-suite", version=version, metric_scopes=scopes)))


def test_scoped_metrics_are_charted_on_valid_headline_values_and_say_what_was_left_out(tmp_path: Path):
    db, out = tmp_path / "l.db", tmp_path / "report.html"
    scoped_runs(db)
    ok("report", "--log", db, "--out", out)
    page = out.read_text()
    offline(page)
    assert "agent-suite: eval/accuracy" in page and "agent-suite: judge/accuracy" not in page
    box = page[page.index("agent-suite: eval/accuracy"):]
    box = box[:box.index("</details>")]
    assert "left out: 2 runs invalid (scope not valid and headline)" in box
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", box, re.S)]
    assert cells[0][-1] == "left out"  # version 1.2, whose one run was left out, has no row: no value to show
    assert [c[:3] + c[-1:] for c in cells[1:]] == [["1.0", "1", "0.8000", ""], ["1.1", "1", "0.9000", "1 run invalid"]]
    trend = ok("trend", "--log", db, "--project", "agent-suite", "--metric", "eval/accuracy", "-o", "json").out
    assert [(p["model_version"], p["samples"]) for p in json.loads(trend)] == [("1.0", 1), ("1.1", 1)]
    assert ("Not charted, recorded only in scopes that trends leave out: <code>judge/accuracy</code> "
            "(4 runs invalid)") in page


def test_include_status_charts_scoped_values_of_those_statuses_marked_as_trend_marks_them(tmp_path: Path):
    db, out = tmp_path / "l.db", tmp_path / "report.html"
    scoped_runs(db)
    ok("report", "--log", db, "--out", out, "--include-status", "invalid")
    page = out.read_text()
    offline(page)
    assert "scopes whose status is invalid (<code>--include-status</code>" in page
    box = page[page.index("agent-suite: eval/accuracy (uses invalid)"):]  # the chart's title marks it
    box = box[:box.index("</details>")]
    assert "used: 2 runs invalid (scope not valid and headline, included by <code>--include-status</code>)" in box
    assert "left out:" not in box
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", box, re.S)]
    assert cells[0][-1] == "used"
    assert [c[:3] + c[-1:] for c in cells[1:]] == [["1.0", "1", "0.8000", ""], ["1.1", "2", "0.5000", "1 run invalid"],
                                                   ["1.2", "1", "0.3000", "1 run invalid"]]
    trend = json.loads(ok("trend", "--log", db, "--project", "agent-suite", "--metric", "eval/accuracy",
                          "--include-status", "invalid", "-o", "json").out)  # the same figures and marks as trend
    assert [(p["model_version"], p["samples"], p["avg"], p.get("included")) for p in trend] == [
        ("1.0", 1, 0.8, None), ("1.1", 2, 0.5, {"invalid": 1}), ("1.2", 1, 0.3, {"invalid": 1})]
    assert "agent-suite: judge/accuracy (uses invalid)" in page and "Not charted" not in page
    ok("report", "--log", db, "--out", out, "--include-status", "diagnostic")  # no scope of that status here
    page = out.read_text()
    assert "(uses " not in page and "left out: 2 runs invalid" in page and "Not charted" in page


def test_the_report_never_writes_through_a_link_planted_at_its_temporary_name(tmp_path: Path) -> None:
    """report.save wrote `.NAME.<pid>.tmp` beside the page with open(..., "w"): whoever can write the directory
    (a shared reports folder) planted a link there, and the page was written into the file it points to
    (attacker review 3). The temporary name is unguessable now, and created exclusively."""
    import os

    from auditlog.app.report import save

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "shared" / "report.html"
    out.parent.mkdir()
    for pid in {os.getpid(), *range(os.getpid() - 50, os.getpid() + 50)}:
        (out.parent / f".report.html.{pid}.tmp").symlink_to(victim)
    save("<html>page</html>\n", out)
    assert victim.read_text() == "keep me\n"
    assert out.read_text() == "<html>page</html>\n" and not out.is_symlink()
