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
