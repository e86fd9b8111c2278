"""Verify a whole log: stream every row through the chain scan, count what is wrong.

`AuditLog.verify()` returns a report and never raises on tamper (a report is what
an auditor wants: the first bad seq, and how much else is wrong); use
`report.raise_for_problems()` where an exception is wanted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditlog.core.chain import ChainScan, Problem
from auditlog.errors import IntegrityError

if TYPE_CHECKING:
    from auditlog.services.log import AuditLog

KEEP_PROBLEMS = 100


@dataclass(frozen=True)
class VerifyReport:
    location: str
    size: int
    head: str
    log_id: str | None
    origin: str | None
    problem_count: int = 0
    problems: tuple[Problem, ...] = field(default=())  # the first KEEP_PROBLEMS

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def raise_for_problems(self) -> None:
        if self.first is not None:
            raise IntegrityError(self.first.seq, f"{self.first.kind}: {self.first.detail}")

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "log": self.location, "size": self.size, "head": self.head,
            "log_id": self.log_id, "origin": self.origin, "problem_count": self.problem_count,
            "first_bad_seq": self.first.seq if self.first else None,
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in self.problems],
        }


def verify_log(log: AuditLog, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Recompute every hash, check every link, seq and indexed column, and the genesis."""
    meta = log.store.meta()
    scan = ChainScan(meta.get("genesis_hash"))
    rows = log.store.rows()
    if progress is not None:
        rows = _counting(rows, progress)
    kept: list[Problem] = []
    count = 0
    for problem in scan.scan(rows):
        count += 1
        if len(kept) < KEEP_PROBLEMS:
            kept.append(problem)
    return VerifyReport(log.store.location, scan.size, scan.head, meta.get("log_id"), meta.get("origin"),
                        count, tuple(kept))


def _counting(rows, progress):  # noqa: ANN001, ANN202
    for n, row in enumerate(rows, 1):
        if n % 4096 == 0:
            progress(n)
        yield row
