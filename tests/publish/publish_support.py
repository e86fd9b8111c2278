"""Shared by the publishing tests: a log with N runs, keys, and the published files."""

from __future__ import annotations

from pathlib import Path

from tests.integration.cli_support import cli, run_doc


def make_log(path: Path, runs: int, *, start: int = 0, origin: str = "test.example/evals", items: int = 2) -> None:
    """Append `runs` run.recorded events (ids run-START.. ) to the log at `path` in one batch."""
    from auditlog.services.log import AuditLog

    with AuditLog.open(path, create=True, origin=origin) as log, log.writer() as w:
        for i in range(start, start + runs):
            w.record_run(run_doc(f"run-{i}", n_items=items, version=f"1.{i % 5}", seed=i))


def keygen(tmp: Path, name: str = "log.example", *, cosigner: bool = False) -> tuple[Path, str]:
    key = tmp / f"{name.replace('/', '_')}.key"
    args = ["keygen", "--name", name, "--out", key] + (["--cosigner"] if cosigner else [])
    assert cli(*args).code == 0
    return key, key.with_suffix(".vkey").read_text().strip()


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
