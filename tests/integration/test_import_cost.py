"""`auditlog append` and `auditlog verify` start fast: no heavy library is imported.

Runs the real CLI under `python -X importtime` and reads the modules it imported
from stderr. CI calls `append` many times; each heavy import is paid every time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import cli_support as s

HEAVY = ("pyarrow", "textual", "sqlite_utils", "pandas", "numpy")


def imported_modules(stderr: str) -> set[str]:
    """Module names from `-X importtime` lines: `import time: <self> | <cumulative> | <  nested.name>`."""
    modules = set()
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        name = line.rsplit("|", 1)[-1].strip()
        if name and name != "imported package":
            modules.add(name)
    return modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.fixture(scope="module")
def existing_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("import_cost")
    db = d / "evals.db"
    s.ok("append", "run", s.write_json(d / "first.json", s.run_doc("first")), "--log", db)
    return d, db


def test_parser_sees_imports() -> None:
    sample = ("import time: self [us] | cumulative | imported package\n"
              "import time:       209 |        895 |     sqlite3.dbapi2\n"
              "import time:      1945 |       5748 | auditlog.store.sqlite\n")
    assert imported_modules(sample) == {"sqlite3.dbapi2", "auditlog.store.sqlite"}
    assert heavy({"numpy.core", "pandas", "textualize", "auditlog"}) == ["numpy.core", "pandas"]


@pytest.mark.parametrize("command", ["append", "verify"])
def test_append_and_verify_import_nothing_heavy(existing_log: tuple[Path, Path], command: str) -> None:
    d, db = existing_log
    if command == "append":
        args = ["append", "run", s.write_json(d / "second.json", s.run_doc("second")), "--log", db]
    else:
        args = ["verify", "--log", db]
    result = s.ok(*args, python_flags=("-X", "importtime"))
    modules = imported_modules(result.err)
    # the parse is not vacuous: the command's own modules are there
    assert {"click", "auditlog.cli", "auditlog.store.sqlite", "auditlog.core.chain"} <= modules, sorted(modules)
    assert heavy(modules) == [], f"`auditlog {command}` imported {heavy(modules)}"
    # about 12 ms: the capture of package versions lists sys.path instead (services/packages.py)
    assert "importlib.metadata" not in modules


def test_history_may_import_what_it_likes(existing_log: tuple[Path, Path]) -> None:
    _, db = existing_log
    result = s.ok("history", "--log", db, "-o", "json", python_flags=("-X", "importtime"))
    assert "projections" in imported_modules(result.err)


@pytest.mark.parametrize("command", ["append", "verify", "show"])
def test_no_progress_library_when_not_on_a_terminal(existing_log: tuple[Path, Path], command: str) -> None:
    """rich draws progress only on a terminal: piped, append, verify and show do not import it."""
    d, db = existing_log
    args = {"append": ["append", "run", s.write_json(d / "third.json", s.run_doc("third")), "--log", db],
            "verify": ["verify", "--log", db], "show": ["show", "first", "--log", db]}[command]
    modules = imported_modules(s.ok(*args, python_flags=("-X", "importtime")).err)
    assert "auditlog.cli.progress" in modules  # the parse is not vacuous
    assert sorted(m for m in modules if m.split(".")[0] == "rich") == []


def test_show_reads_no_table_once_the_projections_are_built(existing_log: tuple[Path, Path]) -> None:
    """`show` checks the run against the projections' verified point and the log's index: no pyarrow."""
    d, db = existing_log
    s.ok("history", "--log", db)  # builds the projections: their verified point
    s.ok("append", "run", s.write_json(d / "third.json", s.run_doc("third")), "--log", db)  # past the point
    for run_id in ("first", "third"):
        result = s.ok("show", run_id, "--items", "--log", db, python_flags=("-X", "importtime"))
        modules = imported_modules(result.err)
        assert {"auditlog.app.verified", "auditlog.core.verify_proof"} <= modules, sorted(modules)
        assert heavy(modules) == [], f"`auditlog show` imported {heavy(modules)}"
