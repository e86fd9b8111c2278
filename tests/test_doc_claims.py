"""Claims of docs/ that a CI user or an auditor relies on, checked against the code: the exit codes
(output.md, python-api.md's error table, the help) and the SQLite storage (events.md)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import pytest

import auditlog
from auditlog import AuditLog, errors
from tests.support import cli as s

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| (.+?) \| (\d+) \| (.+) \|$", re.M)


def _table(doc: str, heading: str) -> list[tuple[str, int, str]]:
    section = (ROOT / "docs" / doc).read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    return [(name, int(code), meaning) for name, code, meaning in ROW.findall(section)]


def test_output_md_lists_the_exit_codes_the_help_lists() -> None:
    section = (ROOT / "docs" / "output.md").read_text().split("## Help and exit codes", 1)[1].split("\n## ", 1)[0]
    documented = [int(code) for code in re.findall(r"^\| (\d+) \| ", section, re.M)]
    helped = [int(line.split()[0]) for line in s.ok("--help").out.split("Exit codes:")[1].splitlines() if line.strip()]
    assert documented == helped


def test_every_public_error_is_in_python_api_md_with_its_exit_code() -> None:
    rows = _table("python-api.md", "## Errors")
    documented = {name: code for names, code, _ in rows for name in re.findall(r"`(\w+)", names)}
    public = {name: getattr(auditlog, name) for name in auditlog.__all__}
    classes = {name: cls for name, cls in public.items()
               if isinstance(cls, type) and issubclass(cls, errors.AuditLogError) and cls is not errors.AuditLogError}
    assert set(classes) <= set(documented), f"undocumented: {sorted(set(classes) - set(documented))}"
    assert {name: cls.exit_code for name, cls in classes.items()} == {n: documented[n] for n in classes}


def _write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _run(tmp_path: Path, run_id: str) -> Path:
    return _write(tmp_path / f"{run_id}.json", {"run_id": run_id, "project_id": "p", "model_id": "m",
                                               "items": [{"item_id": "q", "score": 1, "passed": True}]})


def test_exit_5_is_every_conflict_output_md_names(tmp_path: Path) -> None:
    """A run id with other content, a run superseded twice, evidence files that exist: exit 5, one line."""
    db = tmp_path / "evals.db"
    for run_id in ("a", "b", "c"):
        s.ok("append", "run", _run(tmp_path, run_id), "--log", db)
    other = _write(tmp_path / "other.json", {"run_id": "a", "project_id": "p", "model_id": "other"})
    s.one_line_error(s.cli("append", "run", other, "--log", db), 5, "'a' is already recorded", "other content")
    s.ok("supersede", "a", "--by", "b", "--reason", "re-run", "--log", db)
    s.one_line_error(s.cli("supersede", "a", "--by", "c", "--reason", "again", "--log", db), 5,
                     "'a' is already superseded by 'b'")
    s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "ci.key")
    prove = ("prove", "b", "--log", db, "--out", tmp_path / "evidence", "--key", tmp_path / "ci.key")
    s.ok(*prove)
    s.one_line_error(s.cli(*prove), 5, "already exists: not overwriting evidence")


def test_merkle_rows_are_the_complete_subtrees_of_16_leaves_or_more(tmp_path: Path) -> None:
    """events.md, "Storage": one row per complete subtree of height >= 4 (16, 32, 64... leaves): for
    100 events, 6 of 16, 3 of 32 and 1 of 64 leaves; smaller ones are recomputed from the events."""
    with AuditLog.open(tmp_path / "l.db") as log, log.writer() as w:
        for i in range(99):  # and the genesis: 100 events
            w.record_run({"run_id": f"r{i}", "project_id": "p", "model_id": "m"})
    with sqlite3.connect(tmp_path / "l.db") as db:
        rows = db.execute("SELECT level, count(*) FROM merkle GROUP BY level ORDER BY level").fetchall()
        size = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert size == 100
    assert rows == [(4, 6), (5, 3), (6, 1)]


def test_the_sqlite_storage_is_as_events_md_lists_it(tmp_path: Path) -> None:
    """events.md, "Storage (SQLite)": the tables, indexes, view and triggers, the schema version, and
    tables that refuse UPDATE and DELETE (and events inserted anywhere but at the head)."""
    with AuditLog.open(tmp_path / "l.db") as log:
        log.record_run({"run_id": "r", "project_id": "p", "model_id": "m"})
    db = sqlite3.connect(tmp_path / "l.db")
    objects = {(kind, name) for kind, name in db.execute("SELECT type, name FROM sqlite_master")}
    assert {("table", t) for t in ("events", "meta", "merkle", "checkpoints", "_sqlite_migrations")} <= objects
    assert ("view", "events_json") in objects
    indexed = {tuple(c[2] for c in db.execute(f"PRAGMA index_info('{name}')"))
               for kind, name in objects if kind == "index" and name.startswith("events_")}
    assert indexed == {("project", "type"), ("subject", "type"), ("type",)}
    assert db.execute("PRAGMA user_version").fetchone() == (3,)
    assert {r[0] for r in db.execute("SELECT key FROM meta")} == {"log_id", "origin", "genesis_hash", "created"}
    for table in ("events", "meta", "merkle", "checkpoints"):
        assert {("trigger", f"{table}_no_update"), ("trigger", f"{table}_no_delete")} <= objects
    for statement in ("UPDATE events SET ts = ts", "DELETE FROM events", "UPDATE meta SET value = value",
                      "INSERT INTO events SELECT seq + 5, hash, ts, type, project, subject, body FROM events LIMIT 1"):
        with pytest.raises(sqlite3.IntegrityError, match="auditlog: "):
            db.execute(statement)
    hash_, body = db.execute("SELECT hash, body FROM events WHERE seq = 1").fetchone()
    assert hashlib.sha256(body).hexdigest() == hash_
    assert db.execute("SELECT event FROM events_json WHERE seq = 1").fetchone()[0].encode() == body
    db.close()


def test_a_log_id_is_128_random_bits(tmp_path: Path) -> None:
    """events.md: `log_id` is 128 random bits, 32 lower-case hex digits. A uuid4 would fix 6 of them
    (its 13th digit is always 4); 16 logs agreeing on any one digit by chance has odds of 16**-15."""
    ids = []
    for i in range(16):
        with AuditLog.open(tmp_path / f"{i}.db") as log:
            ids.append(log.info()["log_id"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == 16
    assert all(len({i[k] for i in ids}) > 1 for k in range(32)), "no digit is fixed"


def test_the_configs_file_carries_its_schema_once_a_project_is_configured(tmp_path: Path) -> None:
    """projections.md, "configs": the file exists once a project was configured, state.json names it as
    files.configs; its columns are projections.schema's, lists sorted, metric_bounds RFC 8785 text."""
    import pyarrow.parquet as pq

    import projections
    from auditlog import Bounds, ProjectConfig
    from projections import schema

    with AuditLog.open(tmp_path / "l.db") as log:
        log.record_run({"run_id": "r", "project_id": "p", "model_id": "m"})
        projections.rebuild(log, tmp_path / "p")
        assert not json.loads((tmp_path / "p" / "state.json").read_text())["files"].get("configs")
        config = ProjectConfig(groups=("b", "a"), lower_is_better=("z_ms", "cost"),
                               metric_bounds=(("acc", Bounds(0.0, 1.0)), ("lat", Bounds(0, None))))
        receipt = log.configure("p", config)
        projections.open(log, tmp_path / "p")
    name = json.loads((tmp_path / "p" / "state.json").read_text())["files"]["configs"]
    table = pq.read_table(tmp_path / "p" / name)
    assert table.schema.equals(schema.arrow_schema("configs"), check_metadata=False)
    assert table.schema.metadata[b"auditlog.projection"] == b"configs"
    [row] = table.to_pylist()
    assert (row["seq"], row["project_id"], row["event_hash"]) == (receipt.seq, "p", receipt.hash)
    assert row["groups"] == ["a", "b"] and row["lower_is_better"] == ["cost", "z_ms"]
    assert row["metric_bounds"] == '{"acc":{"max":1,"min":0},"lat":{"max":null,"min":0}}'


