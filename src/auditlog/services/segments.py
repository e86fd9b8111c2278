"""Verify a long log on every core: segments at 2^k boundaries, scanned in parallel, then joined.

The log's first `size` events (the size is pinned before any worker starts, so every worker
checks the same head whatever a writer appends meanwhile) are cut at multiples of 2^k: each
segment but the last is a complete Merkle subtree of level k. A worker process opens the log
on a connection of its own and runs the same `ChainScan` as a sequential verify over its
segment, resumed after the event before it (read and hashed, so the link into the segment is
checked from bytes) and reading one event past its end (so that a hash mismatch on its last
event is told apart as altered bytes or an altered hash, exactly as the sequential scan does).
Inside its segment it checks every hash, link, body, indexed column and stored subtree of level
<= k, and returns its subtree's peaks, and the peaks at each checkpoint size it covers.

The parent joins: the segments' roots, folded as leaves of level k, give every subtree above
k (compared with the stored ones) and the root; a checkpoint inside a segment is the right fold
of the peaks before the segment and the segment's own peaks at that size.

A clean log is what this path proves fast. Any problem in any segment (or at the join) gives
up on the join and the caller verifies again in one process, so that a damaged log gets
exactly the sequential report: the same first problem, the same count.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditlog.core.chain import ChainScan
from auditlog.core.merkle import TreeBuilder, right_fold
from auditlog.services.batch import clean_rows
from auditlog.store.protocol import StoredNode

SEGMENTS_PER_WORKER = 4  # more segments than workers, so that one slow worker does not hold up the join
PROGRESS_EVERY = 4096


@dataclass(frozen=True)
class Segment:
    """Events [begin, end): begin is a multiple of 2^level, and end - begin <= 2^level."""

    begin: int
    end: int
    level: int


@dataclass
class SegmentResult:
    """What one worker found in its segment: clean or not, and what the join needs."""

    segment: Segment
    clean: bool
    leaves: int = 0  # events read inside the segment
    head: str = ""  # the hash of the segment's last event, computed from its bytes
    peaks: list[bytes] = field(default_factory=list)  # the segment's own peaks at its end
    peaks_at: dict[int, list[bytes]] = field(default_factory=dict)  # ... at each checkpoint size inside it


@dataclass(frozen=True)
class Joined:
    """A clean log verified in segments: what the report needs."""

    size: int
    head: str
    root: bytes


def workers() -> int:
    """How many processes to verify with: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def plan(size: int, count: int) -> list[Segment]:
    """Cut [0, size) at multiples of the smallest 2^k giving at most `count` segments."""
    level = 0
    while -(-size // (1 << level)) > count:
        level += 1
    step = 1 << level
    return [Segment(begin, min(begin + step, size), level) for begin in range(0, size, step)]


def verify_segments(location: str, size: int, genesis_hash: str | None,
                    anchors: Mapping[int, Sequence[tuple[str, bytes]]], nodes: Iterator[StoredNode],
                    stored_level: int, progress: Callable[[int], None] | None = None,
                    processes: int | None = None) -> Joined | None:
    """Verify events [0, size) of the log at `location` in worker processes; None when anything is
    wrong (the caller then verifies in one process, for the exact report). `nodes` are the stored
    subtrees covering events below `size`, in completion order; `anchors` the checkpoints' roots."""
    processes = processes or workers()
    segments = plan(size, processes * SEGMENTS_PER_WORKER)
    wanted = sorted(anchors)
    jobs = [(location, segment, size, genesis_hash, [s for s in wanted if segment.begin < s <= segment.end],
             stored_level) for segment in segments]
    results = _run(jobs, min(processes, len(jobs)), progress, size)
    if results is None or not all(r.clean and r.leaves == r.segment.end - r.segment.begin for r in results):
        return None
    return _join(results, anchors, nodes, size)


def _run(jobs: list[Any], count: int, progress: Callable[[int], None] | None, size: int) -> list[SegmentResult] | None:
    """Hand the jobs to `count` fresh interpreters, one at a time each as they finish; results in job order.

    Plain processes over pipes, not multiprocessing: its spawn re-runs the caller's main module,
    which a script read from stdin or without a main guard cannot survive; fork is unsafe from the
    TUI's threads. A worker that dies is a failure (None), never a hang."""
    code = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); from auditlog.services.segments import serve; serve()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
             for _ in range(count)]
    results: dict[int, SegmentResult] = {}
    done_by: dict[int, int] = {}  # events checked so far in the segments being scanned
    holding: dict[subprocess.Popen[bytes], int] = {}  # the job each worker is on
    queue = list(enumerate(jobs))
    buffers = {proc: bytearray() for proc in procs}
    try:
        with selectors.DefaultSelector() as selector:
            for proc in procs:
                assert proc.stdin is not None and proc.stdout is not None
                _write(proc, pickle.dumps(sys.path))
                selector.register(proc.stdout, selectors.EVENT_READ, proc)
                _give(proc, queue, holding)
            while len(results) < len(jobs):
                for key, _ in selector.select(timeout=1.0):
                    proc = key.data
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        if proc in holding:
                            return None  # the worker died on a job
                        selector.unregister(key.fileobj)
                        continue
                    buffers[proc] += chunk
                    for kind, number, value in _messages(buffers[proc]):
                        if kind == "progress":
                            done_by[number] = value
                        else:
                            results[number] = value
                            done_by.pop(number, None)
                            del holding[proc]
                            _give(proc, queue, holding)
                if progress is not None:
                    finished = sum(r.segment.end - r.segment.begin for r in results.values())
                    progress(min(finished + sum(done_by.values()), size))  # may raise: a cancelled TUI
                if any(proc.poll() is not None for proc in holding):
                    return None  # the worker died on a job without a word
        return [results[number] for number in range(len(jobs))]
    except BrokenPipeError:
        return None  # a worker that could not start (the verify in one process says why, if it can)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _give(proc: subprocess.Popen[bytes], queue: list[Any], holding: dict[subprocess.Popen[bytes], int]) -> None:
    """The next job to this worker, or none (its stdin closed: it exits)."""
    assert proc.stdin is not None
    if queue:
        number, job = queue.pop(0)
        holding[proc] = number
        _write(proc, pickle.dumps((number, job)))
    else:
        proc.stdin.close()


