"""Identifiers that deceive (issue 12): C1 controls, bidirectional controls and direction marks.

`safe\u202egnp.exe` shows as `safeexe.png`; U+009B is a CSI to many terminals. Ids (run,
project, model, experiment and item ids, tag keys, a verdict's run ids and metric) refuse
them: `auditlog append` exits 2 with one line that names the field and the code point, and
writes nothing. Free text (tag values, notes, versions, item errors) keeps them as data, and
every human-facing output shows them escaped (`\\u202e`): tables, `show`, CSV and the TUI;
JSON and JSONL write them as JSON escapes, so `json.loads` gives back the exact value.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from auditlog import AuditLog, InvalidInput
from auditlog.evals import runs as core_runs
from auditlog.evals.runs import check_identifier, prepare_run
from auditlog.render import escape_json_bytes, json_text, render, safe_text

from .hostile_support import REFUSED_IN_IDS
from .hostile_support import cli_support as s

C1 = ["\x85", "\x9b", "\x80", "\x9f"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
MARKS = ["\u200e", "\u200f", "\u061c"]
# they print nothing: "cand\u200b" displayed as "cand" everywhere (attacker review 3)
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u2063", "\ufeff", "\u00ad", "\u180e", "\u206a", "\u3164",
             "\U000e0041", "\U000e0001"]
DECEPTIVE = C1 + BIDI + MARKS + INVISIBLE
ALLOWED = ["é", "🎉", "\u00a0", "\u202f", "\u2065", "\u061b", "\u061d", "中文", "\U0001f468\U0001f3fd", "\U000e0100"]


def code_point(char: str) -> str:
    """How the error names a character: U+XXXX, and its Unicode name when it has one."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _id(char: str) -> str:
    return f"safe{char}gnp.exe"


# -- the rule, in process -----------------------------------------------------------------------