def test_map_keys_are_in_rfc_8785_order_in_the_runs_table(tmp_path: Path) -> None:
    """projections.md: keys of `metrics` and `tags` are sorted by UTF-16 code units, which puts a
    character beyond U+FFFF (a surrogate pair, 0xD83D...) before U+FFFF, unlike code point order."""
    import pyarrow.parquet as pq

    import projections

    wide, last_bmp = "\U0001f600", "\uffff"
    with AuditLog.open(tmp_path / "l.db") as log:
        log.record_run({"run_id": "r", "project_id": "p", "model_id": "m", "tags": {last_bmp: "a", wide: "b", "z": "c"},
                        "metrics": {last_bmp: 1.5, wide: 2.5}})
        view = projections.open(log, tmp_path / "p")
    [row] = pq.read_table(view.directory / view.state.runs[0].path, columns=["tags", "metrics"]).to_pylist()
    assert [k for k, _ in row["tags"]] == ["z", wide, last_bmp]
    assert [k for k, _ in row["metrics"]] == [wide, last_bmp]


def test_the_checkpoint_and_proofs_shown_in_checkpoints_md_verify() -> None:
    """The checkpoint, verifier key, tlog-proof and consistency proof printed in checkpoints.md are
    real: the note verifies under the key shown, and the consistency proof between its roots."""
    import base64

    from auditlog.core.checkpoint import open_checkpoint
    from auditlog.core.note import parse_verifier_key
    from auditlog.core.verify_proof import verify_consistency

    doc = (ROOT / "docs" / "checkpoints.md").read_text()
    [vkey] = set(re.findall(r"ci\.example\.org\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+", doc))
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", doc, re.S | re.M)
    notes = [body for lang, body in blocks if lang == "text" and "\u2014 ci.example.org" in body]
    assert len(notes) == 2, "the checkpoint, and the tlog-proof that carries it"
    checkpoint = open_checkpoint(notes[0], [parse_verifier_key(vkey)], origin="demo.auditlog.local/evals")
    assert notes[1].startswith("c2sp.org/tlog-proof@v1\nindex 1\n") and notes[1].endswith("\n\n" + notes[0])
    assert len(notes[1].split("\n\n")[0].splitlines()) - 2 == 5, "RFC 9162: 5 hashes prove leaf 1 of 21"
    [consistency] = [json.loads(body) for lang, body in blocks if lang == "json" and '"root_from"' in body]
    assert (consistency["to"], base64.b64decode(consistency["root_to"])) == (checkpoint.size, checkpoint.root)
    verify_consistency(consistency["from"], consistency["to"], [base64.b64decode(h) for h in consistency["proof"]],
                       base64.b64decode(consistency["root_from"]), checkpoint.root)