def _write(proc: subprocess.Popen[bytes], data: bytes) -> None:
    """All of `data` to the worker's stdin (unbuffered: a raw write may take only part of it)."""
    assert proc.stdin is not None
    view = memoryview(data)
    while view:
        view = view[proc.stdin.write(view) or 0:]


def _messages(buffer: bytearray) -> Iterator[tuple[str, int, Any]]:
    """The whole messages at the start of `buffer` (each a 4-byte length, then a pickle), removed from it."""
    while len(buffer) >= 4:
        length = int.from_bytes(buffer[:4], "big")
        if len(buffer) < 4 + length:
            return
        message = pickle.loads(bytes(buffer[4:4 + length]))
        del buffer[:4 + length]
        yield message


def serve() -> None:
    """A worker's loop: read (number, job), scan its segment, write ("progress", number, events) as it
    goes and ("done", number, SegmentResult) at the end, until stdin closes."""
    global _report
    gc.disable()  # this process only scans: see auditlog.collector
    out = sys.stdout.buffer

    def send(message: tuple[str, int, Any]) -> None:
        data = pickle.dumps(message)
        out.write(len(data).to_bytes(4, "big") + data)
        out.flush()

    while True:
        try:
            number, job = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        _report = lambda n, number=number: send(("progress", number, n))  # noqa: E731
        try:
            result = _verify_segment(job)
        except Exception:  # noqa: BLE001 - the verify in one process that follows meets it and says what it is
            result = SegmentResult(job[1], clean=False)
        send(("done", number, result))


def _join(results: list[SegmentResult], anchors: Mapping[int, Sequence[tuple[str, bytes]]],
          nodes: Iterator[StoredNode], size: int) -> Joined | None:
    """Fold the segments' roots into the tree above level k; check stored subtrees and checkpoints there."""
    level = results[0].segment.level
    above = TreeBuilder()  # its leaves are the level-k subtrees: its level j is the log's level j + k
    expected: list[tuple[int, int, bytes]] = []
    roots: dict[int, bytes] = {}
    for result in results:
        for anchor in result.peaks_at:
            roots[anchor] = right_fold([*above.peak_hashes(), *result.peaks_at[anchor]])
        if result.segment.end - result.segment.begin == 1 << level:
            expected += [(j + level, index, h) for j, index, h in above.extend(result.peaks, 1)]
    tail = results[-1]
    partial = tail.segment.end - tail.segment.begin != 1 << level
    root = right_fold([*above.peak_hashes(), *(tail.peaks if partial else [])])
    for anchor, claims in anchors.items():
        if anchor > size or any(claimed != roots.get(anchor) for _label, claimed in claims):
            return None
    stored = [(node.level, node.idx, node.hash) for node in nodes if node.level > level or node.end <= 0]
    if stored != expected:  # both in completion order: a missing, extra or altered subtree
        return None
    return Joined(size, tail.head, root)


