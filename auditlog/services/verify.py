"""Verify a whole log: stream every row through the chain scan, count what is wrong.

`AuditLog.verify()` returns a report and never raises on tamper (a report is what
an auditor wants: the first bad seq, and how much else is wrong); use
`report.raise_for_problems()` where an exception is wanted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditlog.core.chain import ChainScan, Problem
from auditlog.errors import AuditLogError, IntegrityError
from auditlog.services import tree

if TYPE_CHECKING:
    from auditlog.core.checkpoint import Checkpoint
    from auditlog.services.log import AuditLog

KEEP_PROBLEMS = 100


@dataclass(frozen=True)
class VerifyReport:
    location: str
    size: int
    head: str
    root: str
    log_id: str | None
    origin: str | None
    checkpoints_checked: int = 0
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
            "ok": self.ok, "log": self.location, "size": self.size, "head": self.head, "root": self.root,
            "log_id": self.log_id, "origin": self.origin, "checkpoints_checked": self.checkpoints_checked,
            "problem_count": self.problem_count, "first_bad_seq": self.first.seq if self.first else None,
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in self.problems],
        }


def verify_log(log: AuditLog, progress: Callable[[int], None] | None = None,
               checkpoints: Sequence[tuple[str, Checkpoint]] = ()) -> VerifyReport:
    """Recompute every hash, link, seq, indexed column and Merkle subtree; check the genesis,
    every checkpoint stored in the log and the given (already signature-checked) `checkpoints`."""
    meta = log.store.meta()
    origin = meta.get("origin")
    early: list[Problem] = []
    anchors: dict[int, list[tuple[str, bytes]]] = {}
    stored = _stored_checkpoints(log, early)
    for label, cp in [*stored, *checkpoints]:
        if cp.origin != origin:
            early.append(Problem(0, "checkpoint", f"{label} is for origin {cp.origin!r}, this log is {origin!r}"))
        elif cp.size:
            anchors.setdefault(cp.size, []).append((label, cp.root))
    # One bound for both reads, taken after the checkpoints: the events and subtrees a writer
    # commits between the two cursors' snapshots are neither missing nor extra subtrees.
    size, beyond = log.store.head().size, []
    scan = ChainScan(meta.get("genesis_hash"), anchors=anchors,
                     nodes=tree.nodes_within(log.store.nodes(), size, beyond), stored_level=tree.STORED_LEVEL)
    rows = log.store.rows(until=size)
    if progress is not None:
        rows = _counting(rows, progress)
    kept: list[Problem] = []
    count = 0
    def problems() -> Iterator[Problem]:  # a generator: a badly damaged log must not fill memory
        yield from early
        yield from scan.scan(rows)
        for level, index, _ in tree.orphans(log.store, beyond):  # only once the scan has filled `beyond`
            yield Problem(size, "merkle", f"a Merkle subtree (level {level}, index {index}) is stored for "
                                          "events the log does not have")

    for problem in problems():
        count += 1
        if len(kept) < KEEP_PROBLEMS:
            kept.append(problem)
    kept.sort(key=lambda p: p.seq)
    return VerifyReport(log.store.location, scan.size, scan.head, scan.root.hex(), meta.get("log_id"), origin,
                        len(stored) + len(checkpoints), count, tuple(kept))


def _stored_checkpoints(log: AuditLog, problems: list[Problem]) -> list[tuple[str, Checkpoint]]:
    """The checkpoints kept in the log: their claims are checked; their signatures need keys."""
    from auditlog.core.checkpoint import parse_checkpoint, unverified_note  # cryptography: only when needed
    found = []
    for stored in log.store.checkpoints():
        label = f"stored checkpoint #{stored.id} (size {stored.size})"
        try:
            body, _signatures = unverified_note(stored.note)
            checkpoint = parse_checkpoint(body)
        except AuditLogError as exc:
            problems.append(Problem(0, "checkpoint", f"{label} is not a valid checkpoint note: {exc}"))
            continue
        if checkpoint.size != stored.size or checkpoint.root.hex() != stored.root:
            problems.append(Problem(0, "checkpoint", f"{label}: its columns disagree with its note"))
        found.append((label, checkpoint))
    return found


def _counting(rows, progress):  # noqa: ANN001, ANN202
    for n, row in enumerate(rows, 1):
        if n % 4096 == 0:
            progress(n)
        yield row
