"""Capture where a run was made and who appends: the I/O half of evals.provenance.

Read once per process and cached: CI calls append many times, and a batch of
100k runs must not ask git 100k times.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import subprocess
import sys
from typing import Any

from auditlog.evals.provenance import actor_from_environ, ci_from_environ


@functools.lru_cache(maxsize=1)
def capture_environment() -> dict[str, Any]:
    """Python, platform, git state and CI coordinates of this process, for runs that omit `environment`."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }
    git = _git_state()
    if git:
        env["git"] = git
    ci = ci_from_environ(os.environ)
    if ci:
        env["ci"] = ci
    return env


@functools.lru_cache(maxsize=1)
def capture_actor() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return actor_from_environ(os.environ, user=user)


def _git_state() -> dict[str, Any]:
    """Commit, branch and dirtiness of the working directory's repository; {} outside one."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    state: dict[str, Any] = {"commit": commit}
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        state["branch"] = branch
    status = git("status", "--porcelain", "--untracked-files=no")
    if status is not None:
        state["dirty"] = bool(status)
    return state
