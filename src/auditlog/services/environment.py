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

from auditlog.evals.packages import ENV_VARIABLE, selection
from auditlog.evals.provenance import actor_from_environ, ci_from_environ
from auditlog.services.packages import installed_versions

CAPTURED_BY = "auditlog"
"""`environment.recorded_by` of an environment captured on the machine that appended; an ingested
run's names the tool whose file it was read from (lm-eval, inspect_ai, evalsig)."""


def capture_environment() -> dict[str, Any]:
    """Python, platform, packages, git state and CI coordinates of this process, for runs that omit
    `environment`. InvalidInput when $AUDITLOG_CAPTURE_PACKAGES is not a list of package names."""
    return _captured(os.environ.get(ENV_VARIABLE))


@functools.lru_cache(maxsize=4)
def _captured(spec: str | None) -> dict[str, Any]:
    chosen = selection(spec)
    env: dict[str, Any] = {
        "recorded_by": CAPTURED_BY,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }
    packages = installed_versions(chosen) if chosen else {}
    if packages:
        env["packages"] = dict(sorted(packages.items()))
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
