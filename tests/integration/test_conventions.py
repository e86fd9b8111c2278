"""The CLI's manners (issue 14, Conventions): -h, -o on every command that prints records, one CSV
style with its header always, --samples with several files, the effective default in --help, every
exit code listed, "did you mean" for a mistyped run id, plurals, numbers, tables that fit."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from auditlog.cli import cli as group

from . import cli_support as s

ROOT = Path(__file__).resolve().parents[2]
LM_EVAL = (ROOT / ".." / "shared" / "data" / "eval-outputs" / "lm-eval").resolve()
NEGOTIATION = "results_2026-07-08T18-15-33.115417.json"  # three per-sample files, one per subtask
RECORD_COMMANDS = ["history", "show", "compare", "trend", "ab", "export", "events", "checkpoints"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in s.clean_env().items() if k != "COLUMNS"}
    env.update(extra)
    return env


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """Two runs of one project and model (the second with a comma and a quote in a tag), gated."""
    db = tmp_path / "evals.db"
    first = s.run_doc("acme-7b::mmlu::v1.0", n_items=12, experiment={"id": "exp", "group": "a", "version": "1.0"})
    second = s.run_doc("acme-7b::mmlu::v1.1", n_items=12, seed=1, version="1.1", tags={"note": 'a, "b"'},
                       experiment={"id": "exp", "group": "b", "version": "1.1"})
    second["items"][0]["score"] = 1 / 3
    for doc in (first, second):
        s.ok("append", "run", s.write_json(tmp_path / "run.json", doc), "--log", db)
    s.cli("gate", "acme-7b::mmlu::v1.1", "--baseline", "acme-7b::mmlu::v1.0", "--min-items", "2", "--log", db)
    return db


def _walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


def test_h_is_help_on_every_command() -> None:
    for path in _walk(group):
        short, long = s.cli(*path, "-h"), s.cli(*path, "--help")
        assert short.code == 0 and short.out == long.out and "Usage:" in short.out, (path, str(short))


def test_the_top_level_help_lists_every_exit_code() -> None:
    out = s.ok("--help").out
    codes = [line.split()[0] for line in out.split("Exit codes:")[1].splitlines() if line.strip()]
    assert codes == ["0", "1", "2", "3", "4", "5", "10", "11", "130", "143"]
    assert "interrupted" in out and "BLOCK" in out and "NEEDS_REVIEW" in out


def test_help_shows_the_log_in_effect(tmp_path: Path) -> None:
    def help_text(**env: str) -> str:
        return " ".join(s.ok("history", "--help", env=_env(**env)).out.split())  # unwrapped

    assert "[default: ci/evals.db (from $AUDITLOG_DB)]" in help_text(AUDITLOG_DB="ci/evals.db")
    assert "[default: auditlog.db]" in help_text()


def _parse(out: str, fmt: str) -> list:
    if fmt == "json":
        loaded = json.loads(out)
        return loaded if isinstance(loaded, list) else [loaded]
    if fmt == "jsonl":
        return [json.loads(line) for line in out.splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(out)))
    return out.splitlines()


def test_every_command_that_prints_records_takes_o(log: Path) -> None:
    args = {"history": [], "show": ["acme-7b::mmlu::v1.1"], "compare": ["acme-7b::mmlu::v1.0", "acme-7b::mmlu::v1.1"],
            "trend": ["--project", "mmlu-pro", "--metric", "pass_rate"], "ab": ["--experiment", "exp"],
            "export": [], "events": [], "checkpoints": []}
    assert sorted(args) == sorted(RECORD_COMMANDS)
    for command, extra in args.items():
        for fmt in ("table", "json", "jsonl", "csv"):
            for flag in ("-o", "--output"):
                done = s.ok(command, *extra, "--log", log, flag, fmt, env=_env())
                records = _parse(done.out, fmt)
                assert records or command == "checkpoints", (command, fmt, done.out)
    # export keeps --format as another name of -o
    assert s.ok("export", "--log", log, "--format", "jsonl").out == s.ok("export", "--log", log, "-o", "jsonl").out


def test_csv_has_its_header_with_no_rows_and_one_quoting_style(log: Path) -> None:
    header = s.ok("history", "--log", log, "--project", "none", "-o", "csv").out
    assert header.count("\n") == 1 and header.startswith("run_id,project_id,model_id,")
    exported = s.ok("export", "--log", log, "--project", "none", "-o", "csv").out
    assert exported == header  # the same columns, the same writer: flat, so no rows, no keys, no map columns
    cells = s.ok("history", "--log", log, "--project", "none", "-o", "csv", "--json-cells").out
    assert cells == s.ok("export", "--log", log, "--project", "none", "-o", "csv", "--json-cells").out
    maps = ("metrics", "scoped_metrics", "scope_status", "scope_reason", "tags")
    assert header.rstrip("\n").split(",") == [c for c in cells.rstrip("\n").split(",") if c not in maps]
    assert s.ok("checkpoints", "--log", log, "-o", "csv").out == "id,size,root,claimed_signers,created\n"
    assert s.ok("events", "--log", log, "--after", "99", "-o", "csv").out == "seq,ts,type,project,subject,hash,prev\n"

    history = s.ok("history", "--log", log, "-o", "csv", "--json-cells").out
    export = s.ok("export", "--log", log, "-o", "csv", "--json-cells").out
    flat = s.ok("export", "--log", log, "-o", "csv").out
    assert '"a, ""b"""' in flat  # the tag as a column of its own (tags.note), quoted the same way
    assert '"a, ""b"""' in s.ok("history", "--log", log, "-o", "csv").out  # history's CSV is flat too
    assert next(r for r in csv.DictReader(io.StringIO(flat)) if r["run_id"] == "acme-7b::mmlu::v1.1")["tags.note"] \
        == 'a, "b"'
    for text in (history, export):
        assert '"acme-7b::mmlu::v1.1"' not in text  # minimal quoting: only what needs it
        assert '"{""note"":""a, \\""b\\""""}"' in text  # the tag map as JSON, quotes doubled
        rows = list(csv.DictReader(io.StringIO(text)))
        assert json.loads(next(r for r in rows if r["run_id"] == "acme-7b::mmlu::v1.1")["tags"])["note"] == 'a, "b"'
        assert "\r" not in text
    assert {r["run_id"] for r in csv.DictReader(io.StringIO(export))} == {"acme-7b::mmlu::v1.0", "acme-7b::mmlu::v1.1"}


