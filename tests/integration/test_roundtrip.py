"""Round trip through the real CLI: append, then history / show / events / verify agree.

Every command runs in a fresh `python -m auditlog` process with $AUDITLOG_DB unset.
Logs that a test only reads are built once per module.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
import rfc8785

from . import cli_support as s

ORIGIN = "example.org/evals"
ZERO = "0" * 64


def _docs() -> tuple[list[dict], dict]:
    r1 = s.run_doc("acme-7b::mmlu-pro::r1", seed=1, version="1.0", config={"temperature": 0.0, "shots": 5})
    del r1["environment"]  # captured by the writer
    r2 = s.run_doc("acme-7b::mmlu-pro::r2", seed=2, version="1.1", n_items=6,
                   experiment={"id": "exp-1", "group": "B", "version": "2"}, tags={"suite": "nightly", "ü": "ö"})
    r3 = s.run_doc("beta-1b::gsm8k::r3", project="gsm8k", model="beta-1b", seed=3, n_items=3)
    verdict = s.verdict_doc(r2["run_id"], r1["run_id"], verdict="BLOCK", reason="accuracy fell")
    return [r1, r2, r3], verdict


RUNS, VERDICT = _docs()


@pytest.fixture(scope="module")
def cli_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """init --origin, then 3 runs (file, stdin, file) and a verdict (file), all through the CLI."""
    d = tmp_path_factory.mktemp("cli_log")
    db = d / "evals.db"
    out = s.ok("init", "--log", db, "--origin", ORIGIN).out
    assert f"log {db} created" in out and f"origin {ORIGIN}" in out
    r1, r2, r3 = RUNS
    assert "recorded at seq 1" in s.ok("append", "run", s.write_json(d / "r1.json", r1), "--log", db).out
    assert "recorded at seq 2" in s.ok("append", "run", "-", "--log", db, input=json.dumps(r2)).out
    receipt = s.ok("append", "run", s.write_json(d / "r3.json", r3), "--log", db, "--output", "json").json()
    assert receipt["seq"] == 3 and receipt["new"] is True and receipt["type"] == "run.recorded"
    assert receipt["subject"] == r3["run_id"] and len(receipt["hash"]) == 64
    assert "verdict.recorded" in s.ok("append", "verdict", s.write_json(d / "v.json", VERDICT), "--log", db).out
    return db


@pytest.fixture(scope="module")
def py_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same documents through the Python API: record_run, a writer() batch, record_verdict."""
    from auditlog import AuditLog

    db = tmp_path_factory.mktemp("py_log") / "evals.db"
    r1, r2, r3 = (s.deep(d) for d in RUNS)
    with AuditLog.open(db, origin=ORIGIN) as log:
        first = log.record_run(r1)
        assert (first.seq, first.new) == (1, True)
        with log.writer() as w:
            receipts = [w.record_run(r2), w.record_run(r3)]
        assert [r.seq for r in receipts] == [2, 3]
        verdict = log.record_verdict(s.deep(VERDICT))
        assert verdict.seq == 4 and verdict.type == "verdict.recorded"
        report = log.verify()
        assert report.ok and report.size == 5 and report.head == verdict.hash
        seen = [(e.seq, e.hash) for e in log.events(after=2)]
        assert seen == [(3, receipts[1].hash), (4, verdict.hash)]
    return db


def _events(db: Path, *extra: str) -> list[tuple[int, str, bytes]]:
    return s.parse_events_jsonl(s.ok("events", "--log", db, *extra).stdout)


def _expected_summary(doc: dict) -> dict:
    items = doc["items"]
    return {
        "run_id": doc["run_id"], "project_id": doc["project_id"], "model_id": doc["model_id"],
        "model_version": doc.get("model_version"), "n_items": len(items),
        "pass_rate": sum(i["passed"] for i in items) / len(items),
        "mean_score": sum(i["score"] for i in items) / len(items),
        "metrics": doc.get("metrics", {}), "tags": doc.get("tags", {}),
    }


