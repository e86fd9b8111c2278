"""Ingest from the command line, on real files: recorded, then shown by history and show with
the items and metrics the source file holds (figures read from the files independently)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from tests.integration.cli_support import fingerprint

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = (ROOT / ".." / "shared" / "data" / "eval-outputs").resolve()
pytestmark = pytest.mark.skipif(not OUTPUTS.is_dir(), reason=f"no real eval outputs at {OUTPUTS}")


def auditlog(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AUDITLOG_DB"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "auditlog", *args], cwd=cwd, env=env, capture_output=True, text=True)


def ingest_and_read(tmp_path: Path, *args: str) -> tuple[dict, dict]:
    done = auditlog(tmp_path, "ingest", *args, "--log", "e.db", "--output", "json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["subject"]
    [row] = json.loads(auditlog(tmp_path, "history", "--log", "e.db", "--output", "json").stdout)
    shown = json.loads(auditlog(tmp_path, "show", run_id, "--log", "e.db", "--output", "json", "--items").stdout)
    assert row["run_id"] == run_id and shown["run"]["run_id"] == run_id
    again = auditlog(tmp_path, "ingest", *args, "--log", "e.db")
    assert again.returncode == 0 and "already recorded" in again.stdout  # re-ingest is a retry
    return row, shown


def test_junit(tmp_path):
    report = OUTPUTS / "junit" / "report.xml"
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = [not any(c.find(t) is not None for t in ("failure", "error")) for c in cases]
    row, shown = ingest_and_read(tmp_path, "junit", str(report), "--project", "unit", "--model", "agent")
    assert row["n_items"] == len(outcomes) and row["n_passed"] == sum(outcomes)
    assert [i["passed"] for i in shown["run"]["items"]] == outcomes


def test_lm_eval_with_samples(tmp_path):
    results = OUTPUTS / "lm-eval" / "results_2024-08-21T03-44-09.494230.json"
    samples = OUTPUTS / "lm-eval" / "samples_asdiv_2024-08-21T03-44-09.494230.jsonl"
    source = json.loads(results.read_text())
    lines = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    row, shown = ingest_and_read(tmp_path, "lm-eval", str(results), "--samples", str(samples))
    assert row["metrics"]["asdiv/acc,none"] == source["results"]["asdiv"]["acc,none"]
    assert row["n_items"] == len(lines)
    assert row["n_passed"] == sum(1 for s in lines if s["acc"] == 1)
    assert row["pass_rate"] == pytest.approx(source["results"]["asdiv"]["acc,none"])


def test_inspect_eval_archive(tmp_path):
    log = OUTPUTS / "inspect" / "log_formats.eval"
    with zipfile.ZipFile(log) as archive:
        header = json.loads(archive.read("header.json"))
        n_samples = sum(1 for name in archive.namelist() if name.startswith("samples/"))
    row, shown = ingest_and_read(tmp_path, "inspect", str(log))
    assert row["model_id"] == header["eval"]["model"]
    assert row["n_items"] == n_samples == len(shown["run"]["items"])
    accuracy = header["results"]["scores"][0]["metrics"]["accuracy"]["value"]
    assert accuracy in row["metrics"].values()


def test_a_malformed_file_names_itself_and_appends_nothing(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text('<testsuite name="x"><testcase name="a"></testsuite>')
    done = auditlog(tmp_path, "ingest", "junit", str(broken), "--project", "p", "--model", "m", "--log", "e.db")
    assert done.returncode == 2 and "broken.xml" in done.stderr and "line 1" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e.db").exists()


LM_EVAL = OUTPUTS / "lm-eval"
ASDIV = "2024-08-21T03-44-09.494230"
NEGOTIATION = "2026-07-08T18-15-33.115417"


def one_line_refusal(done: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 with one line on stderr naming these words."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("auditlog: error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


INSPECT = OUTPUTS / "inspect"


@pytest.mark.parametrize("kind, path, extra, hint", [
    ("lm-eval", INSPECT / "data_arc_sonnet.json", [], "an inspect_ai log: auditlog ingest inspect"),
    ("lm-eval", INSPECT / "log_formats.eval", [], "an inspect_ai log: auditlog ingest inspect"),
    ("lm-eval", OUTPUTS / "junit" / "report.xml", [], "a JUnit report?: auditlog ingest junit"),
    ("lm-eval", LM_EVAL / f"samples_asdiv_{ASDIV}.jsonl", [], "an lm-eval samples file: auditlog ingest lm-eval RESULTS --samples FILE"),
    ("inspect", LM_EVAL / f"results_{ASDIV}.json", [], "an lm-eval results file: auditlog ingest lm-eval"),
    ("inspect", OUTPUTS / "junit" / "report.xml", [], "auditlog ingest junit"),
    ("junit", INSPECT / "log_formats.eval", ["--project", "p", "--model", "m"], "auditlog ingest inspect"),
    ("junit", INSPECT / "data_arc_sonnet.json", ["--project", "p", "--model", "m"], "auditlog ingest inspect"),
])
def test_a_file_of_another_harness_names_the_command_that_reads_it(tmp_path, kind, path, extra, hint):
    """A real file given to the wrong parser failed somewhere inside it ("$.results['total_samples']: must
    be an object of metrics"), and nothing said which command reads it (new-user review 3)."""
    one_line_refusal(auditlog(tmp_path, "ingest", kind, str(path), *extra, "--log", "e.db"), path.name, hint)
    assert not (tmp_path / "e.db").exists()


@pytest.mark.parametrize("kind", ["lm-eval", "inspect", "junit"])
def test_an_empty_file_says_it_is_empty(tmp_path, kind):
    empty = tmp_path / "out.json"
    empty.write_bytes(b"")
    line = one_line_refusal(auditlog(tmp_path, "ingest", kind, str(empty), "--project", "p", "--model", "m",
                                     "--log", "e.db"), "out.json: is empty")
    assert "looks like" not in line
    assert not (tmp_path / "e.db").exists()


def test_a_results_file_with_an_integer_python_will_not_read_is_one_line(tmp_path):
    """An integer of more than 4,300 digits made json.loads raise ValueError: a traceback, exit 1."""
    text = (LM_EVAL / f"results_{ASDIV}.json").read_text()
    bad = tmp_path / f"results_{ASDIV}.json"
    bad.write_text(text.replace('"n-shot"', '"huge": 1' + "0" * 5000 + ', "n-shot"', 1))
    one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", str(bad), "--log", "e.db"), bad.name, "4300 digits")
    assert not (tmp_path / "e.db").exists()


def test_samples_followed_by_nothing_is_a_usage_error_not_a_missing_log(tmp_path):
    """`--samples $FILES` with $FILES empty: --samples must not take the next option as its file."""
    results = str(LM_EVAL / f"results_{ASDIV}.json")
    for words in (["--samples", "--log", "e.db"], ["--samples", "", "--log", "e.db"],
                  ["--samples", str(LM_EVAL / f"samples_asdiv_{ASDIV}.jsonl"), "", "--log", "e.db"]):
        line = one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", results, *words), "--samples: needs")
        assert ("the next word, '--log', is an option" in line) == (words[1] == "--log"), line
    assert not (tmp_path / "e.db").exists()


def test_a_samples_file_named_otherwise_is_given_its_task_on_the_command_line(tmp_path):
    results = str(LM_EVAL / f"results_{ASDIV}.json")
    mine = tmp_path / "mysamples.jsonl"
    mine.write_bytes((LM_EVAL / f"samples_asdiv_{ASDIV}.jsonl").read_bytes())
    refused = auditlog(tmp_path, "ingest", "lm-eval", results, "--samples", str(mine), "--log", "e.db")
    one_line_refusal(refused, "mysamples.jsonl: does not name a task", "give --samples-task mysamples.jsonl=TASK")
    for wrong, reason in ((["--samples-task", "other.jsonl=asdiv"], "--samples-task: 'other.jsonl' is not one of"),
                          (["--samples-task", "mysamples.jsonl"], "--samples-task: 'mysamples.jsonl' is not FILE=TASK"),
                          (["--samples-task", f"{mine}=asdiv", "--samples-task", "mysamples.jsonl=asdiv"],
                           "--samples-task: 'mysamples.jsonl' is given twice")):
        one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", results, "--samples", str(mine), *wrong,
                                  "--log", "e.db"), reason)
    assert not (tmp_path / "e.db").exists()
    row, _ = ingest_and_read(tmp_path, "lm-eval", results, "--samples", str(mine), "--samples-task", f"{mine}=asdiv")
    assert row["n_items"] == 50 and row["n_passed"] == 46