_report: Callable[[int], None] | None = None  # in a worker: how many events of its segment it has checked


def _verify_segment(job: tuple[str, Segment, int, str | None, list[int], int]) -> SegmentResult:
    """In a worker: scan one segment with the sequential scan, resumed after the event before it."""
    from auditlog.store import open_store
    location, segment, size, genesis_hash, wanted, stored_level = job
    store = open_store(location, create=False)
    try:
        tree = _SegmentTree(segment.begin, segment.end, set(wanted))
        nodes = _stored_within(store, segment, stored_level)
        if nodes is None:
            return SegmentResult(segment, clean=False)
        scan = ChainScan(genesis_hash, anchors={s: () for s in wanted}, nodes=nodes, stored_level=stored_level,
                         batch=clean_rows)
        scan.tree = tree
        last = segment.end == size  # the others read one event past their end, for the kind of a mismatch
        rows = store.rows(after=segment.begin - 2 if segment.begin else -1, until=segment.end + (0 if last else 1))
        if segment.begin:
            before = next(rows, None)
            if before is None or before.seq != segment.begin - 1:
                return SegmentResult(segment, clean=False)  # the event before is missing: the sequential scan names it
            _resume(scan, before.seq, hashlib.sha256(before.body).hexdigest(), before.hash)
        for problem in scan.scan(_counted(rows)):
            if problem.seq < segment.end or last:  # past the end: the next segment's, which reports it
                return SegmentResult(segment, clean=False)
        return SegmentResult(segment, True, tree.size - segment.begin, scan.head if last else "",
                             tree.peak_hashes(), tree.peaks_at)
    finally:
        store.close()


def _stored_within(store: Any, segment: Segment, stored_level: int) -> list[tuple[int, int, bytes]] | None:
    """The stored subtrees of levels stored_level..k inside the segment, in completion order (the
    scan names a missing or altered one); None when the database holds others ending inside it
    (junk: the sequential scan names it). Read by key, not by streaming every stored subtree."""
    keys = sorted(((level, index) for level in range(stored_level, segment.level + 1)
                   for index in range(segment.begin >> level, segment.end >> level)),
                  key=lambda key: ((key[1] + 1) << key[0], key[0]))
    found = store.subtrees(keys)
    above = sum(1 for level in range(segment.level + 1, 64) if segment.end % (1 << level) == 0)
    if store.tally(segment.begin, segment.end).nodes != len(found) + above:
        return None
    return [(level, index, found[level, index]) for level, index in keys if (level, index) in found]


def _resume(scan: ChainScan, seq: int, computed: str, stored: str) -> None:
    """Continue the scan as if it had just read event `seq` (its hash `computed` from its bytes)."""
    scan._last_seq, scan.head, scan._stored_prev, scan.size = seq, computed, stored, seq + 1  # noqa: SLF001


def _counted(rows: Iterator[Any]) -> Iterator[Any]:
    """The rows, reported to the parent every PROGRESS_EVERY of them."""
    for n, row in enumerate(rows, 1):
        yield row
        if n % PROGRESS_EVERY == 0 and _report is not None:
            _report(n)


class _SegmentTree(TreeBuilder):
    """The tree of one segment, addressed as the log's: subtree indexes and sizes offset by its first
    event. Leaves past its end (the event read past it, for the mismatch's kind) are not its own."""

    def __init__(self, begin: int, end: int, wanted: set[int]) -> None:
        super().__init__()
        self._offset, self._end, self._wanted = begin, end, wanted
        self.peaks_at: dict[int, list[bytes]] = {}

    @property
    def size(self) -> int:
        return self._offset + self._size

    def extend(self, leaves: Iterable[bytes], min_level: int = 0) -> list[tuple[int, int, bytes]]:
        out = super().extend(list(leaves)[:self._end - self.size], min_level)
        if self.size in self._wanted:
            self.peaks_at[self.size] = self.peak_hashes()
        return [(level, index + (self._offset >> level), h) for level, index, h in out]