@pytest.mark.parametrize("char", DECEPTIVE + ["\x1b", "\x00", "\x7f"], ids=lambda c: f"U+{ord(c):04X}")
def test_check_identifier_names_the_field_and_the_code_point(char: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_identifier(_id(char), "$.run_id")
    assert caught.value.field == "$.run_id"
    assert f"contains {code_point(char)}" in caught.value.reason
    kind = ("a bidirectional control" if char in BIDI else "an invisible direction mark" if char in MARKS
            else "an invisible character" if char in INVISIBLE else "control character")
    assert kind in caught.value.reason
    assert char not in str(caught.value)


@pytest.mark.parametrize("char", ALLOWED, ids=lambda c: f"U+{ord(c[0]):04X}")
def test_other_unicode_is_a_fine_identifier(char: str) -> None:
    assert check_identifier(_id(char), "$.run_id") == _id(char)


def test_every_refused_code_point_and_no_other() -> None:
    """The ids' rule, the display's escaping (text, JSON text, JSON bytes) and the tests' list agree on every
    code point."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    assert {c for c in chars if core_runs._CONTROL.search(c)} == REFUSED_IN_IDS
    assert {c for c in chars if safe_text(c, limit=100) != c} == REFUSED_IN_IDS
    c0 = {chr(c) for c in range(0x20)}  # json.dumps escapes C0 itself
    assert {c for c in chars if json_text(c) != json.dumps(c, ensure_ascii=False)} == REFUSED_IN_IDS - c0
    raw = {c: json.dumps(c, ensure_ascii=False).encode() for c in chars}
    escaped = {c: escape_json_bytes(b) for c, b in raw.items()}
    assert {c for c in chars if escaped[c] != raw[c]} == REFUSED_IN_IDS - c0
    assert all(json.loads(escaped[c]) == c for c in REFUSED_IN_IDS - c0)  # the same value, surrogate pairs too


def _run(**extra: Any) -> dict[str, Any]:
    return s.run_doc("run-ok", project="proj", model="model", **extra)


def _with_id(field: str, value: str) -> tuple[dict[str, Any], str]:
    """A run document with `value` in the id `field`, and the error path that names it."""
    doc = _run()
    if field == "tag key":
        doc["tags"] = {value: "v"}
        return doc, f"$.tags key {value!r}"
    if field == "experiment.id":
        doc["experiment"] = {"id": value, "group": "a"}
        return doc, "$.experiment.id"
    if field == "item_id":
        doc["items"][1]["item_id"] = value
        return doc, "$.items[1].item_id"
    doc[field] = value
    return doc, f"$.{field}"


FIELDS = ["run_id", "project_id", "model_id", "experiment.id", "tag key", "item_id"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("char", DECEPTIVE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_id_field_refuses_every_deceptive_character(field: str, char: str) -> None:
    doc, path = _with_id(field, _id(char))
    with pytest.raises(InvalidInput) as caught:
        prepare_run(doc)
    assert caught.value.field == path and f"contains {code_point(char)}" in caught.value.reason


@pytest.mark.parametrize("char", DECEPTIVE, ids=lambda c: f"U+{ord(c):04X}")
def test_free_text_keeps_them_as_data(char: str) -> None:
    text = f"note {char} end"
    doc = _run(model_version=text, tags={"suite": text}, dataset={"name": text},
               experiment={"id": "exp", "group": text}, metrics={f"m{char}": 0.5})
    doc["items"][0]["error"] = text
    run = prepare_run(doc).run
    assert run["model_version"] == run["tags"]["suite"] == run["items"][0]["error"] == text


# -- the rule, through `auditlog append` --------------------------------------------------------

@pytest.fixture(scope="module")
def log_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("ids") / "evals.db"
    s.ok("append", "run", s.write_json(db.parent / "base.json", s.run_doc("base", project="proj", model="model")),
         "--log", db)
    return db


def _refused_one_line(result: s.Result, path: str, char: str) -> str:
    assert result.code == 2, str(result)
    assert result.stdout == b"", str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
    assert char.encode("utf-8") not in result.stderr, "the refused character reached the terminal raw"
    assert safe_text(path, limit=2000) in lines[0] and code_point(char) in lines[0], lines[0]
    return lines[0]


CLI_CASES = ([(field, char) for field in FIELDS for char in ("\x85", "\x9b", "\u202e", "\u2066", "\u200e")]
             + [("run_id", char) for char in DECEPTIVE if char not in "\x85\x9b\u202e\u2066\u200e"])


@pytest.mark.parametrize(("field", "char"), CLI_CASES, ids=[f"{f}-U+{ord(c):04X}" for f, c in CLI_CASES])
def test_append_run_refuses_and_writes_nothing(log_db: Path, tmp_path: Path, field: str, char: str) -> None:
    doc, path = _with_id(field, _id(char))
    before = s.fingerprint(log_db)
    result = s.cli("append", "run", s.write_json(tmp_path / "doc.json", doc), "--log", log_db)
    _refused_one_line(result, path, char)
    assert s.fingerprint(log_db) == before
    assert len(s.ok("events", "--log", log_db).out.splitlines()) == 2  # genesis and base, nothing else


def test_append_run_to_a_new_log_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    doc, path = _with_id("run_id", _id("\u202e"))
    _refused_one_line(s.cli("append", "run", s.write_json(tmp_path / "doc.json", doc), "--log", db), path, "\u202e")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


@pytest.mark.parametrize("field", ["run_id", "baseline_run_id", "metric"])
def test_append_verdict_refuses_them_in_its_ids(log_db: Path, tmp_path: Path, field: str) -> None:
    doc = {**s.verdict_doc("base", "base"), field: "acc\u202e"}
    before = s.fingerprint(log_db)
    result = s.cli("append", "verdict", s.write_json(tmp_path / "v.json", doc), "--log", log_db)
    _refused_one_line(result, f"$.{field}", "\u202e")
    assert s.fingerprint(log_db) == before


def test_annotate_refuses_them_in_a_tag_key_and_keeps_them_in_a_value(log_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    db.write_bytes(log_db.read_bytes())
    before = s.fingerprint(db)
    result = s.cli("annotate", "base", "--tag", "own\u202eer=x", "--log", db)
    _refused_one_line(result, "--tag key", "\u202e")
    assert s.fingerprint(db) == before
    s.ok("annotate", "base", "--tag", "owner=x\u202ey", "--note", "n\x85", "--log", db)


def test_ingest_refuses_them_in_a_run_id(log_db: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuite name="s"><testcase classname="c" name="t"/></testsuite>', encoding="utf-8")
    before = s.fingerprint(log_db)
    result = s.cli("ingest", "junit", junit, "--project", "proj", "--model", "model", "--run-id", "r\u2067",
                   "--log", log_db)
    _refused_one_line(result, "run_id", "\u2067")
    assert s.fingerprint(log_db) == before


# -- outputs: free text recorded legitimately, shown escaped --------------------------------------

RLO, NEL, ESC = "\u202e", "\x85", "\x1b"
HOSTILE = f"safe{RLO}gnp.exe {NEL}next {ESC}[31mred {ESC}]0;t\x07 \u2066i\u2069 \u200fé🎉 zero\u200bwidth\U000e0041"
RAW = [RLO, NEL, ESC, "\u2066", "\u200f", "\x07", "\u200b", "\U000e0041"]
RAW_BYTES = [c.encode("utf-8") for c in RAW]


def _no_raw(result: s.Result) -> None:
    for raw in RAW_BYTES:
        assert raw not in result.stdout, f"raw {raw!r} in stdout:\n{result.stdout[:3000]!r}"
        assert raw not in result.stderr, f"raw {raw!r} in stderr:\n{result.stderr[:3000]!r}"


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A log whose free text holds RLO, NEL, ESC, isolates and RLM; the runs' ids are plain."""
    root = tmp_path_factory.mktemp("shown")
    db = root / "evals.db"
    a = s.run_doc("run-a", project="proj", model="model", version=HOSTILE, tags={"suite": HOSTILE},
                  metrics={"accuracy": 0.5, f"acc{RLO}": 0.25})
    a["items"][0].update(passed=False, error=HOSTILE)
    b = s.run_doc("run-b", project="proj", model="model", seed=1, tags={"suite": "plain"})
    for doc in (a, b):
        s.ok("append", "run", s.write_json(root / "doc.json", doc), "--log", db)
    s.ok("annotate", "run-a", "--note", HOSTILE, "--tag", f"reviewer={HOSTILE}", "--log", db)
    return {"root": root, "db": db, "a": a}


@pytest.mark.parametrize("args", [
    ["show", "run-a"], ["show", "run-a", "--items"], ["show", "run-a", "-o", "csv"],
    ["show", "run-a", "--items", "-o", "csv"], ["history", "-o", "table"], ["history", "-o", "csv"],
    ["compare", "run-a", "run-b"], ["compare", "run-a", "run-b", "-o", "csv"],
    ["trend", "--project", "proj", "--metric", "accuracy"],
])
def test_human_outputs_show_them_escaped(shown: dict[str, Any], args: list[str]) -> None:
    result = s.ok(*args, "--log", shown["db"])
    _no_raw(result)
    if args[0] in ("show", "history"):
        assert "\\u202e" in result.out and "\\x85" in result.out, result.out[:3000]


def test_history_csv_escapes_and_stays_csv(shown: dict[str, Any]) -> None:
    import csv
    import io
    rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(s.ok("history", "-o", "csv", "--log", shown["db"]).out))}
    assert set(rows) == {"run-a", "run-b"}
    assert rows["run-a"]["model_version"] == safe_text(HOSTILE, limit=10_000)
    assert "é🎉" in rows["run-a"]["model_version"]  # other non-ASCII stays as it is
    # flat: a tag's value and a metric's name (in the header) are escaped alike
    assert rows["run-a"]["tags.suite"] == safe_text(HOSTILE, limit=10_000)
    assert rows["run-a"][f"metrics.{safe_text('acc' + RLO)}"] == "0.25"