def test_the_primary_metric_is_chosen_per_task(tmp_path):
    """negotiationtom_intention has exact_match, its sibling tasks only acc: one METRIC for every
    task cannot say it; TASK=METRIC can (docs/ingest.md)."""
    results = str(LM_EVAL / f"results_{NEGOTIATION}.json")
    samples = ["--samples", *(str(p) for p in sorted(LM_EVAL.glob(f"samples_negotiationtom_*_{NEGOTIATION}.jsonl")))]
    one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", results, *samples, "--primary-metric", "exact_match",
                              "--log", "e.db"), "has no per-sample metric 'exact_match' (it has: acc)")
    for wrong, reason in (
            (["--primary-metric", "negotiationtom_intentoin=exact_match"],
             "--primary-metric: task 'negotiationtom_intentoin' has no samples file"),
            (["--primary-metric", "acc", "--primary-metric", "negotiationtom_intention=exact_match"],
             "--primary-metric: give one METRIC for every task, or TASK=METRIC per task, not both"),
            (["--primary-metric", "acc", "--primary-metric", "exact_match"], "--primary-metric: is given 2 times"),
            (["--primary-metric", "=acc"], "--primary-metric: '=acc' is not TASK=METRIC")):
        one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", results, *samples, *wrong, "--log", "e.db"), reason)
    one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", results, "--primary-metric", "acc", "--log", "e.db"),
                     "--primary-metric: is about the per-sample files: give them with --samples")
    assert not (tmp_path / "e.db").exists()
    row, shown = ingest_and_read(tmp_path, "lm-eval", results, *samples,
                                 "--primary-metric", "negotiationtom_intention=exact_match")
    chosen = {(i["extra"]["task"], i["extra"]["metric"]) for i in shown["run"]["items"]}
    assert chosen == {("negotiationtom_belief", "acc"), ("negotiationtom_desire", "acc"),
                      ("negotiationtom_intention", "exact_match")} and row["n_items"] == 60
    bias = "2024-06-17T15-44-37.867068"
    printed = auditlog(tmp_path, "ingest", "lm-eval", str(LM_EVAL / f"results_{bias}.json"), "--samples",
                       str(LM_EVAL / f"samples_bias_classification_{bias}.json"),
                       "--primary-metric", "bias_classification=acc_norm", "--print")
    assert printed.returncode == 0, printed.stderr
    assert {i["extra"]["metric"] for i in json.loads(printed.stdout)["items"]} == {"acc_norm"}