@pytest.mark.parametrize("which", ["cli_log", "py_log"])
def test_events_are_exact_canonical_bytes_and_chain(which: str, request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue(which)
    events = _events(db)
    assert [seq for seq, _, _ in events] == [0, 1, 2, 3, 4]
    prev = ZERO
    for seq, hash_, body in events:
        assert hashlib.sha256(body).hexdigest() == hash_, f"seq {seq}: hash is not SHA-256 of the bytes"
        event = json.loads(body)
        assert rfc8785.dumps(event) == body, f"seq {seq}: bytes are not RFC 8785 canonical"
        assert event["seq"] == seq and event["v"] == 1
        assert event["prev"] == prev, f"seq {seq}: prev does not name seq {seq - 1}'s hash"
        prev = hash_
    types = [json.loads(body)["type"] for _, _, body in events]
    assert types == ["log.created", "run.recorded", "run.recorded", "run.recorded", "verdict.recorded"]
    genesis = json.loads(events[0][2])
    assert genesis["data"]["origin"] == ORIGIN and genesis["data"]["format"] == 1
    for doc, (_, _, body) in zip(RUNS, events[1:4]):
        event = json.loads(body)
        assert event["subject"] == doc["run_id"] and event["project"] == doc["project_id"]
        assert event["data"]["document_sha256"] == hashlib.sha256(rfc8785.dumps(doc)).hexdigest()
    assert json.loads(events[4][2])["data"]["verdict"] == VERDICT

    # --after N: exactly the suffix, same bytes; --limit cuts it
    for after in (-1, 0, 2, 4, 10):
        assert _events(db, "--after", str(after)) == [e for e in events if e[0] > after]
    assert _events(db, "--after", "1", "--limit", "2") == events[2:4]
    table = s.ok("events", "--log", db, "--output", "table").out
    assert all(h[:16] in table for _, h, _ in events)


@pytest.mark.parametrize("which", ["cli_log", "py_log"])
def test_verify_ok(which: str, request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue(which)
    events = _events(db)
    text = s.ok("verify", "--log", db)
    assert text.out.startswith("ok: 5 events, root ")
    assert f"head {events[-1][1]}: internally consistent" in text.out
    assert "truncation or a rewrite by its holder cannot be excluded" in text.out, "no anchor: it says so"
    report = s.ok("verify", "--log", db, "--output", "json").json()
    genesis = json.loads(events[0][2])
    assert report["ok"] is True and report["problem_count"] == 0 and report["problems"] == []
    assert report["size"] == 5 and report["head"] == events[-1][1] and report["first_bad_seq"] is None
    assert report["origin"] == ORIGIN and report["log_id"] == genesis["data"]["log_id"]


@pytest.mark.parametrize("which", ["cli_log", "py_log"])
def test_history_formats_agree_with_each_other_and_the_documents(which: str, request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue(which)
    events = {seq: (h, json.loads(body)) for seq, h, body in _events(db)}
    runs = s.ok("history", "--log", db, "--output", "json").json()
    assert [r["run_id"] for r in runs] == [d["run_id"] for d in reversed(RUNS)], "newest first"
    for run, doc in zip(runs, reversed(RUNS)):
        for key, value in _expected_summary(doc).items():
            assert run[key] == pytest.approx(value) if isinstance(value, float) else run[key] == value, key
        hash_, event = events[run["seq"]]
        assert run["event_hash"] == hash_ and event["subject"] == run["run_id"]
        assert run["recorded_at"] == event["ts"] and run["status"] == "active"
        assert run["verdict"] == ("BLOCK" if doc["run_id"] == VERDICT["run_id"] else None)

    jsonl = [json.loads(line) for line in s.ok("history", "--log", db, "--output", "jsonl").out.splitlines()]
    assert jsonl == runs
    rows = list(csv.DictReader(io.StringIO(s.ok("history", "--log", db, "--output", "csv").out)))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in runs]
    for row, run in zip(rows, runs):
        assert int(row["seq"]) == run["seq"] and int(row["n_items"]) == run["n_items"]
        assert float(row["pass_rate"]) == pytest.approx(run["pass_rate"])
        assert {k[len("tags."):]: v for k, v in row.items() if k.startswith("tags.") and v} == run["tags"]
        assert row["verdict"] == (run["verdict"] or "")
    table = s.ok("history", "--log", db).out.splitlines()
    assert table[0].split()[:3] == ["run_id", "project_id", "model_id"]
    assert [line.split()[0] for line in table[2:]] == [r["run_id"] for r in runs]

    only = s.ok("history", "--log", db, "--project", "gsm8k", "--output", "json").json()
    assert [r["run_id"] for r in only] == [RUNS[2]["run_id"]]
    blocked = s.ok("history", "--log", db, "--verdict", "BLOCK", "--output", "json").json()
    assert [r["run_id"] for r in blocked] == [VERDICT["run_id"]]
    assert len(s.ok("history", "--log", db, "--limit", "1", "--output", "json").json()) == 1


@pytest.mark.parametrize("which", ["cli_log", "py_log"])
def test_show_agrees_with_events_and_document(which: str, request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue(which)
    events = {seq: (h, json.loads(body)) for seq, h, body in _events(db)}
    for seq, doc in zip((1, 2, 3), RUNS):
        shown = s.ok("show", doc["run_id"], "--log", db, "--output", "json").json()
        hash_, event = events[seq]
        assert shown["run"] == event["data"]["run"]
        recorded = shown["run"]
        if "environment" in doc:
            assert recorded == doc, "a complete document is recorded exactly as given"
        else:  # generated fields, and nothing else changed
            fingerprint = hashlib.sha256(rfc8785.dumps(doc["config"])).hexdigest()
            assert recorded.pop("config_fingerprint") == fingerprint
            environment = recorded.pop("environment")
            assert isinstance(environment, dict) and environment["python"]
            assert recorded == doc
        related = shown["events"]
        assert related[0] == {"seq": seq, "hash": hash_, "type": "run.recorded", "ts": event["ts"],
                              "actor": event["actor"], "data": event["data"]}
        if doc["run_id"] == VERDICT["run_id"]:
            assert [(e["seq"], e["type"]) for e in related] == [(seq, "run.recorded"), (4, "verdict.recorded")]
            assert related[1]["hash"] == events[4][0] and related[1]["data"]["verdict"] == VERDICT
        else:
            assert len(related) == 1
    text = s.ok("show", RUNS[1]["run_id"], "--log", db).out
    assert f"run_id: {RUNS[1]['run_id']}" in text and "items: 6" in text and "verdict.recorded" in text
    missing = s.cli("show", "no-such-run", "--log", db)
    assert missing.code == 3 and "no-such-run" in missing.err and "Traceback" not in missing.err


def test_cli_and_python_logs_hold_the_same_facts(cli_log: Path, py_log: Path) -> None:
    """Same documents, two ways in: the same runs, verdict and document hashes (only ts/actor/env differ)."""
    def facts(db: Path) -> list[tuple]:
        out = []
        for _, _, body in _events(db)[1:]:
            e = json.loads(body)
            data = dict(e["data"])
            if "run" in data:
                data["run"] = {k: v for k, v in data["run"].items() if k != "environment"}
            out.append((e["seq"], e["type"], e["project"], e["subject"], data))
        return out
    assert facts(cli_log) == facts(py_log)
    strip = ("recorded_at", "event_hash")
    a = [{k: v for k, v in r.items() if k not in strip} for r in s.ok("history", "--log", cli_log, "-o", "json").json()]
    b = [{k: v for k, v in r.items() if k not in strip} for r in s.ok("history", "--log", py_log, "-o", "json").json()]
    assert a == b


def test_init_twice_and_origin_conflict(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    s.ok("init", "--log", db, "--origin", ORIGIN)
    before = s.fingerprint(db)
    again = s.ok("init", "--log", db, "--origin", ORIGIN)
    assert "already exists" in again.out
    other = s.cli("init", "--log", db, "--origin", "example.org/other")
    assert other.code == 5 and "Traceback" not in other.err and len(other.err.strip().splitlines()) == 1
    assert s.fingerprint(db) == before
    bad = s.cli("init", "--log", tmp_path / "m.db", "--origin", "has space")
    assert bad.code == 2 and "--origin" in bad.err


def test_append_without_init_creates_log(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    doc = s.write_json(tmp_path / "r.json", s.run_doc("r"))
    assert "recorded at seq 1" in s.ok("append", "run", doc, "--log", db).out
    genesis = json.loads(_events(db)[0][2])
    assert genesis["type"] == "log.created"
    assert genesis["data"]["origin"] == f"auditlog.local/{genesis['data']['log_id']}"
    assert s.ok("verify", "--log", db, "-o", "json").json()["size"] == 2


def test_log_location_defaults(tmp_path: Path) -> None:
    """--log defaults to $AUDITLOG_DB, then ./auditlog.db (in the working directory)."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    doc = s.write_json(tmp_path / "r.json", s.run_doc("r-default"))
    s.ok("append", "run", doc, cwd=cwd)
    assert (cwd / "auditlog.db").exists()
    assert [r["run_id"] for r in s.ok("history", "-o", "json", cwd=cwd).json()] == ["r-default"]

    env_db = tmp_path / "from-env.db"
    env = s.clean_env(AUDITLOG_DB=str(env_db))
    doc2 = s.write_json(tmp_path / "r2.json", s.run_doc("r-env"))
    s.ok("append", "run", doc2, cwd=cwd, env=env)
    assert env_db.exists()
    assert [r["run_id"] for r in s.ok("history", "-o", "json", cwd=cwd, env=env).json()] == ["r-env"]
    assert [r["run_id"] for r in s.ok("history", "-o", "json", cwd=cwd).json()] == ["r-default"]
    # an explicit --log wins over the environment
    explicit = tmp_path / "explicit.db"
    s.ok("append", "run", doc2, "--log", explicit, cwd=cwd, env=env)
    assert s.ok("verify", "--log", explicit, "-o", "json").json()["size"] == 2
    assert s.ok("verify", cwd=cwd, env=env).out.startswith("ok: 2 events")
    # reading a log that does not exist is "not found", and creates nothing
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (("verify",), ("history",), ("events",), ("show", "x")):
        result = s.cli(*args, cwd=empty)
        assert result.code == 3 and "auditlog.db" in result.err and "Traceback" not in result.err, str(result)
    assert list(empty.iterdir()) == []


def test_write_run_uses_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditlog import write_run

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_DB", raising=False)
    receipt = write_run(s.run_doc("w1"))
    assert receipt.seq == 1 and receipt.new and (tmp_path / "auditlog.db").exists()
    monkeypatch.setenv("AUDITLOG_DB", str(tmp_path / "env.db"))
    assert write_run(s.run_doc("w2")).seq == 1
    assert write_run(s.run_doc("w3"), log=tmp_path / "auditlog.db").seq == 2
    assert [r["run_id"] for r in s.ok("history", "-o", "json", cwd=tmp_path).json()] == ["w3", "w1"]


def test_supersede_and_annotate(cli_log: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(cli_log, db)
    r1, r2, _ = (d["run_id"] for d in RUNS)
    out = s.ok("supersede", r1, "--by", r2, "--reason", "rerun with the fixed prompt", "--log", db).out
    assert "run.superseded" in out and "recorded at seq 5" in out
    visible = [r["run_id"] for r in s.ok("history", "--log", db, "-o", "json").json()]
    assert r1 not in visible and r2 in visible
    everything = {r["run_id"]: r for r in s.ok("history", "--log", db, "--all", "-o", "json").json()}
    assert everything[r1]["status"] == "superseded" and everything[r1]["superseded_by"] == r2
    assert everything[r2]["status"] == "active"

    out = s.ok("annotate", r2, "--tag", "reviewed=yes", "--tag", "owner=ana", "--note", "looked fine", "--log", db).out
    assert "run.annotated" in out and "seq 6" in out
    run = next(r for r in s.ok("history", "--log", db, "-o", "json").json() if r["run_id"] == r2)
    assert run["tags"] == {**RUNS[1]["tags"], "reviewed": "yes", "owner": "ana"}
    assert run["notes"] == ["looked fine"]
    shown = s.ok("show", r2, "--log", db, "-o", "json").json()
    assert shown["run"]["tags"] == RUNS[1]["tags"], "the recorded document is never rewritten"
    assert [e["type"] for e in shown["events"]] == ["run.recorded", "verdict.recorded", "run.annotated"]
    superseded = s.ok("show", r1, "--log", db, "-o", "json").json()["events"]
    assert superseded[-1]["type"] == "run.superseded"
    assert superseded[-1]["data"] == {"by": r2, "reason": "rerun with the fixed prompt"}

    # a correction is an event: nothing before it changed
    before = _events(cli_log)
    after = _events(db)
    assert after[:5] == before and len(after) == 7
    assert s.ok("verify", "--log", db, "-o", "json").json()["size"] == 7

    for args, code in [
        (("supersede", "nope", "--by", r2, "--reason", "x"), 3),
        (("supersede", r2, "--by", "nope", "--reason", "x"), 3),
        (("supersede", r2, "--by", r2, "--reason", "x"), 2),
        (("supersede", r2, "--by", r1, "--reason", " "), 2),
        # r1 is superseded by r2: r2 by r1 left neither active, exit 0 (new-user review 3)
        (("supersede", r2, "--by", r1, "--reason", "undo"), 2),
        (("annotate", "nope", "--tag", "a=b"), 3),
        (("annotate", r2, "--tag", "novalue"), 2),
        (("annotate", r2), 2),
    ]:
        fp = s.fingerprint(db)
        result = s.cli(*args, "--log", db)
        assert result.code == code, f"{args}: {result}"
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err, str(result)
        assert s.fingerprint(db) == fp, f"{args} changed the log"


def test_idempotent_retry_and_conflict(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    doc = s.run_doc("retry-me")
    path = s.write_json(tmp_path / "r.json", doc)
    first = s.ok("append", "run", path, "--log", db, "-o", "json").json()
    assert first["new"] is True and first["seq"] == 1
    events = _events(db)

    again = s.ok("append", "run", path, "--log", db)
    assert f"already recorded at seq {first['seq']}" in again.out
    # a retry from stdin, with other key order and white space: the same document
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=3)
    again = s.ok("append", "run", "-", "--log", db, "-o", "json", input=reordered).json()
    assert again == {**first, "new": False}
    assert _events(db) == events, "a retry appends nothing"

    fp = s.fingerprint(db)
    changed = s.deep(doc)
    changed["items"][0]["score"] = 0.25
    conflict = s.cli("append", "run", s.write_json(tmp_path / "c.json", changed), "--log", db)
    assert conflict.code == 5, str(conflict)
    assert "retry-me" in conflict.err and "Traceback" not in conflict.err
    assert len(conflict.err.strip().splitlines()) == 1
    assert s.fingerprint(db) == fp, "a conflict leaves the log byte-for-byte unchanged"
    assert _events(db) == events

    # a doc without environment is a retry too: the captured environment is not part of its identity
    bare = s.run_doc("bare")
    del bare["environment"]
    bare_path = s.write_json(tmp_path / "bare.json", bare)
    seq = s.ok("append", "run", bare_path, "--log", db, "-o", "json").json()["seq"]
    assert f"already recorded at seq {seq}" in s.ok("append", "run", bare_path, "--log", db).out

    # a verdict retried is one event too
    verdict = s.write_json(tmp_path / "v.json", s.verdict_doc("retry-me", "bare"))
    v1 = s.ok("append", "verdict", verdict, "--log", db, "-o", "json").json()
    v2 = s.ok("append", "verdict", verdict, "--log", db, "-o", "json").json()
    assert v2 == {**v1, "new": False}
    assert len(_events(db)) == 4


def test_verdict_naming_unknown_run_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    s.ok("append", "run", s.write_json(tmp_path / "r.json", s.run_doc("known")), "--log", db)
    for name, doc in {"run": s.verdict_doc("unknown", "known"), "baseline": s.verdict_doc("known", "unknown")}.items():
        fp = s.fingerprint(db)
        result = s.cli("append", "verdict", s.write_json(tmp_path / f"{name}.json", doc), "--log", db)
        assert result.code == 3, str(result)
        assert "unknown" in result.err and len(result.err.strip().splitlines()) == 1
        assert "Traceback" not in result.err
        assert s.fingerprint(db) == fp
    # on a log that does not exist, a verdict cannot name a run in it: nothing is created
    missing = tmp_path / "missing.db"
    result = s.cli("append", "verdict", tmp_path / "run.json", "--log", missing)
    assert result.code == 3, str(result)
    assert not missing.exists()
