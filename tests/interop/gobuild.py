"""Shared by the interop tests: build a Go program of tests/interop with Debian's Go and x/mod sources, run it.

GOPATH mode over /usr/share/gocode (where Debian's golang-*-dev packages put Go sources): no module
download, no network. Skipped where Go or x/mod is missing, except in CI ($CI set), where .ci/run
installs them (golang-go golang-golang-x-mod-dev).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

GOPATH = Path("/usr/share/gocode")


def build(source: Path, out: Path) -> Path:
    """The program in `source`, built into `out`."""
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        if os.environ.get("CI"):
            pytest.fail("Go or golang.org/x/mod is missing: CI must install them (.ci/run does, as root)")
        pytest.skip("Go and golang.org/x/mod are not installed (Debian: apt-get install golang-go "
                    "golang-golang-x-mod-dev)")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(out / "cache"),
           "GOFLAGS": "", "GOPROXY": "off"}
    binary = out / source.name
    built = subprocess.run([go, "build", "-o", str(binary), "."], cwd=source, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return binary


def answer(binary: Path, *args: object) -> dict:
    """The program's JSON answer; the test fails with its complaint when it refuses."""
    done = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refusal(binary: Path, *args: object) -> str:
    """The program's complaint: it must refuse (exit 1)."""
    done = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stderr
