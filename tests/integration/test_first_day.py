"""A CI pipeline's first day, through the real CLI: writes into a directory that does not exist
yet, a gate with no baseline yet, the demo kept out of real logs, and one inspect eval read from
its .eval and its .json recorded once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest.ingest_support import EVAL_OUTPUTS
from tests.support.cli import cli

from .test_ci_flow import junit


def run_doc(path: Path, run_id: str, failing: set[int] = frozenset(), n: int = 20) -> Path:  # type: ignore[assignment]
    items = [{"item_id": f"t{i}", "score": 0.0 if i in failing else 1.0, "passed": i not in failing} for i in range(n)]
    path.write_text(json.dumps({"run_id": run_id, "project_id": "p", "model_id": "m", "items": items}))
    return path


# -- a directory that does not exist yet ----------------------------------------------------


@pytest.mark.parametrize("command", [
    ["init"],
    ["append", "run", "run.json"],
    ["ingest", "junit", "report.xml", "--project", "p", "--model", "m"],
], ids=lambda c: " ".join(c[:2]))
def test_writes_create_the_logs_directory(tmp_path, command):
    run_doc(tmp_path / "run.json", "r1")
    junit(tmp_path / "report.xml", set())
    done = cli(*command, "--log", "ci/cache/evals.db", cwd=tmp_path)
    assert done.code == 0, done
    assert cli("verify", "--log", "ci/cache/evals.db", cwd=tmp_path).code == 0


@pytest.mark.parametrize("command", [["verify"], ["events"], ["history"], ["show", "r1"]], ids=" ".join)
def test_reads_never_create_it(tmp_path, command):
    done = cli(*command, "--log", "missing/evals.db", cwd=tmp_path)
    assert done.code == 3 and len(done.err.strip().splitlines()) == 1, done
    assert not (tmp_path / "missing").exists()


def test_a_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    run_doc(tmp_path / "run.json", "r1")
    done = cli("append", "run", "run.json", "--log", "file/sub/evals.db", cwd=tmp_path)
    assert done.code == 4 and "cannot create the directory" in done.err and "Traceback" not in done.err, done


# -- the first run of a project: no baseline yet ---------------------------------------------


def events(workspace: Path, log: str = "e.db") -> list[dict]:
    done = cli("events", "--log", log, cwd=workspace)
    return [json.loads(line)["event"] for line in done.out.splitlines()]


@pytest.mark.parametrize("rule, verdict, code", [("allow", "ALLOW", 0), ("review", "NEEDS_REVIEW", 11),
                                                  ("block", "BLOCK", 10)])
def test_the_first_run_records_a_verdict_that_says_there_was_no_baseline(tmp_path, rule, verdict, code):
    run_doc(tmp_path / "run.json", "first")
    assert cli("append", "run", "run.json", "--log", "e.db", cwd=tmp_path).code == 0
    done = cli("gate", "first", "--baseline-latest", "--no-baseline", rule, "--log", "e.db", cwd=tmp_path)
    assert done.code == code, done
    assert "baseline: none (no earlier active run of project 'p' and model 'm'" in done.out
    assert f"{verdict}: No baseline:" in done.out
    [recorded] = [e["data"]["verdict"] for e in events(tmp_path) if e["type"] == "verdict.recorded"]
    assert recorded["baseline_run_id"] is None and recorded["verdict"] == verdict
    assert recorded["delta"] is None and recorded["policy"]["no_baseline"] == rule
    assert recorded["reason"].startswith("No baseline: no earlier active run")


def test_allow_is_the_default_and_fail_on_applies(tmp_path):
    run_doc(tmp_path / "run.json", "first")
    assert cli("append", "run", "run.json", "--log", "e.db", cwd=tmp_path).code == 0
    assert cli("gate", "first", "--baseline-latest", "--log", "e.db", cwd=tmp_path).code == 0
    assert cli("gate", "first", "--baseline", "pinned", "--no-baseline", "review", "--fail-on", "block",
               "--log", "e.db", cwd=tmp_path).code == 0
    blocked = cli("gate", "first", "--baseline", "pinned", "--no-baseline", "block", "--fail-on", "never",
                  "--output", "json", "--log", "e.db", cwd=tmp_path)
    assert blocked.code == 0 and blocked.json()["verdict"] == "BLOCK", blocked
    assert blocked.json()["baseline_run_id"] is None and "no baseline is pinned" in blocked.json()["baseline_chosen_by"]


def test_a_mistyped_baseline_is_still_not_found(tmp_path):
    run_doc(tmp_path / "run.json", "first")
    assert cli("append", "run", "run.json", "--log", "e.db", cwd=tmp_path).code == 0
    done = cli("gate", "first", "--baseline", "frist", "--log", "e.db", cwd=tmp_path)
    assert done.code == 3 and len(done.err.strip().splitlines()) == 1, done


def test_append_run_gates_its_first_run_and_the_next_against_it(tmp_path):
    run_doc(tmp_path / "one.json", "one")
    run_doc(tmp_path / "two.json", "two", failing={0, 1, 2, 3, 4, 5, 6, 7})
    first = cli("append", "run", "one.json", "--gate-against", "latest", "--no-baseline", "review",
                "--log", "e.db", cwd=tmp_path)
    assert first.code == 11 and "NEEDS_REVIEW: No baseline" in first.out, first
    second = cli("append", "run", "two.json", "--gate-against", "latest", "--log", "e.db", cwd=tmp_path)
    assert second.code == 10 and "baseline: one (latest active run of p/m)" in second.out, second


def test_a_verdict_without_a_baseline_shows_in_show_history_export_and_the_tui(tmp_path):
    run_doc(tmp_path / "run.json", "first")
    assert cli("append", "run", "run.json", "--gate-against", "latest", "--log", "e.db", cwd=tmp_path).code == 0
    shown = cli("show", "first", "--output", "json", "--log", "e.db", cwd=tmp_path)
    assert shown.code == 0, shown
    assert shown.json()["current"]["verdict"] == "ALLOW"
    [verdict] = [e["data"]["verdict"] for e in shown.json()["events"] if e["type"] == "verdict.recorded"]
    assert verdict["baseline_run_id"] is None
    history = cli("history", "--output", "json", "--log", "e.db", cwd=tmp_path)
    assert history.code == 0 and history.json()[0]["verdict"] == "ALLOW", history
    exported = cli("export", "--what", "verdicts", "--format", "jsonl", "--log", "e.db", cwd=tmp_path)
    assert exported.code == 0, exported
    [row] = [json.loads(line) for line in exported.out.splitlines()]
    assert row["baseline_run_id"] is None and row["verdict"] == "ALLOW" and row["reason"].startswith("No baseline")

    from auditlog.services.log import AuditLog
    from auditlog.tui.data.detail import summarize  # the Run screen's history lines
    with AuditLog.open(tmp_path / "e.db", create=False) as log:
        [sealed] = [e for e in log.about("first") if e.event.type == "verdict.recorded"]
        assert "ALLOW with no baseline" in summarize(sealed).summary


def test_a_hand_written_verdict_without_a_baseline_must_say_why(tmp_path):
    run_doc(tmp_path / "run.json", "first")
    assert cli("append", "run", "run.json", "--log", "e.db", cwd=tmp_path).code == 0
    doc = {"run_id": "first", "baseline_run_id": None, "metric": "score", "verdict": "ALLOW"}
    (tmp_path / "v.json").write_text(json.dumps(doc))
    done = cli("append", "verdict", "v.json", "--log", "e.db", cwd=tmp_path)
    assert done.code == 2 and "$.reason" in done.err, done
    (tmp_path / "v.json").write_text(json.dumps({**doc, "reason": "first run", "delta": 0.1}))
    done = cli("append", "verdict", "v.json", "--log", "e.db", cwd=tmp_path)
    assert done.code == 2 and "$.delta" in done.err, done
    (tmp_path / "v.json").write_text(json.dumps({**doc, "reason": "first run"}))
    assert cli("append", "verdict", "v.json", "--log", "e.db", cwd=tmp_path).code == 0


# -- the demo stays out of real logs ----------------------------------------------------------


def test_the_demo_refuses_a_log_that_is_not_a_demo_log(tmp_path):
    run_doc(tmp_path / "run.json", "r1")
    assert cli("append", "run", "run.json", "--log", "evals.db", cwd=tmp_path).code == 0
    before = cli("events", "--log", "evals.db", cwd=tmp_path).stdout
    done = cli("demo", "--log", "evals.db", cwd=tmp_path)
    assert done.code == 2 and "not a demo log" in done.err and len(done.err.strip().splitlines()) == 1, done
    assert cli("events", "--log", "evals.db", cwd=tmp_path).stdout == before
    assert cli("demo", "--log", "demo.db", cwd=tmp_path).code == 0
    again = cli("demo", "--log", "demo.db", cwd=tmp_path)
    assert again.code == 0 and "0 events appended" in again.out, again


# -- one inspect eval, two file formats -------------------------------------------------------


def test_an_inspect_eval_from_its_eval_and_its_json_is_one_run(tmp_path):
    folder = EVAL_OUTPUTS / "inspect"
    if not (folder / "log_formats.eval").is_file():
        pytest.skip(f"the real eval outputs are not at {EVAL_OUTPUTS}")
    first = cli("ingest", "inspect", folder / "log_formats.eval", "--log", "e.db", cwd=tmp_path)
    assert first.code == 0 and "recorded at seq 1" in first.out, first
    second = cli("ingest", "inspect", folder / "log_formats.json", "--log", "e.db", cwd=tmp_path)
    assert second.code == 0 and "already recorded at seq 1" in second.out, second
    [recorded] = [e for e in events(tmp_path) if e["type"] == "run.recorded"]
    assert recorded["data"]["source"]["files"] == [
        {"name": "log_formats.eval", "sha256": recorded["data"]["source"]["files"][0]["sha256"]}]
    assert "files" not in recorded["data"]["run"]["config"]["ingest"]
    printed = [cli("ingest", "inspect", folder / name, "--print", cwd=tmp_path).json()
               for name in ("log_formats.eval", "log_formats.json")]
    assert printed[0] == printed[1]  # the same run document, config fingerprint included


def test_init_on_an_empty_file_says_it_created_the_log(tmp_path):
    """`touch evals.db && auditlog init --log evals.db` made the log and said "already exists" (new-user
    review 3); on a log that does exist, init still says so and changes nothing."""
    db = tmp_path / "evals.db"
    db.touch()
    first = cli("init", "--log", db)
    assert first.code == 0 and f"log {db} created: log id " in first.out, first
    again = cli("init", "--log", db)
    assert again.code == 0 and again.out == first.out.replace(" created: ", " already exists: "), again


def test_a_new_log_is_described_in_plain_words(tmp_path):
    """An empty log, as on the first day: publish said "published 1 events", a trend of a project it does not
    have "it has: none" (new-user review 3)."""
    db = tmp_path / "evals.db"
    assert cli("init", "--log", db).code == 0
    assert cli("keygen", "--name", "ci.example.org", "--out", tmp_path / "ci.key").code == 0
    done = cli("publish", "--log", db, "--to", tmp_path / "pub", "--key", tmp_path / "ci.key")
    assert done.code == 0 and done.out.startswith("published 1 event of "), done
    trend = cli("trend", "--log", db, "--project", "p", "--metric", "accuracy")
    assert trend.code == 0 and "no run of the log has --project 'p'; it has no runs yet" in trend.err, trend
