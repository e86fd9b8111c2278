"""Verify a whole log: stream every row through the chain scan, count what is wrong.

`AuditLog.verify()` returns a report and never raises on tamper (a report is what
an auditor wants: the first bad seq, and how much else is wrong); use
`report.raise_for_problems()` where an exception is wanted.

Besides the scan (every hash, link, body, indexed column and Merkle subtree), verify
accounts for every row the database holds (a row outside 0..size-1 is never read by a
scan in seq order, but a look-up could find it), compares the schema with the one
auditlog creates (an extra trigger can drop appends) and every metadata value with the
genesis event. The report says what that proves and what it does not: see `summary`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditlog import collector
from auditlog.core.chain import ChainScan, Problem
from auditlog.core.events import LOG_CREATED, SealedEvent
from auditlog.core.merkle import EMPTY_ROOT
from auditlog.errors import AuditLogError, IntegrityError
from auditlog.render import plural
from auditlog.services import tree
from auditlog.services.batch import clean_rows
from auditlog.store.protocol import StoredNode

if TYPE_CHECKING:
    from auditlog.core.checkpoint import Checkpoint
    from auditlog.core.note import Verifier
    from auditlog.services.log import AuditLog
    from auditlog.services.segments import Joined

KEEP_PROBLEMS = 100
PARALLEL_FROM = 100_000  # events: below this one process is faster (starting the workers costs ~0.4 s; docs/performance.md)
META_KEYS = ("created", "genesis_hash", "log_id", "origin")


@dataclass(frozen=True)
class VerifyReport:
    location: str
    size: int
    head: str
    root: str
    log_id: str | None
    origin: str | None
    checkpoints_checked: int = 0  # checkpoints whose signature a trusted key checked, and the chain extends
    problem_count: int = 0
    problems: tuple[Problem, ...] = field(default=())  # the first KEEP_PROBLEMS
    anchors: tuple[str, ...] = ()  # one line per signature-checked checkpoint: which, what size, signed by whom
    stored_unchecked: int = 0  # stored checkpoints whose claims agree with the chain, signed by no trusted key
    keys: tuple[str, ...] = ()  # the names of the trusted keys the caller gave
    outside_size: int | None = None  # the largest checkpoint from outside the log (--checkpoint) the chain extends
    outside_anchors: tuple[str, ...] = ()  # those of `anchors` that are checkpoints from outside the log

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def anchored(self) -> bool:
        """A checkpoint kept outside the log (`--checkpoint`), signed by a key the caller trusts, covers part
        of it, so truncation and rewrites of that part by the log's holder are excluded. Checkpoints stored
        in the log do not count: its holder can delete the latest ones with the events they cover."""
        return self.outside_size is not None

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def raise_for_problems(self) -> None:
        if self.first is not None:
            raise IntegrityError(self.first.seq, f"{self.first.kind}: {self.first.detail}")

    def summary(self) -> str:
        """What was proven, in words that claim no more than that (the CLI and the TUI print it)."""
        if not self.ok:
            first = self.first
            assert first is not None  # problem_count > 0: problems holds the first of them
            return (f"FAILED: {plural(self.problem_count, 'problem')}; the first at seq {first.seq}: {first.kind}: "
                    f"{first.detail}")
        said = (f"ok: {self.size} events, root {self.root}, head {self.head}: internally consistent (every "
                "hash, link, body and Merkle subtree recomputed; every row accounted for; schema and metadata "
                "as created)")
        if self.stored_unchecked:
            agree = "agrees" if self.stored_unchecked == 1 else "agree"
            said += f"; {plural(self.stored_unchecked, 'stored checkpoint')} {agree} with it, " + (
                f"but no key given ({', '.join(self.keys)}) signed {'it' if self.stored_unchecked == 1 else 'them'}"
                if self.keys
                else "their signatures not checked (pass --vkey to check them)")
        if self.anchors:
            said += "; " + "; ".join(self.anchors)
        if self.outside_size is None:
            stored = (" (checkpoints stored in it can be deleted by its holder with the events after them)"
                      if self.anchors else "")
            checked = "covers any event" if self.outside_anchors else "was checked"
            return said + (f". No checkpoint from outside the log {checked}{stored}, so truncation or a rewrite "
                           "by its holder cannot be excluded: keep checkpoints elsewhere and pass --checkpoint "
                           "FILE --vkey KEY")
        if self.outside_size < self.size:
            after = self.size - self.outside_size
            return said + (f". {plural(after, 'event')} after size {self.outside_size} {'is' if after == 1 else 'are'}"
                           " covered by no checkpoint from outside the log: their rewrite, or a truncation after "
                           "that size, by its holder cannot be excluded")
        return said

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "log": self.location, "size": self.size, "head": self.head, "root": self.root,
            "log_id": self.log_id, "origin": self.origin, "checkpoints_checked": self.checkpoints_checked,
            "anchored": self.anchored, "anchored_size": self.outside_size, "anchors": list(self.anchors),
            "stored_unchecked": self.stored_unchecked,
            "keys": list(self.keys),
            "summary": self.summary(),
            "problem_count": self.problem_count, "first_bad_seq": self.first.seq if self.first else None,
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in self.problems],
        }


def verify_log(log: AuditLog, progress: Callable[[int], None] | None = None,
               checkpoints: Sequence[tuple[str, Checkpoint]] = (),
               verifiers: Sequence[Verifier] = (), processes: int | None = None) -> VerifyReport:
    """Recompute every hash, link, seq, body, indexed column and Merkle subtree; account for every
    row; check the schema, the metadata, the genesis, every checkpoint stored in the log and the
    given (already signature-checked) `checkpoints`. Stored checkpoints whose signatures
    `verifiers` (trusted keys) check count as anchors; the others' claims are checked only.

    A long log is verified on every core (`auditlog.services.segments`; `processes` overrides how
    many, 1 for one); a log with anything wrong is verified again in one process, for the report."""
    file_check = _beside(log.store.file_problems)  # SQLite's own check of the file, while the chain is scanned
    meta = log.store.meta()
    origin = meta.get("origin")
    early: list[Problem] = [Problem(0, "schema", text) for text in log.store.schema_problems()]
    anchors: dict[int, list[tuple[str, bytes]]] = {}
    stored, signed = _stored_checkpoints(log, early, verifiers)
    lines = [f"extends {label} (size {cp.size}, signed by {', '.join(names)})" for label, cp, names in signed]
    outside_lines = tuple(f"extends {label} (size {cp.size}, signature checked)" for label, cp in checkpoints)
    lines += outside_lines
    for label, cp in [*stored, *((label, cp) for label, cp, _ in signed), *checkpoints]:
        if cp.origin != origin:
            early.append(Problem(0, "checkpoint", f"{label} is for origin {cp.origin!r}, this log is {origin!r}"))
        elif cp.size:
            anchors.setdefault(cp.size, []).append((label, cp.root))
        elif cp.root != EMPTY_ROOT:  # no tree of size 0 has it: signed, it is a claim about no log
            early.append(Problem(0, "checkpoint", f"{label} has size 0 and root {cp.root.hex()}, not the empty tree's"))
    # One bound for both reads, taken after the checkpoints: the events and subtrees a writer
    # commits between the two cursors' snapshots are neither missing nor extra subtrees.
    size = log.store.head().size
    beyond: list[StoredNode] = []
    early += _unaccounted_rows(log)
    keys = tuple(v.name for v in verifiers)
    outside = max((cp.size for _, cp in checkpoints if cp.size), default=None)  # size 0 covers no event
    report = None if early else _in_segments(log, meta, size, anchors, progress, processes)
    found = file_check()
    if report is not None and not found:
        return VerifyReport(log.store.location, report.size, report.head, report.root.hex(), meta.get("log_id"),
                            origin, len(signed) + len(checkpoints), 0, (), tuple(lines), len(stored), keys, outside, outside_lines)
    early += [Problem(0, "schema", text) for text in found]
    scan = ChainScan(meta.get("genesis_hash"), anchors=anchors, nodes=tree.nodes_within(log.store.nodes(), size, beyond),
                     stored_level=tree.STORED_LEVEL, batch=clean_rows)
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
        if scan.size:
            yield from _meta_problems(log, meta)

    with collector.paused():
        for problem in problems():
            count += 1
            if len(kept) < KEEP_PROBLEMS:
                kept.append(problem)
    kept.sort(key=lambda p: p.seq)
    return VerifyReport(log.store.location, scan.size, scan.head, scan.root.hex(), meta.get("log_id"), origin,
                        len(signed) + len(checkpoints), count, tuple(kept), tuple(lines), len(stored), keys, outside, outside_lines)


def _beside(task: Callable[[], list[str]]) -> Callable[[], list[str]]:
    """`task` started on a thread of its own; the function returned waits for its answer (or its error).
    SQLite's integrity check spends its time in C, with the GIL let go: it runs beside the scan. A bare
    Thread, not concurrent.futures: that would add its import (and logging's, 6 ms) to every verify's start."""
    import threading

    answer: list[list[str]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(task())
        except BaseException as exc:  # handed to the caller, in its thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="auditlog-file-check", daemon=True)
    thread.start()

    def result() -> list[str]:
        thread.join()
        if failure:
            raise failure[0]
        return answer[0]
    return result


def _in_segments(log: AuditLog, meta: dict[str, str], size: int, anchors: dict[int, list[tuple[str, bytes]]],
                 progress: Callable[[int], None] | None, processes: int | None) -> Joined | None:
    """The log verified in segments on several processes, when it is long enough to pay for them and
    its store can be opened again by location; None when it was not, or anything is wrong."""
    location = getattr(log.store, "reopen_location", None)
    if location is None or size < 2 or processes == 1 or (processes is None and size < PARALLEL_FROM):
        return None
    from auditlog.services import segments  # subprocess and selectors: only for a long log
    count = processes or segments.workers()
    if count < 2:
        return None
    beyond: list[StoredNode] = []
    joined = segments.verify_segments(location, size, meta.get("genesis_hash"), anchors,
                                      tree.nodes_within(log.store.nodes(), size, beyond), tree.STORED_LEVEL,
                                      progress, count)
    if joined is None or tree.orphans(log.store, beyond) or next(_meta_problems(log, meta), None) is not None:
        return None
    return joined


def _unaccounted_rows(log: AuditLog) -> list[Problem]:
    """The database's own count of events at negative seqs must be 0: such a row sits outside the
    chain, where no scan by seq sees it (rows missing inside 0..size-1 are the scan's gaps)."""
    outside = log.store.tally(until=0)
    if outside.events == 0:
        return []
    return [Problem(0, "outside-chain", f"the events table holds {plural(outside.events, 'row')} at negative seqs (lowest "
                                        f"{outside.min_seq}), outside the chain, where look-ups could find them: "
                                        "they were inserted behind auditlog's back")]


def _meta_problems(log: AuditLog, meta: dict[str, str]) -> Iterator[Problem]:
    """Every value recorded beside the events must be what the genesis event says."""
    if sorted(meta) != sorted(META_KEYS):
        yield Problem(0, "metadata", f"the log's metadata keys are {sorted(meta)}, expected {list(META_KEYS)}")
    row = log.store.get(0)
    if row is None:
        return
    try:
        genesis = SealedEvent(row.seq, row.hash, row.body).event
    except AuditLogError:
        return  # the scan reported the genesis already
    if genesis.type != LOG_CREATED or hashlib.sha256(row.body).hexdigest() != meta.get("genesis_hash"):
        return  # a replaced genesis is reported as such; its metadata differing is its consequence
    for key in ("log_id", "origin", "created"):
        if key in meta and meta[key] != genesis.data.get(key):
            yield Problem(0, "metadata", f"the log's metadata says {key} = {meta[key]!r}, but its genesis event "
                                         f"says {genesis.data.get(key)!r}")


def _stored_checkpoints(log: AuditLog, problems: list[Problem], verifiers: Sequence[Verifier]):  # noqa: ANN202
    """The checkpoints kept in the log, as (unchecked, signed): unchecked ones' claims are checked
    against the chain, but only a signature by one of `verifiers` makes one an anchor."""
    from auditlog.core.checkpoint import parse_checkpoint  # cryptography: only when needed
    from auditlog.core.note import unverified_note
    unchecked, signed = [], []
    for stored in log.store.checkpoints():
        label = f"stored checkpoint #{stored.id}"
        try:
            body, signatures = unverified_note(stored.note)
            checkpoint = parse_checkpoint(body)
        except AuditLogError as exc:
            problems.append(Problem(0, "checkpoint", f"{label} is not a valid checkpoint note: {exc}"))
            continue
        if checkpoint.size != stored.size or checkpoint.root.hex() != stored.root:
            problems.append(Problem(0, "checkpoint", f"{label}: its columns disagree with its note"))
        names, forged = check_signers(stored.note, verifiers)
        for bad in forged:
            problems.append(Problem(max(checkpoint.size - 1, 0), "checkpoint", f"{label}: {bad}: it was stored "
                                    "by someone without that key"))
        if names:
            signed.append((label, checkpoint, names))
        else:
            unchecked.append((f"{label} (signature not checked)", checkpoint))
    return unchecked, signed


def signed_by(note: str, verifiers: Sequence[Verifier]) -> list[str]:
    """The names of the trusted keys whose valid signatures the note carries ([] if none)."""
    return check_signers(note, verifiers)[0]


def check_signers(note: str, verifiers: Sequence[Verifier]) -> tuple[list[str], list[str]]:
    """Each trusted key checked once against the note: the names of those whose signature verifies, and why
    each one that a line of the note names (by name and key id) does not verify it: a signature claimed
    for a key the caller trusts, and forged."""
    from auditlog.core.note import open_note, unverified_note
    try:
        claimed = {(line.name, line.key_id) for line in unverified_note(note)[1]}
    except AuditLogError:  # a malformed note: no key signed it (verify reports it as such)
        return [], []
    names, bad = [], []
    for verifier in verifiers:
        try:
            open_note(note, [verifier])
        except AuditLogError as exc:
            if (verifier.name, verifier.key_id) in claimed:
                bad.append(str(exc))
            continue
        names.append(verifier.name)
    return names, bad


def _counting(rows, progress):  # noqa: ANN001, ANN202
    for n, row in enumerate(rows, 1):
        if n % 4096 == 0:
            progress(n)
        yield row