def _raw_json_has_escapes(result: s.Result) -> None:
    _no_raw(result)
    assert b"\\u202e" in result.stdout and b"\\u0085" in result.stdout
    assert "é🎉".encode() in result.stdout  # ordinary non-ASCII stays raw


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_history_json_escapes_and_keeps_the_values_exact(shown: dict[str, Any], fmt: str) -> None:
    result = s.ok("history", "-o", fmt, "--log", shown["db"])
    _raw_json_has_escapes(result)
    records = result.json() if fmt == "json" else [json.loads(line) for line in result.out.splitlines()]
    by_id = {r["run_id"]: r for r in records}
    assert by_id["run-a"]["model_version"] == HOSTILE
    assert by_id["run-a"]["tags"]["suite"] == HOSTILE and by_id["run-a"]["tags"]["reviewer"] == HOSTILE


def test_show_json_escapes_and_keeps_the_values_exact(shown: dict[str, Any]) -> None:
    result = s.ok("show", "run-a", "--items", "-o", "json", "--log", shown["db"])
    _raw_json_has_escapes(result)
    doc = result.json()
    assert doc["run"]["model_version"] == HOSTILE and doc["run"]["tags"] == shown["a"]["tags"]
    assert doc["current"]["notes"][-1] == HOSTILE or HOSTILE in json.dumps(doc["current"]["notes"], ensure_ascii=False)
    assert [i["error"] for i in doc["items"] if i["item_id"] == "q0"] == [HOSTILE]


