"""The quick benchmark runs that more than one test reads, each run once a session.

scripts/bench/run_all.py runs benchmarks in subprocesses and keeps only their ratio lines;
the proofs and encoding smoke tests want each benchmark's whole output. So `run_all` runs
once, in-process, with its subprocess calls recorded: its own test reads what it printed
and wrote, and the proofs and encoding tests read their benchmark's process. Loaded by
path: putting scripts/bench on sys.path would shadow the `projections` package with
scripts/bench/projections.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "bench"


def load_run_all() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", SCRIPTS / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class QuickRuns:
    run_all: subprocess.CompletedProcess  # run_all itself: its exit code and what it printed
    out: Path  # its --out directory
    cwd: Path  # where the proofs benchmark ran: empty afterwards if it cleaned up
    benchmarks: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)  # by name


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> QuickRuns:
    """`run_all.py --quick --only proofs --only encoding`: each benchmark's one smoke run."""
    base = tmp_path_factory.mktemp("bench")
    runs = QuickRuns(subprocess.CompletedProcess([], -1), base / "results", base / "cwd")
    runs.cwd.mkdir()
    where = {"proofs": {"cwd": runs.cwd, "env": {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}},
             "encoding": {"cwd": ROOT}}

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        name = Path(argv[1]).stem
        done = subprocess.run(argv, **kwargs, **where.get(name, {}))
        runs.benchmarks[name] = done
        return done

    run_all = load_run_all()
    run_all.subprocess = types.SimpleNamespace(run=run, TimeoutExpired=subprocess.TimeoutExpired)
    argv = ["--quick", "--out", str(runs.out), "--only", "proofs", "--only", "encoding", "--timeout", "240"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = run_all.main(argv)
    runs.run_all = subprocess.CompletedProcess(argv, code, printed.getvalue(), "")
    return runs
