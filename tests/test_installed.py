"""The suite tests what users install: the package from site-packages, and a wheel in a fresh venv.

The code lives under `src/`, so nothing puts the checkout's copy on `sys.path`; the first test
fails when `auditlog` was imported from the checkout anyway (an editable install, a stray
PYTHONPATH). The wheel test builds the distribution, installs it alone into a new virtual
environment (its dependencies from this one's site-packages: no network needed) and starts
every command and the TUI from there: a file missing from the wheel fails it.
"""

from __future__ import annotations

import os
import pty
import select
import shlex
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import auditlog
import projections

ROOT = Path(__file__).resolve().parent.parent


def test_the_tests_import_the_installed_package_not_the_checkout() -> None:
    for package in (auditlog, projections):
        where = Path(package.__file__ or "").resolve()
        assert not where.is_relative_to(ROOT), (
            f"{package.__name__} was imported from the checkout ({where}): install it (pip install '.[test]'), "
            "not editable, and run the tests against what users get")
        assert "site-packages" in where.parts, where


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    src = build / "src"
    _copy_tracked(ROOT, src)
    # Built as pip builds it for a user: in an isolated environment with the build-system's own requirements.
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--wheel-dir", str(out), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [built] = out.glob("auditlog_evals-*.whl")
    return built


def _copy_tracked(root: Path, dest: Path) -> None:
    """The files git tracks (what a clean checkout has), plus untracked files not ignored."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = root / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def test_the_wheel_carries_what_the_program_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("auditlog/tui/app.tcss", "auditlog/py.typed", "projections/py.typed", "auditlog/__main__.py"):
        assert needed in names, f"{needed} is not in {wheel.name}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "auditlog = auditlog.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "src/", "scripts/")) for n in names), "the wheel ships the checkout's extras"


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(home)], check=True)
    done = subprocess.run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--force-reinstall", str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return home


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"AUDITLOG_DB", "PYTHONPATH", "AUDITLOG_KEY_PASSPHRASE"}}


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "auditlog"), *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_every_command_starts_from_the_wheel_in_a_fresh_venv(venv: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import auditlog, projections; "
                            "print(auditlog.__file__); print(projections.__file__)"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where

    from auditlog.cli import cli
    commands = _command_paths(cli)
    assert len(commands) > 20
    for path in commands:
        done = _run(venv, *path, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "Usage:" in done.stdout, f"{' '.join(path)}: {done.stderr}"

    for args in (["demo", "--log", "demo.db"], ["verify", "--log", "demo.db"], ["history", "--log", "demo.db"],
                 ["show", "claude-x::mmlu-pro::v1.2", "--log", "demo.db"],
                 ["compare", "claude-x::mmlu-pro::v1.1", "claude-x::mmlu-pro::v1.2", "--log", "demo.db"],
                 ["trend", "--project", "mmlu-pro", "--metric", "accuracy", "--log", "demo.db"],
                 ["events", "--log", "demo.db", "--limit", "2"],
                 ["keygen", "--name", "wheel.example.org", "--out", "ci.key"],
                 ["checkpoint", "--key", "ci.key", "--log", "demo.db"],
                 ["export", "--log", "demo.db", "--format", "csv", "--out", "runs.csv"]):
        done = _run(venv, *args, cwd=tmp_path)
        assert done.returncode == 0, f"{' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stderr


def _command_paths(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click
    assert isinstance(group, click.Group)
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


def quick_start() -> tuple[str, str, str]:
    """README's Quick start, as a reader follows it: (install and demo, browse, test) command lines."""
    import re
    section = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    lines = [body.strip() for _, body in re.findall(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)]
    assert len(lines) == 3 and all("\n" not in line for line in lines), lines
    return lines[0], lines[1], lines[2]


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    test_command = quick_start()[2]
    assert test_command.startswith("pip install") and "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci, f".ci/run does not run README's test command {test_command!r}"


@pytest.mark.slow
def test_the_readmes_quick_start_runs_the_demo_and_the_tui_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    """Followed literally, with the wheel standing in for `pip install .` (it is what that installs)."""
    install_and_demo, browse, _ = quick_start()
    install, sep, demo = install_and_demo.partition(" && ")
    assert install == "pip install ." and sep, install_and_demo
    demo_args = shlex.split(demo)
    assert demo_args[0] == "auditlog"
    done = _run(venv, *demo_args[1:], cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr

    tui_args = shlex.split(browse)
    assert tui_args[:2] == ["auditlog", "tui"], browse
    env = {**_env(), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "36"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the installed command, on the terminal pty gave it
        os.chdir(tmp_path)
        os.execve(str(venv / "bin" / "auditlog"), [str(venv / "bin" / "auditlog"), *tui_args[1:]], env)
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while b"mmlu-pro" not in screen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
        assert b"mmlu-pro" in screen, f"the TUI did not show the runs: {screen[-2000:]!r}"
        os.write(fd, b"q")
        code = _wait(pid, deadline=time.monotonic() + 30, fd=fd)
    finally:
        os.close(fd)
    assert code == 0, screen[-2000:]
    assert b"Traceback" not in screen and b"unable to read CSS" not in screen


def _wait(pid: int, *, deadline: float, fd: int) -> int:
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                os.read(fd, 65536)  # keep the terminal drained so the app can finish drawing
            except OSError:
                pass
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the TUI did not quit on q")