def test_show_jsonl_and_compare_json_escape(shown: dict[str, Any]) -> None:
    events = s.ok("show", "run-a", "-o", "jsonl", "--log", shown["db"])
    _raw_json_has_escapes(events)
    assert HOSTILE in [json.loads(json.loads(line)["data"]).get("note") for line in events.out.splitlines()]
    compare = s.ok("compare", "run-a", "run-b", "-o", "json", "--log", shown["db"])
    _no_raw(compare)
    assert b"\\u202e" in compare.stdout
    assert f"acc{RLO}" in json.dumps(compare.json(), ensure_ascii=False)


def test_events_jsonl_escapes_and_the_event_still_hashes(shown: dict[str, Any]) -> None:
    import rfc8785
    result = s.ok("events", "--log", shown["db"])
    _raw_json_has_escapes(result)
    lines = [json.loads(line) for line in result.out.splitlines()]
    for line in lines:  # the same JSON value: re-canonicalised, it is the hashed bytes
        assert hashlib.sha256(rfc8785.dumps(line["event"])).hexdigest() == line["hash"]
    recorded = next(line["event"] for line in lines if line["event"]["type"] == "run.recorded"
                    and line["event"]["subject"] == "run-a")
    assert recorded["data"]["run"]["model_version"] == HOSTILE
    assert recorded["data"]["run"]["items"][0]["error"] == HOSTILE


