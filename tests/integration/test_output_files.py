"""Files the commands write (export --out, report --out, export-evalsig OUT): a mistake in the path is one
line and a documented exit code, never a traceback (exit 1 says "integrity failure"), and never the
log replaced by what was meant for another file (new-user review 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import cli_support as s
from tests.reliability.test_storage_faults import mounted, remount


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    db = tmp_path / "evals.db"
    s.ok("demo", "--log", db)
    return db


@pytest.mark.parametrize("command", [["export"], ["export", "-o", "parquet"], ["report"]])
def test_out_naming_the_log_is_refused_and_the_log_stays(demo: Path, command: list[str]) -> None:
    """`--out evals.db` for `--log evals.db` replaced the log with a CSV file or an HTML page, exit 0."""
    before = s.fingerprint(demo)
    s.one_line_error(s.cli(*command, "--log", demo, "--out", demo), 2, "--out", str(demo), "SQLite database")
    assert s.fingerprint(demo) == before
    assert s.ok("verify", "--log", demo).out.startswith("ok: 21 events")


def test_out_may_replace_a_file_that_is_not_a_database(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    out.write_text("old export\n")
    s.ok("export", "--log", demo, "--out", out)
    assert out.read_text().startswith("run_id,")


def test_export_into_a_missing_directory_is_one_line(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-such-dir" / "runs.csv"
    s.one_line_error(s.cli("export", "--log", demo, "--out", out), 4, "cannot write", str(out))
    assert not out.parent.exists()


def test_writing_to_read_only_storage_is_one_line(demo: Path, tmp_path: Path) -> None:
    """export and export-evalsig ended in a traceback (exit 1); report in one too, when removing its
    temporary file failed as well."""
    with mounted(tmp_path / "mnt", "size=1m") as mnt:
        remount(mnt, "remount", "ro")
        try:
            for args in (["export", "--out", mnt / "runs.csv"], ["report", "--out", mnt / "report.html"],
                         ["export-evalsig", mnt / "store"]):
                s.one_line_error(s.cli(*args, "--log", demo, process=True), 4, "cannot write", "Read-only")
        finally:
            remount(mnt, "remount", "rw")
        assert list(mnt.iterdir()) == []
