"""`show` without the projections' tables: the run's state folded from its own events, each checked
against the tree grown from the projections' verified point (auditlog.app.verified.verified_tree).

What it prints must be what the projections say (the runs table's row, the items table's rows);
it must not catch the projections up (no table is read or written) when their point is near the
head; and an event altered anywhere, before or after that point, must fail it loudly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import projections
from auditlog import AuditLog
from tests.support.cli import cli, ok
from tests.tampering import as_holder


def _state(directory: Path) -> bytes:
    return (directory / "state.json").read_bytes()


def test_show_prints_what_the_projections_hold_for_every_kind_of_run(corpus, log, view) -> None:  # noqa: ANN001
    rows = {r["run_id"]: r for r in projections.to_records(view.runs)}
    chosen = [r for r in rows.values() if r["status"] == "superseded"][:8]
    chosen += [r for r in rows.values() if r["override_seq"] is not None][:8]
    chosen += [r for r in rows.values() if r["notes"]][:8]
    chosen += [r for r in rows.values() if r["verdict"] is not None and r["override_seq"] is None][:8]
    chosen += list(rows.values())[:8]
    assert len({r["run_id"] for r in chosen}) >= 30, "the corpus has every kind of run"
    for row in chosen:
        shown = ok("show", row["run_id"], "--items", "--log", corpus.db, "-o", "json").json()
        assert shown["current"] == row, row["run_id"]
        assert shown["items"] == projections.load_run(view, row["run_id"]).item_records(), row["run_id"]
        failed = ok("show", row["run_id"], "--failed", "--log", corpus.db, "-o", "json").json()["items"]
        assert failed == projections.load_run(view, row["run_id"]).item_records(failed_only=True)


def test_show_reads_events_appended_since_the_point_without_catching_up(corpus, log_copy) -> None:  # noqa: ANN001
    directory = Path(f"{log_copy}.projections")
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        first = corpus.runs[0]["run_id"]
        new = {**corpus.runs[1], "run_id": "appended-after-the-point"}
        copy.record_run(new)
        copy.annotate("appended-after-the-point", tags={"late": "yes"}, note="after the point")
        copy.annotate(first, note="also after the point")
    before = _state(directory)
    shown = ok("show", "appended-after-the-point", "--log", log_copy, "-o", "json").json()
    assert shown["current"]["tags"]["late"] == "yes" and shown["current"]["notes"] == ["after the point"]
    assert [e["type"] for e in shown["events"]] == ["run.recorded", "run.annotated"]
    assert "also after the point" in ok("show", first, "--log", log_copy, "-o", "json").json()["current"]["notes"]
    assert _state(directory) == before, "show did not catch the projections up"
    # and what it printed is what a catch-up folds
    caught_up = json.loads(ok("history", "--all", "--log", log_copy, "-o", "json").out)
    assert next(r for r in caught_up if r["run_id"] == "appended-after-the-point") == shown["current"]


def test_show_builds_the_projections_when_there_are_none(corpus, log_copy) -> None:  # noqa: ANN001
    directory = Path(f"{log_copy}.projections")
    assert not directory.exists()
    shown = ok("show", corpus.runs[2]["run_id"], "--log", log_copy, "-o", "json").json()
    assert shown["run"]["run_id"] == corpus.runs[2]["run_id"]
    assert (directory / "state.json").exists()


def _rewrite_body(db: Path, seq: int, old: bytes, new: bytes) -> None:
    """Change the event at `seq` as its file's holder: new bytes and a stored hash that matches them."""
    with as_holder(db) as con:
        body = con.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
        changed = body.replace(old, new, 1)
        assert changed != body
        con.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?",
                    (changed, hashlib.sha256(changed).hexdigest(), seq))


@pytest.mark.parametrize("where", ["before the point", "after the point"])
def test_show_refuses_a_run_whose_event_was_rewritten(corpus, log_copy, where: str) -> None:  # noqa: ANN001
    directory = Path(f"{log_copy}.projections")
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        run_id = corpus.runs[3]["run_id"]
        if where == "after the point":
            run_id = "late-run"
            copy.record_run({**corpus.runs[3], "run_id": run_id})
            copy.annotate(run_id, note="keeps the rewritten event off the head")
        seq = copy.store.find(run_id, ("run.recorded",))[0].seq
    _rewrite_body(log_copy, seq, b'"passed":true', b'"passed":false')
    done = cli("show", run_id, "--log", log_copy)
    assert done.code == 1, done
    # before the point: not included in the fold's tree; after it: the next event's link breaks
    assert f"seq {seq if where == 'before the point' else seq + 1}:" in done.err and "auditlog verify" in done.err
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1