@pytest.mark.skipif(not LM_EVAL.is_dir(), reason=f"no real lm-eval outputs at {LM_EVAL}")
def test_samples_takes_several_files_after_one_flag_or_repeated(tmp_path: Path) -> None:
    samples = sorted(str(p) for p in LM_EVAL.glob("samples_negotiationtom_*.jsonl"))
    assert len(samples) == 3
    results = str(LM_EVAL / NEGOTIATION)
    one_flag = s.ok("ingest", "lm-eval", results, "--samples", *samples, "--print").json()
    repeated = s.ok("ingest", "lm-eval", results, *(a for f in samples for a in ("--samples", f)), "--print").json()
    assert one_flag == repeated and len(one_flag["items"]) == 60
    assert {i["item_id"].split("/")[0] for i in one_flag["items"]} == {
        "negotiationtom_belief", "negotiationtom_desire", "negotiationtom_intention"}  # one task per file
    # As the README writes it: a shell glob, through the installed command.
    env = {k: v for k, v in os.environ.items() if k != "AUDITLOG_DB"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    done = subprocess.run(["bash", "-c", f"auditlog ingest lm-eval {NEGOTIATION} --samples samples_negotiationtom_*.jsonl "
                                         f"--project negotiationtom --log {tmp_path / 'e.db'}"],
                          cwd=LM_EVAL, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and ", 60 items, 15 metrics" in done.stdout, done.stderr
    # One file still works, and an option after the files ends them.
    single = s.ok("ingest", "lm-eval", results, "--samples", samples[0], "--project", "negotiationtom", "--print").json()
    assert 0 < len(single["items"]) < 60 and single["project_id"] == "negotiationtom"


def test_a_mistyped_run_id_gets_the_closest_ids(log: Path, tmp_path: Path) -> None:
    for args in (["show", "acme-7b::mmlu::v1.2"], ["compare", "acme-7b::mmlu::v1.0", "acme-7b::mmlu:v1.1"],
                 ["annotate", "acme-7b::mmlu::v11", "--note", "x"],
                 ["supersede", "acme-7b::mmlu::v1.0", "--by", "acme-7b:mmlu::v1.1", "--reason", "x"],
                 ["prove", "acme7b::mmlu::v1.0", "--out", tmp_path / "ev"],
                 ["gate", "acme-7b::mmlu::v1.3", "--baseline-latest"]):
        line = s.one_line_error(s.cli(*args, "--log", log), 3, "did you mean")
        assert "'acme-7b::mmlu::v1.1'" in line or "'acme-7b::mmlu::v1.0'" in line, line
    far = s.one_line_error(s.cli("show", "zzzz", "--log", log), 3, "no run 'zzzz'")
    assert "did you mean" not in far
    # A version typed alone finds the ids that hold it.
    assert "'acme-7b::mmlu::v1.1'" in s.one_line_error(s.cli("show", "v1.1", "--log", log), 3, "did you mean")


def test_plurals_and_numbers(log: Path, tmp_path: Path) -> None:
    out = s.ok("export", "--log", log, "--project", "mmlu", "--model", "acme-7b", "--until", "2000-01-01",
               "--out", tmp_path / "none.csv").err
    assert "exported 0 runs" in out
    assert "exported 1 verdict to" in s.ok("export", "--log", log, "--what", "verdicts", "--out", tmp_path / "v.csv").err
    assert "exported 2 runs to" in s.ok("export", "--log", log, "--out", tmp_path / "r.csv").err
    status = s.ok("projections", "status", "--log", log).out
    assert "2 runs, " in status and "1 verdict" in status
    # Tables: four significant digits; JSON: full precision.
    items = json.loads(s.ok("show", "acme-7b::mmlu::v1.1", "--items", "-o", "json", "--log", log).out)["items"]
    assert items[0]["score"] == 1 / 3
    table = s.ok("show", "acme-7b::mmlu::v1.1", "--items", "--log", log, env=_env()).out
    assert " 0.3333 " in table and "0.33333" not in table
    assert "latency_ms" in table and " 10.50 " in table  # 10.5 to four digits


def test_tables_fit_the_width_and_wide_shows_all(log: Path) -> None:
    narrow = s.ok("history", "--log", log, env=_env(COLUMNS="60")).out.splitlines()
    assert all(len(line) <= 60 for line in narrow), narrow
    header = narrow[0].split()
    assert header[0] == "run_id" and header[-1] == "seq" and "…" in header  # middle columns cut, and marked
    assert "acme-7b::mmlu::v1.1" in narrow[2]
    wide = s.ok("history", "--log", log, "--wide", env=_env(COLUMNS="60")).out.splitlines()
    assert max(len(line) for line in wide) > 60 and "…" not in wide[0].split()
    assert wide[0].split() == ["run_id", "project_id", "model_id", "model_version", "n_items", "pass_rate",
                               "mean_score", "verdict", "status", "recorded_at", "config_seq", "seq"]
    piped = s.ok("history", "--log", log, env=_env()).out.splitlines()  # not a terminal, no $COLUMNS: all of it
    assert piped == wide
    events = s.ok("events", "--log", log, "-o", "table", env=_env(COLUMNS="40")).out.splitlines()
    assert all(len(line) <= 40 for line in events), events
