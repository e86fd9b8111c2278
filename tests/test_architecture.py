"""The layers of DESIGN.md, enforced: import-linter contracts and real import costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_cli_module_loads_nothing_heavy():
    code = f"import sys, auditlog.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""