def test_ingest_print_escapes(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(f'<testsuite name="s"><testcase classname="c" name="t"><failure message="m{RLO}x\u0085"/>'
                     "</testcase></testsuite>", encoding="utf-8")
    result = s.ok("ingest", "junit", junit, "--project", "proj", "--model", "model", "--print")
    _no_raw(result)
    assert b"\\u202e" in result.stdout
    assert f"m{RLO}x" in json.dumps(result.json(), ensure_ascii=False)


# -- a log recorded before the rule: its ids are shown escaped too ---------------------------------

@pytest.fixture(scope="module")
def legacy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs with an RLO, a CSI and an RLM in their ids, as an older auditlog accepted them."""
    db = tmp_path_factory.mktemp("legacy") / "old.db"
    old_rule = re.compile(r"[\x00-\x1f\x7f]")
    mp = pytest.MonkeyPatch()
    mp.setattr(core_runs, "_CONTROL", old_rule)
    try:
        with AuditLog.open(db) as log:
            log.record_run(s.run_doc(f"safe{RLO}gnp.exe", project="pro\u2067j", model="mod\x9bel",
                                     tags={f"k{RLO}": "v"}))
            log.record_run(s.run_doc("plain", project="pro\u2067j", model="mod\x9bel", seed=1))
    finally:
        mp.undo()
    return db


@pytest.mark.parametrize("args", [
    ["events", "-o", "table"], ["history"], ["history", "-o", "csv"], ["show", f"safe{RLO}gnp.exe"],
    ["compare", f"safe{RLO}gnp.exe", "plain"],
])
def test_old_deceptive_ids_are_shown_escaped(legacy_db: Path, args: list[str]) -> None:
    result = s.ok(*args, "--log", legacy_db)
    for raw in (RLO, "\x9b", "\u2067"):
        assert raw.encode() not in result.stdout, (raw, result.out[:3000])
    assert "safe\\u202egnp.exe" in result.out


def test_old_deceptive_ids_in_json_are_escaped_and_exact(legacy_db: Path) -> None:
    result = s.ok("history", "-o", "json", "--log", legacy_db)
    assert RLO.encode() not in result.stdout and b"\\u202e" in result.stdout and b"\\u009b" in result.stdout
    assert {r["run_id"] for r in result.json()} == {f"safe{RLO}gnp.exe", "plain"}
    events = s.ok("events", "--log", legacy_db)
    assert RLO.encode() not in events.stdout and "\u2067".encode() not in events.stdout


# -- the render helpers ---------------------------------------------------------------------------

def test_render_helpers() -> None:
    value = {"k": HOSTILE, "back\\": f"\\{RLO}"}
    for fmt in ("json", "jsonl"):
        out = render([value], fmt)
        assert not any(c in out for c in RAW)
        assert (json.loads(out) if fmt == "json" else [json.loads(out)]) == [value]
    assert json.loads(json_text(value)) == value and "é🎉" in json_text(value)
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8")
    assert json.loads(escape_json_bytes(raw)) == value and escape_json_bytes(b'{"a":"plain"}') == b'{"a":"plain"}'
    for fmt in ("table", "csv"):
        out = render([value], fmt)
        assert not any(c in out for c in RAW) and "\\u202e" in out and "\\x85" in out


# -- the TUI --------------------------------------------------------------------------------------

def _tui_support() -> Any:
    pytest.importorskip("textual")
    from tests.tui import tui_support
    return tui_support


def test_tui_shows_free_text_and_old_ids_escaped(legacy_db: Path, tmp_path: Path) -> None:
    t = _tui_support()
    from textual.widgets import Input

    from auditlog.tui.screens.run import RunScreen
    from auditlog.tui.screens.trend import TrendScreen

    db = tmp_path / "evals.db"
    db.write_bytes(legacy_db.read_bytes())
    with AuditLog.open(db) as log:
        text = HOSTILE.replace("gnp.exe", "txt")  # so that searching for the old id finds it alone
        log.record_run(t.small_run("free-text", project="proj", model="model", model_version=text,
                                   tags={"suite": text}, metrics={f"acc{RLO}": 0.5}))
        log.annotate("free-text", tags={"reviewer": text}, note=text)

    async def session() -> list[str]:
        app = t.app_for(db)
        texts = []
        async with app.run_test(size=t.SIZE) as pilot:
            await t.settle(pilot)
            texts.append(t.screen_text(app))  # the runs table: old ids, versions, the filters' choices
            for run_id in ("free-text", f"safe{RLO}gnp.exe"):
                app.screen.query_one("#search", Input).value = run_id
                await t.settle(pilot, 0.3)
                await pilot.press("enter")
                await t.settle(pilot)
                assert isinstance(app.screen, RunScreen) and app.screen.run_id == run_id
                texts.append(t.screen_text(app))  # the run's header, tags, notes, history
                app.pop_screen()
                await t.settle(pilot)
            await pilot.press("t")
            await t.settle(pilot)
            assert isinstance(app.screen, TrendScreen)
            texts.append(t.screen_text(app))  # the project, model and metric choices
        return texts

    texts = t.pilot_test(session)()
    assert len(texts) == 4
    for text in texts:
        for raw in RAW + ["\x9b", "\u2067"]:
            assert raw not in text, (raw, text)
    assert "safe\\u202egnp.exe" in texts[0] and "safe\\u202egnp.exe" in texts[2]
    assert "\\u202e" in texts[1] and "\\x85" in texts[1]


def test_tui_cells_escape() -> None:
    pytest.importorskip("textual")
    from auditlog.tui.widgets.cells import block, fields, line, literal, option
    for rendered in (literal(HOSTILE).plain, line(HOSTILE, (HOSTILE, "bad")).plain, fields([("k", HOSTILE)]).plain,
                     block(f"{HOSTILE}\n{HOSTILE}").plain, option(HOSTILE).plain):
        assert not any(c in rendered for c in RAW) and "\\u202e" in rendered, rendered


@pytest.mark.parametrize("origin", ["example.org/evals\u202e", "example.org/ev als", "example.org/\x85"])
def test_init_with_a_refused_origin_creates_nothing(tmp_path: Path, origin: str) -> None:
    """Bad input writes nothing: no log file, no lock file (it used to leave an empty log behind)."""
    result = s.cli("init", "--origin", origin, "--log", tmp_path / "new.db")
    line = s.one_line_error(result, 2, "--origin")
    assert "Traceback" not in result.err, line
    assert list(tmp_path.iterdir()) == []