def test_a_configuration_names_an_ingested_metric_as_history_shows_it(tmp_path):
    """The metric `asdiv/acc,none` as ingested (0.92 in the file) is named whole by `project configure`."""
    results = str(LM_EVAL / f"results_{ASDIV}.json")
    for option in (["--metric-bounds", "asdiv/acc,none=0.95..1"], ["--lower-is-better", "asdiv/acc_stderr,none"]):
        done = auditlog(tmp_path, "project", "configure", "asdiv", *option, "--log", "e.db")
        assert done.returncode == 0, done.stderr
    config = json.loads(auditlog(tmp_path, "project", "show", "asdiv", "--log", "e.db", "--output", "json").stdout)
    assert config["config"]["lower_is_better"] == ["asdiv/acc_stderr,none"]
    assert list(config["config"]["metric_bounds"]) == ["asdiv/acc,none"]
    before = fingerprint(tmp_path / "e.db")
    one_line_refusal(auditlog(tmp_path, "ingest", "lm-eval", results, "--log", "e.db"),
                     '$.metrics["asdiv/acc,none"]: 0.92 is outside its bounds 0.95..1')
    assert fingerprint(tmp_path / "e.db") == before, "a refused run writes nothing"


def test_results_ingested_again_with_their_samples_say_how_to_record_them(tmp_path):
    """A first try without --samples, then with them: the derived run id is taken, exit 5, and the line
    said only "a correction is a new run and `auditlog supersede`" (new-user review 3)."""
    results = str(LM_EVAL / f"results_{ASDIV}.json")
    samples = str(LM_EVAL / f"samples_asdiv_{ASDIV}.jsonl")
    assert auditlog(tmp_path, "ingest", "lm-eval", results, "--log", "e.db").returncode == 0
    done = auditlog(tmp_path, "ingest", "lm-eval", results, "--samples", samples, "--log", "e.db")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 5 and len(lines) == 1, done.stderr
    assert "give --run-id NEW, then `auditlog supersede " in lines[0] and "--by NEW`" in lines[0]
    again = auditlog(tmp_path, "ingest", "lm-eval", results, "--samples", samples, "--run-id", "asdiv-2",
                     "--log", "e.db")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("path, hint", [
    (LM_EVAL / f"results_{ASDIV}.json", "an lm-eval results file: auditlog ingest lm-eval"),
    (INSPECT / "data_arc_sonnet.json", "an inspect_ai log: auditlog ingest inspect"),
    (INSPECT / "log_formats.eval", "an inspect_ai log: auditlog ingest inspect"),
    (OUTPUTS / "junit" / "report.xml", "auditlog ingest junit"),
])
def test_a_harness_file_given_to_append_names_the_ingest_that_reads_it(tmp_path, path, hint):
    """`append run results_*.json` was refused with "$.chat_template: unknown field (allowed: ...)": true,
    and no help to someone who meant `ingest` (new-user review 3)."""
    one_line_refusal(auditlog(tmp_path, "append", "run", str(path), "--log", "e.db"), hint)
    assert not (tmp_path / "e.db").exists()
