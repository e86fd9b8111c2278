"""Where the real tool outputs are, and how a test hands a file to a parser."""

from __future__ import annotations

from pathlib import Path

from auditlog.ingest import SourceFile

# ../shared/data/eval-outputs relative to the repository root: present in CI beside the repo.
EVAL_OUTPUTS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "eval-outputs").resolve()


def source(path: Path) -> SourceFile:
    return SourceFile(str(path), path.read_bytes())
