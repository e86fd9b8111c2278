"""A state.json that is not what the code writes is refused on reading, in one line that says to
rebuild: a field of the wrong type, a part listed twice or out of order, counts its parts do not hold."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import projections
from auditlog import AuditLog, InvalidInput
from auditlog.errors import EXIT_INVALID
from projections.disk import write_bytes
from projections.state import STATE, read_state
from tests.integration.cli_support import run_doc
from tests.support.cli import cli, ok, one_line_error


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A small log whose projections have two parts per table (runs, items): one per catch-up."""
    path = tmp_path / "evals.db"
    with AuditLog.open(path) as log:
        for i in range(3):
            log.record_run(run_doc(f"r{i}", seed=i))
        projections.catch_up(log, f"{path}.projections")
        log.record_run(run_doc("r3", seed=3))
        state = projections.catch_up(log, f"{path}.projections")
    assert len(state.runs) == 2 and len(state.items) == 2
    return path


def doctor(db: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    """Rewrite state.json with `change` applied (what it returns replaces the whole document, if not None)."""
    path = Path(f"{db}.projections") / STATE
    state = json.loads(path.read_text())
    changed = change(state)
    write_bytes(path, json.dumps(state if changed is None else changed).encode())


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = state
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return change


def _twice(table: str) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        parts = state["files"]["parts"][table] if table in ("runs", "verdicts") else state["files"][table]
        parts.append(parts[0])
        state["counts"][table] += parts[0]["rows"]  # the counts agree: the overlap alone is refused
    return change


def _swapped(state: dict[str, Any]) -> None:
    state["files"]["items"].reverse()


BAD = {
    "seq a string": _set("position.seq", "8"),
    "seq true": _set("position.seq", True),
    "seq a float": _set("position.seq", 8.0),
    "seq below -1": _set("position.seq", -2),
    "negative rows": _set("files.parts.runs.1.rows", -1),
    "first_seq true": _set("files.items.0.first_seq", True),
    "schema_version a string": _set("schema_version", "3"),
    "a count a string": _set("counts.runs", "4"),
    "counts a list": _set("counts", []),
    "log_id a number": _set("log_id", 7),
    "hash not hex": _set("position.hash", "x" * 64),
    "peaks an object": _set("position.peaks", {}),
    "position a list": _set("position", []),
    "parts a list": _set("files.parts", []),
    "items an object": _set("files.items", {}),
    "a part a number": _set("files.items.0", 1),
    "a verdicts part with a manifest": _set("files.parts.verdicts.0.manifest", "../victim"),
    "the document a list": lambda state: [state],
    "the document a string": lambda state: "state",
    "a runs part twice": _twice("runs"),
    "an items part twice": _twice("items"),
    "parts out of order": _swapped,
    "a part past the position": _set("files.items.1.last_seq", 99),
    "counts its parts do not hold": _set("counts.items", 1),
}


@pytest.mark.parametrize("change", BAD.values(), ids=BAD.keys())
def test_a_malformed_state_is_refused_on_reading(db: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    doctor(db, change)
    with pytest.raises(InvalidInput, match=r"is not a projections state file \(it.*\): rebuild with"):
        read_state(Path(f"{db}.projections"))


def test_a_format_of_true_is_an_unknown_format(db: Path) -> None:
    doctor(db, _set("format", True))  # True == 1 to Python: it would pass for an older layout
    with pytest.raises(InvalidInput, match="unknown state format True"):
        read_state(Path(f"{db}.projections"))


@pytest.mark.parametrize(("change", "commands"), [
    (_set("position.seq", "8"), [("history",), ("show", "r0"), ("projections", "status")]),
    (lambda state: [state], [("history",)]),
    (_twice("runs"), [("history",), ("trend", "--project", "mmlu-pro", "--metric", "accuracy"), ("projections", "status")]),
], ids=["seq a string", "the document a list", "a runs part twice"])
def test_the_cli_refuses_a_malformed_state_in_one_line_until_rebuilt(db: Path, change: Any, commands: list) -> None:
    doctor(db, change)
    for command in commands:
        one_line_error(cli(*command, "--log", db, process=True), EXIT_INVALID,
                       "state.json: is not a projections state file", "auditlog projections rebuild")
    ok("projections", "rebuild", "--log", db)
    assert [r["run_id"] for r in ok("history", "-o", "json", "--log", db).json()] == ["r3", "r2", "r1", "r0"]


def test_a_rebuild_deletes_no_file_a_doctored_state_names(db: Path) -> None:
    victim = db.parent / "victim"
    victim.write_text("kept")
    doctor(db, _set("files.parts.verdicts.0.manifest", "../victim"))
    ok("projections", "rebuild", "--log", db)
    assert victim.read_text() == "kept"
