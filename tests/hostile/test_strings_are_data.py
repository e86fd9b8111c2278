"""Strings are data, never code or markup: through the real CLI, in subprocesses.

Run ids, model names, versions, tags, metric names and item errors carry ANSI escape
sequences, control characters, Rich/Textual markup, SQL quotes, path separators, '..'
and 100k characters; free text (versions, tag values, metric names, item errors) also
carries C1 and bidirectional controls, which ids refuse (tests/hostile/test_identifiers.py).
Tables print them escaped (no raw ESC, BEL, CR, CSI or RLO reaches the terminal); csv,
jsonl and parquet exports keep them exact; `prove` writes only inside
its --out directory whatever the run id; a file that is not UTF-8 is one clear line and
exit 2 for every command that reads one.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from .hostile_support import cli_support as s

ESC = "\x1b[31mred\x1b[0m"
OSC = "\x1b]0;owned\x07"
HUGE = "x" * 100_000
RUN_IDS = ["[red]markup[/red]", "[@click=app.quit]quit[/]", "'; DROP TABLE events; --", "../../escaped",
           "/abs/evil", "a/../../b", "..", "C:\\windows\\evil", "x" * 512, "plain-run"]
BIDI = "safe\u202egnp.exe \u2066iso\u2069 \u200f"
C1 = "next\x85line csi\x9b2J"
RAW_CONTROL = (b"\x1b", b"\x07", b"\x9b", b"\r", b"\x00", b"\xc2\x85", b"\xe2\x80\xae", b"\xe2\x81\xa6", b"\xe2\x80\x8f")


def _doc(run_id: str, i: int) -> dict[str, Any]:
    return s.run_doc(
        run_id, project="hostile", model="[bold]acme[/bold]'\"", version=f"{ESC}v{i}",
        seed=i, tags={"owner": OSC, "markup": "[@click=app.quit]x[/]", "sql": "' OR 1=1 --", "path": "../../x",
                      "huge": HUGE if i == 0 else "small", "ctl": "tab\there\nnew\rcr\x00nul", "bidi": BIDI, "c1": C1},
        metrics={"accuracy": 0.5, f"{ESC}metric": 0.25},
        dataset={"name": f"ds{OSC}", "version": "../v1"},
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile")
    db = root / "evals.db"
    docs = [_doc(run_id, i) for i, run_id in enumerate(RUN_IDS)]
    docs[0]["items"][0]["error"] = f"boom {ESC} {OSC} [red]x[/red]"
    docs[0]["items"][0]["passed"] = False
    for doc in docs:
        s.ok("append", "run", s.write_json(root / "doc.json", doc), "--log", db)
    s.ok("keygen", "--name", "ci.example", "--out", root / "ci.key")
    return {"root": root, "db": db, "docs": docs}


def _no_raw_control(result: s.Result) -> None:
    for raw in RAW_CONTROL:
        assert raw not in result.stdout, f"raw {raw!r} in stdout:\n{result.stdout[:2000]!r}"
        assert raw not in result.stderr, f"raw {raw!r} in stderr:\n{result.stderr[:2000]!r}"


@pytest.mark.parametrize("args", [
    ["history", "--output", "table"], ["history", "--all"], ["events", "--output", "table"],
    ["show", RUN_IDS[0]], ["show", RUN_IDS[0], "--items"], ["show", RUN_IDS[3], "--failed"],
    ["compare", RUN_IDS[0], RUN_IDS[1]], ["checkpoints"],
    ["projections", "status"],
])
def test_tables_print_control_characters_escaped(hostile: dict[str, Any], args: list[str]) -> None:
    result = s.ok(*args, "--log", hostile["db"])
    _no_raw_control(result)
    if args[0] == "show":
        assert "\\x1b[31m" in result.out  # shown escaped, not dropped


def test_history_table_shows_markup_literally_and_cuts_huge_cells(hostile: dict[str, Any]) -> None:
    out = s.ok("history", "--log", hostile["db"], "--output", "table").out
    assert "[red]markup[/red]" in out and "[@click=app.quit]quit[/]" in out
    assert max(len(line) for line in out.splitlines()) < 2000


def test_a_refused_hostile_argument_is_one_escaped_line(hostile: dict[str, Any]) -> None:
    for run_id in (ESC, OSC, HUGE, "nul\x01", BIDI, C1):
        result = s.cli("annotate", run_id, "--note", "n", "--log", hostile["db"])
        assert result.code in (2, 3), str(result)
        _no_raw_control(result)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and len(lines[0]) < 2100, str(result)[:3000]


def _expected(doc: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": doc["run_id"], "model_id": doc["model_id"], "model_version": doc["model_version"],
            "tags": doc["tags"], "metrics": doc["metrics"], "dataset_name": doc["dataset"]["name"]}


def _check_records(records: list[dict[str, Any]], docs: list[dict[str, Any]]) -> None:
    by_id = {r["run_id"]: r for r in records}
    assert set(by_id) == {d["run_id"] for d in docs}
    for doc in docs:
        record = by_id[doc["run_id"]]
        for key, value in _expected(doc).items():
            got = record[key]
            if isinstance(value, dict) and isinstance(got, str):
                got = json.loads(got)
            assert got == value, (doc["run_id"], key)


def test_jsonl_export_keeps_strings_exact(hostile: dict[str, Any]) -> None:
    out = s.ok("export", "--format", "jsonl", "--log", hostile["db"]).stdout
    _check_records([json.loads(line) for line in out.splitlines()], hostile["docs"])
    raw = out.decode("utf-8")
    assert "\\u202e" in raw and "\u202e" not in raw and "\x85" not in raw, "JSON output escapes them; values exact"


def test_csv_export_keeps_strings_exact(hostile: dict[str, Any]) -> None:
    out = hostile["root"] / "runs.csv"
    s.ok("export", "--format", "csv", "--json-cells", "--out", out, "--log", hostile["db"])
    with out.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    _check_records(records, hostile["docs"])
    s.ok("export", "--format", "csv", "--out", out, "--log", hostile["db"])  # flat: a column per metric and tag
    with out.open(newline="", encoding="utf-8") as f:
        flat = {r["run_id"]: r for r in csv.DictReader(f)}
    for doc in hostile["docs"]:
        assert {k: flat[doc["run_id"]][f"tags.{k}"] for k in doc["tags"]} == doc["tags"]
        assert {k: float(flat[doc["run_id"]][f"metrics.{k}"]) for k in doc["metrics"]} == doc["metrics"]


def test_parquet_export_keeps_strings_exact(hostile: dict[str, Any]) -> None:
    import pyarrow.parquet as pq
    raw = s.ok("export", "--format", "parquet", "--log", hostile["db"]).stdout
    records = pq.read_table(io.BytesIO(raw)).to_pylist()
    for r in records:  # map columns come back as lists of pairs
        for key in ("tags", "metrics"):
            if isinstance(r.get(key), list):
                r[key] = dict(r[key])
    _check_records(records, hostile["docs"])


def test_items_export_keeps_item_errors_exact(hostile: dict[str, Any]) -> None:
    out = s.ok("export", "--format", "jsonl", "--what", "items", "--log", hostile["db"]).stdout
    errors = {json.loads(line).get("error") for line in out.splitlines()}
    assert hostile["docs"][0]["items"][0]["error"] in errors


def _files_under(root: Path) -> set[Path]:
    return {Path(dirpath) / name for dirpath, _, names in os.walk(root) for name in names}


def test_prove_writes_only_inside_its_directory(hostile: dict[str, Any], tmp_path: Path) -> None:
    work = tmp_path / "work"
    nested = work / "a" / "b"
    nested.mkdir(parents=True)
    db = work / "evals.db"
    db.write_bytes(hostile["db"].read_bytes())
    s.ok("keygen", "--name", "ci.example", "--out", work / "ci.key")
    note = s.ok("checkpoint", "--key", work / "ci.key", "--log", db).out
    origin = note.splitlines()[0]
    before = _files_under(tmp_path)
    for i, run_id in enumerate(RUN_IDS):
        out_dir = nested / f"out{i}"
        result = s.ok("prove", run_id, "--out", out_dir, "--log", db, "--vkey", work / "ci.vkey", cwd=nested)
        _no_raw_control(result)
        written = _files_under(tmp_path) - before
        assert written and all(out_dir in p.parents for p in written), (run_id, written)
        assert {p.parent for p in written} == {out_dir}, (run_id, written)
        assert len(written) == 2 and all(len(p.name) < 200 for p in written)
        before |= written
        event, proof = sorted(written, key=lambda p: p.suffix)
        assert s.cli("verify-proof", event, proof, "--vkey", work / "ci.vkey", "--origin", origin).code == 0


# -- invalid UTF-8 in files ---------------------------------------------------------------------

BAD_UTF8 = b'{"project_id": "p\xff\xfe", "model_id": "m"}'


@pytest.mark.parametrize("args", [
    ["append", "run", "{file}"],
    ["append", "verdict", "{file}"],
    ["ingest", "lm-eval", "{file}"],
    ["ingest", "inspect", "{file}"],
    ["ingest", "junit", "{file}", "--project", "p", "--model", "m"],
    ["verify", "--checkpoint", "{file}", "--vkey", "{file}"],
    ["verify", "--checkpoint", "{file}", "--vkey", "{vkey}"],
    ["checkpoint", "--key", "{file}"],
    ["verify-proof", "{file}", "{file}", "--vkey", "{file}"],
    ["cosign", "{file}", "--key", "{file}"],
    ["cosign", "{file}", "--key", "{key}"],
])
@pytest.mark.parametrize("content", [BAD_UTF8, b"\xc3\x28" * 10, b"<?xml version='1.0'?>\n<testsuite name='\xff'/>"])
def test_invalid_utf8_in_a_file_is_one_clear_line(hostile: dict[str, Any], tmp_path: Path, args: list[str],
                                                   content: bytes) -> None:
    db = tmp_path / "evals.db"
    db.write_bytes(hostile["db"].read_bytes())
    bad = tmp_path / "bad.file"
    bad.write_bytes(content)
    if args[0] == "checkpoint":
        bad.chmod(0o600)
    before = s.fingerprint(db)
    note_read = args in (["verify", "--checkpoint", "{file}", "--vkey", "{vkey}"], ["cosign", "{file}", "--key", "{key}"])
    places = {"{file}": bad, "{vkey}": hostile["root"] / "ci.vkey", "{key}": hostile["root"] / "ci.key"}
    args = [str(places.get(a, a)) for a in args]
    result = s.cli(*args, "--log", db) if args[0] != "verify-proof" else s.cli(*args)
    # A signed note that is not UTF-8 is a malformed checkpoint: a verification failure (exit 1),
    # as any other damaged note is; every other file is invalid input (exit 2).
    assert result.code in ((1, 2) if note_read else (2,)), str(result)
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
    _no_raw_control(result)
    assert s.fingerprint(db) == before