def test_the_gate_api_gate_md_lists_is_importable_with_those_signatures() -> None:
    """gate.md, "Python API": each name from the module the block names (auditlog.evals.gate, and
    auditlog.evals.stats for the distributions), called as shown."""
    import dataclasses
    import importlib
    import inspect

    block = (ROOT / "docs" / "gate.md").read_text().split("## Python API", 1)[1].split("```text\n", 1)[1].split("```")[0]
    module = importlib.import_module("auditlog.evals.gate")
    checked = []
    for line in re.sub(r"\n\s+", " ", block).splitlines():  # continuation lines joined
        if line.startswith("auditlog.evals."):
            name, _, line = line.partition(": ")
            module = importlib.import_module(name)
        if line.startswith("GateResult:"):
            names = re.findall(r"\b(\w+)\b(?![^(]*\))", line.partition(":")[2])
            assert [f.name for f in dataclasses.fields(module.GateResult)] == names
            continue
        for name, params in re.findall(r"(?:^|, )([A-Za-z_]\w*)\(([^()]*)\)", line):
            wanted = [p.split("=")[0].split(":")[0].strip() for p in params.split(",") if p.strip() not in ("", "*")]
            assert list(inspect.signature(getattr(module, name)).parameters) == wanted, name
            checked.append(name)
    assert len(checked) == 9, checked
