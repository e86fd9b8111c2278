"""Environment capture records the versions of the packages that decide a result (issue 17).

The versions are found by listing sys.path (importlib.metadata costs ~12 ms to import on every
`append`): these tests hold the listing to importlib.metadata's answer, on this machine's real
installs and on a directory of the odd forms, and check the capture through the real CLI.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from auditlog.evals.packages import DEFAULT_PACKAGES, normalize, selection
from auditlog.services.packages import installed_versions

from . import cli_support as s


def metadata_versions(path: list[str]) -> dict[str, str]:
    """What importlib.metadata says: the first distribution of each name on `path`."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=path):
        if dist.metadata["Name"]:  # None without METADATA
            found.setdefault(normalize(dist.metadata["Name"]), dist.version)
    return found


def test_listing_agrees_with_importlib_metadata_on_this_machine() -> None:
    ours = installed_versions(None)
    assert len(ours) > 5 and "auditlog-evals" in ours  # not vacuous: real installs were found
    assert ours == metadata_versions(sys.path)
    for name in ours:
        assert importlib.metadata.version(name) == ours[name]


def _dist(directory: Path, entry: str, name: str, version: str, *, filename: str = "METADATA") -> None:
    (directory / entry).mkdir(parents=True)
    (directory / entry / filename).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")


def test_listing_agrees_with_importlib_metadata_on_odd_installs(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "lm_eval-0.4.8.dist-info", "lm_eval", "0.4.8")
    _dist(first, "Inspect_AI-0.3.41.dev123+g9ad2119a.dist-info", "inspect_ai", "0.3.41.dev123+g9ad2119a")
    _dist(first, "torch-2.13.0-py3.11.egg-info", "torch", "2.13.0", filename="PKG-INFO")
    _dist(first, "vllm.egg-info", "vllm", "0.9.0.dev0", filename="PKG-INFO")  # a development install
    _dist(first, "openai-1.0.0.dist-info", "openai", "1.0.0")
    _dist(first, "openai-0.9.egg-info", "openai", "0.9", filename="PKG-INFO")  # dist-info wins in one directory
    _dist(second, "lm_eval-0.4.2.dist-info", "lm_eval", "0.4.2")  # shadowed: the first on the path wins
    _dist(second, "anthropic-0.40.0.dist-info", "anthropic", "0.40.0")
    (second / "transformers-4.1.0.dist-info").mkdir()  # METADATA missing: the directory name says it
    (second / "not-a-dist").mkdir()
    path = [str(first), str(second), str(tmp_path / "missing"), str(tmp_path / "python311.zip")]
    ours = installed_versions(None, path)
    theirs = metadata_versions(path)
    assert ours.pop("transformers") == "4.1.0" and theirs.pop("transformers", None) is None
    assert ours == theirs == {"lm-eval": "0.4.8", "inspect-ai": "0.3.41.dev123+g9ad2119a", "torch": "2.13.0",
                              "vllm": "0.9.0.dev0", "openai": "1.0.0", "anthropic": "0.40.0"}
    assert installed_versions(["LM_Eval", "anthropic", "jax"], path) == {"lm-eval": "0.4.8", "anthropic": "0.40.0"}


@pytest.mark.parametrize("spec, expected", [
    (None, DEFAULT_PACKAGES), ("", ()), ("none", ()), ("Click, lm_eval", ("click", "lm-eval")),
    ("+click", (*DEFAULT_PACKAGES, "click")), ("+torch", DEFAULT_PACKAGES),
])
def test_selection(spec: str | None, expected: tuple[str, ...]) -> None:
    assert selection(spec) == expected


def _recorded_environment(db: Path, run_id: str) -> Any:
    out = s.ok("events", "--log", db, "-o", "jsonl").out
    events = [json.loads(line)["event"] for line in out.splitlines()]
    runs = [e["data"]["run"] for e in events if e["type"] == "run.recorded"]
    return next(run["environment"] for run in runs if run["run_id"] == run_id)


def _bare(tmp_path: Path, run_id: str) -> Path:
    doc = s.run_doc(run_id)
    del doc["environment"]
    return s.write_json(tmp_path / f"{run_id}.json", doc)


def test_append_records_package_versions(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    s.ok("append", "run", _bare(tmp_path, "default"), "--log", db, process=True)
    env = _recorded_environment(db, "default")
    assert env["recorded_by"] == "auditlog"
    assert env["packages"]["auditlog-evals"] == importlib.metadata.version("auditlog-evals")
    assert set(env["packages"]) <= set(DEFAULT_PACKAGES)
    wanted = {n: v for n, v in metadata_versions(sys.path).items() if n in DEFAULT_PACKAGES}
    assert env["packages"] == wanted


def test_the_user_chooses_the_packages(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    s.ok("append", "run", _bare(tmp_path, "only"), "--log", db, env=s.clean_env(AUDITLOG_CAPTURE_PACKAGES="click"))
    assert _recorded_environment(db, "only")["packages"] == {"click": importlib.metadata.version("click")}
    s.ok("append", "run", _bare(tmp_path, "more"), "--log", db, env=s.clean_env(AUDITLOG_CAPTURE_PACKAGES="+click"))
    more = _recorded_environment(db, "more")["packages"]
    assert more["click"] == importlib.metadata.version("click") and "auditlog-evals" in more
    s.ok("append", "run", _bare(tmp_path, "none"), "--log", db, env=s.clean_env(AUDITLOG_CAPTURE_PACKAGES="none"))
    assert "packages" not in _recorded_environment(db, "none")


def test_a_bad_package_list_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    s.ok("append", "run", _bare(tmp_path, "first"), "--log", db)
    before = s.fingerprint(db)
    bad = s.cli("append", "run", _bare(tmp_path, "second"), "--log", db,
                env=s.clean_env(AUDITLOG_CAPTURE_PACKAGES="torch,lm eval"), process=True)
    s.one_line_error(bad, 2, "AUDITLOG_CAPTURE_PACKAGES", "'lm eval'")
    assert s.fingerprint(db) == before
