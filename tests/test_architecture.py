"""The layers of DESIGN.md, enforced: import-linter contracts and real import costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pyarrow", "textual", "sqlite_utils", "pandas", "numpy", "rich")


def test_import_linter_contracts_hold():
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                           "--config", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


def test_core_modules_are_pure_in_a_fresh_interpreter():
    """Importing the whole core loads no sqlite, no click, no heavy library."""
    code = ("import sys, pkgutil, importlib, auditlog.core as c\n"
            "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('auditlog.core.' + m.name)\n"
            "print(' '.join(sorted(m for m in ('sqlite3', 'click', 'sqlite_utils', 'pyarrow', 'textual') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("package", ["auditlog.evals", "auditlog.ingest"])
def test_evals_and_ingest_are_pure_in_a_fresh_interpreter(package: str):
    """As the core: importing every module of the eval domain or the parsers loads nothing of the kind."""
    code = (f"import sys, pkgutil, importlib, {package} as c\n"
            f"for m in pkgutil.iter_modules(c.__path__): importlib.import_module('{package}.' + m.name)\n"
            "print(' '.join(sorted(m for m in ('sqlite3', 'click', 'sqlite_utils', 'pyarrow', 'textual') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components (more than one module, or a module importing itself) of `graph`."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    for start in edges:  # Tarjan's algorithm, iteratively (no recursion limit to mind)
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(edges[child])))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycles_among_the_project_modules():
    """No module imports, directly or through others, a module that imports it back.

    Imports inside functions count (they run, only later); imports under `if TYPE_CHECKING:` do
    not (they never run): `services/verify.py` names `AuditLog` in its signatures, which
    `AuditLog.verify` calls. The layers contract in pyproject.toml keeps the packages apart;
    this keeps the modules inside each package apart as well.
    """
    graph = grimp.build_graph("auditlog", "projections", exclude_type_checking_imports=True)
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z", "a.w"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    graph.add_import(importer="a.w", imported="a.x")
    assert import_cycles(graph) == [["a.x", "a.y", "a.z"]]


def test_cli_module_loads_nothing_heavy():
    code = f"import sys, auditlog.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)  # as `wc -l` counts (every line ends in a newline)


def test_the_core_stays_small_enough_to_read_in_one_sitting():
    """DESIGN.md: core/ is what an auditor reads, at most 1,500 lines (`wc -l src/auditlog/core/*.py`)."""
    total = sum(_lines(path) for path in (ROOT / "src" / "auditlog" / "core").glob("*.py"))
    assert total <= 1500, f"src/auditlog/core/ has {total} lines; the auditor's kernel is at most 1,500"


def test_no_module_is_two_concepts():
    """STYLE.md: modules stay under ~400 lines; a module that grows past that is two concepts."""
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / "src").rglob("*.py"))
            if (n := _lines(path)) > 400}
    assert long == {}
