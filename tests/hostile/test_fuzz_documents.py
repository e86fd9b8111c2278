"""Hypothesis fuzzing of the run and verdict documents, through the real service and the CLI.

Whatever the document, exactly one of two things happens: a valid event is appended (the
log verifies, and the recorded run is the normalised input), or the document is refused
with InvalidInput (exit 2 from the CLI) and the log's files are byte-for-byte unchanged.
A run id already recorded with other content is a Conflict (exit 5), also changing nothing.

In-process on a tmp SQLite log for speed (a few hundred examples), and a few dozen through
`auditlog append run` in a subprocess. Derandomized: the same examples on every run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog import AuditLog, Conflict, InvalidInput
from auditlog.evals.runs import normalize_verdict, prepare_run
from auditlog.services.environment import capture_environment

from .hostile_support import cli_support as s
from .hostile_support import db_fingerprint, run_document, top_level, verdict_document

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SLOW = settings(FAST, max_examples=24)


class Session:
    """One log for a whole Hypothesis test: what it should hold is tracked beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log = AuditLog.open(path)
        self.size = self.log.head().size
        self.recorded: set[str] = set()
        self.outcomes: dict[str, int] = {"appended": 0, "refused": 0, "conflict": 0, "retry": 0}

    def check_unchanged(self, before: dict[str, str | None]) -> None:
        assert db_fingerprint(self.path) == before, "a refused document changed the log's files"
        assert self.log.head().size == self.size

    def check_appended(self, receipt: Any) -> None:
        assert receipt.seq == self.size
        self.size += 1
        assert self.log.head().size == self.size
        report = self.log.verify()
        assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def session(tmp_path: Path) -> Session:
    with AuditLog.open(tmp_path / "fuzz.db") as log:
        log.record_run(s.run_doc("base-a"))
        log.record_run(s.run_doc("base-b", seed=1))
    opened = Session(tmp_path / "fuzz.db")
    opened.recorded |= {"base-a", "base-b"}
    yield opened
    opened.log.close()


def _expected_run(doc: Any, run_id: str) -> dict[str, Any]:
    """The run as the log should record it: normalised, with the environment this process captures."""
    environment = None if "environment" in doc else capture_environment()
    run = prepare_run(doc, environment=environment).run
    if "run_id" not in doc:
        assert run_id.startswith(f"{doc['model_id']}::{doc['project_id']}::")
        run["run_id"] = run_id
    return run


def _json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: -0.0 == 0 and 1.0 == 1, as canonical JSON has it."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=0, abs_tol=0) or a == b
    return type(a) is type(b) and a == b


def test_fuzzed_run_documents_append_or_are_refused_unchanged(session: Session) -> None:
    @FAST
    @given(doc=top_level)
    def check(doc: Any) -> None:
        before = db_fingerprint(session.path)
        try:
            receipt = session.log.record_run(doc)
        except InvalidInput as exc:
            assert exc.field or exc.reason
            session.outcomes["refused"] += 1
            session.check_unchanged(before)
            return
        except Conflict:
            assert isinstance(doc, dict) and doc.get("run_id") in session.recorded
            session.outcomes["conflict"] += 1
            session.check_unchanged(before)
            return
        if not receipt.new:  # an idempotent retry of a run already recorded
            session.outcomes["retry"] += 1
            session.check_unchanged(before)
            return
        session.check_appended(receipt)
        session.outcomes["appended"] += 1
        session.recorded.add(receipt.subject)
        recorded = session.log.run(receipt.subject)
        assert _json_equal(recorded, _expected_run(doc, receipt.subject))
        event = session.log.event(receipt.seq).event
        assert event.type == "run.recorded" and event.subject == receipt.subject

    check()
    print(f"run documents: {session.outcomes}")
    assert session.outcomes["appended"] >= 10 and session.outcomes["refused"] >= 10, session.outcomes


def test_fuzzed_verdict_documents_append_or_are_refused_unchanged(session: Session) -> None:
    from auditlog import NotFound

    @FAST
    @given(doc=st.one_of(verdict_document, verdict_document, verdict_document, top_level))
    def check(doc: Any) -> None:
        before = db_fingerprint(session.path)
        try:
            receipt = session.log.record_verdict(doc)
        except InvalidInput:
            session.outcomes["refused"] += 1
            session.check_unchanged(before)
            return
        except NotFound:  # a well-formed verdict about a run the log does not have
            assert {doc["run_id"], doc["baseline_run_id"]} - session.recorded
            session.outcomes["conflict"] += 1
            session.check_unchanged(before)
            return
        if not receipt.new:
            session.outcomes["retry"] += 1
            session.check_unchanged(before)
            return
        session.check_appended(receipt)
        session.outcomes["appended"] += 1
        data = session.log.event(receipt.seq).event.data
        assert _json_equal(data["verdict"], normalize_verdict(doc)[0])

    check()
    print(f"verdict documents: {session.outcomes}")
    assert session.outcomes["appended"] >= 10 and session.outcomes["refused"] >= 10, session.outcomes


def test_fuzzed_run_documents_through_the_cli(session: Session, tmp_path: Path) -> None:
    session.log.close()  # the subprocesses own the log now
    path = tmp_path / "doc.json"
    outcomes = {"appended": 0, "refused": 0, "other": 0}

    @SLOW
    @given(doc=run_document, ascii_only=st.booleans())
    def check(doc: Any, ascii_only: bool) -> None:
        path.write_text(json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True), encoding="utf-8",
                        errors="surrogatepass")
        before = db_fingerprint(session.path)
        result = s.cli("append", "run", path, "--log", session.path, "--output", "json", timeout=60)
        assert "Traceback" not in result.err, str(result)
        if result.code == 0:
            seq = result.json()["seq"]
            with AuditLog.open(session.path, create=False) as log:
                report = log.verify()
                assert report.ok, [str(p) for p in report.problems]
                if result.json().get("new", True):
                    assert seq == report.size - 1
                recorded = log.event(seq).event.data["run"]
            for key, value in doc.items():
                if key != "environment":
                    assert _json_equal(recorded[key], value), key
            outcomes["appended"] += 1
            session.recorded.add(recorded["run_id"])
            return
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
        assert "\x1b" not in result.err
        if result.code == 5:
            assert doc.get("run_id") in session.recorded
            outcomes["other"] += 1
        else:
            assert result.code == 2, str(result)
            outcomes["refused"] += 1
        assert db_fingerprint(session.path) == before

    check()
    print(f"CLI run documents: {outcomes}")
    assert outcomes["appended"] and outcomes["refused"], outcomes
