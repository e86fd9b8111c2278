"""Build the projections from the log: a full rebuild, an incremental catch-up, a compaction.

A rebuild folds every event, in seq order, into new files. A catch-up folds only the
events after the saved position: it writes their items as one new part file, and
rewrites runs.parquet and verdicts.parquet (small, and their rows change: status,
tags, latest verdict, overrides) by patching the previous tables, not by re-reading the
log; baselines.parquet gets the new pins appended.
Both end the same way: a new generation whose state.json is written last (see state.py).

Before a catch-up, the event at the saved position must still have the saved hash, its
bytes must hash to it, the log must have the saved log id, and the log's Merkle root at
that size must be the root the fold computed from the bodies it hashed. The hash commits,
through the chain, to every event before it, and the root to every event's bytes and to
the stored subtree hashes proofs are made from: if either differs, the log was changed
under the projections, and the catch-up refuses with an IntegrityError instead of folding
new events onto a history that is no longer the log's. Rebuilding is then an explicit act
(`auditlog projections rebuild`). The events folded are hashed and linked one by one
(fold.py), so every generation reflects a chain checked from its genesis.

Long work reports progress through a plain callback, `progress(done, total)` in events
folded (the CLI draws it on a terminal; nothing here knows how).

Everything written is a function of the log alone (events in seq order, no clock, no
paths, fixed writer options), so two rebuilds of one log are byte-identical.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.core.merkle import TreeBuilder
from auditlog.errors import IntegrityError, InvalidInput, StorageError
from projections import manifest
from projections.disk import locked, read_table, remove_files, sweep, verified_bytes, write_bytes, write_table
from projections.fold import fold_events
from projections.generation import RunsBuilder, verdicts_table
from projections.parts import PartWriter
from projections.schema import SCHEMA_VERSION
from projections.state import MANIFEST, ZERO_HASH, Part, State, read_state, write_state
from projections.tables import table_from_rows

Progress = Callable[[int, int], None]
"""`progress(done, total)`: events folded so far, of how many this catch-up or rebuild folds."""
PROGRESS_EVERY = 2048  # events between two progress calls


class LogHead(Protocol):
    """Where a log ends (auditlog.store.Head has it)."""

    @property
    def size(self) -> int: ...  # the number of events

    @property
    def hash(self) -> str: ...  # the last event's hash (hex)


class EventLog(Protocol):
    """What projections need of a log: AuditLog has it, and so can any store's reader."""

    def events(self, after: int = -1, until: int | None = None) -> Iterable[SealedEvent]: ...

    def head(self) -> LogHead: ...

    def root(self, size: int | None = None) -> bytes: ...  # RFC 9162 root of the first `size` events


def catch_up(log: EventLog, directory: str | Path, progress: Progress | None = None) -> State:
    """Bring the projections in `directory` up to the log's head; build them if absent.

    Reads only the events after the saved position. Raises IntegrityError when the log
    no longer holds the events the projections were built from.
    """
    directory = Path(directory)
    state = read_state(directory)
    if state is not None and state.schema_version == SCHEMA_VERSION and _current(state, log.head()):
        check_position(log, state)  # the common case: O(log n) reads, no lock, no write
        return state
    with locked(directory):
        state = read_state(directory)  # another writer may have caught up meanwhile
        if state is not None and state.schema_version > SCHEMA_VERSION:
            raise InvalidInput(str(directory), f"was built by a newer auditlog (schema version "
                               f"{state.schema_version}): upgrade, or `auditlog projections rebuild`")
        if state is None or state.schema_version < SCHEMA_VERSION:
            return _advance(log, directory, None, cleanup=state.files() if state else set(), progress=progress)
        check_position(log, state)
        if _current(state, log.head()):
            return state
        return _advance(log, directory, state, cleanup=set(), progress=progress)


def rebuild(log: EventLog, directory: str | Path, progress: Progress | None = None) -> State:
    """Rebuild the projections from the whole log, whatever is in `directory` (explicit, never automatic)."""
    directory = Path(directory)
    with locked(directory):
        try:
            previous = read_state(directory)
        except (InvalidInput, StorageError):
            previous = None  # a damaged state is what a rebuild is for
        state = _advance(log, directory, None, cleanup=previous.files() if previous else set(), progress=progress)
        sweep(directory, keep=state.files())
        return state


def compact(directory: str | Path) -> State:
    """Merge the item part files into one; nothing else changes. Returns the new state."""
    directory = Path(directory)
    with locked(directory):
        state = read_state(directory)
        if state is None:
            raise InvalidInput(str(directory), "no projections here yet: build them first "
                               "(`auditlog projections rebuild`, or any query)")
        if len(state.items) > 1:
            import pyarrow.parquet as pq

            writer = PartWriter(directory)
            try:
                for part in state.items:
                    with pq.ParquetFile(verified_bytes(directory / part.path)) as pf:
                        for i in range(pf.num_row_groups):
                            writer.add_table(pf.read_row_group(i))
                merged = writer.finish(state.items[0].first_seq, state.items[-1].last_seq)
            except FileNotFoundError as exc:
                writer.abandon()
                raise StorageError(f"{exc.filename} is missing: rebuild with `auditlog projections rebuild`") from None
            except BaseException:
                writer.abandon()
                raise
            old = state
            state = State(**{**vars(old), "items": (merged,)})
            write_state(directory, state)
            remove_files(directory, old.files() - state.files())
        sweep(directory, keep=state.files())
        return state


def check_position(log: EventLog, state: State) -> None:
    """Raise IntegrityError unless the log still holds, at the saved position, the event the
    projections were built from (same hash, and bytes that hash to it) in the same log."""
    if state.seq < 0:
        return
    genesis = event_at(log, 0)
    log_id = _log_id(genesis)
    if log_id != state.log_id:
        raise IntegrityError(0, f"the projections were built from another log (log id {state.log_id or '?'}, "
                                f"this log's is {log_id or '?'}): rebuild them with `auditlog projections rebuild`")
    size = log.head().size
    if size <= state.seq:
        raise IntegrityError(state.seq, f"the projections were built up to seq {state.seq}, but the log has only "
                                        f"{size} events: it was truncated or replaced; check it with `auditlog "
                                        "verify`, then rebuild them with `auditlog projections rebuild`")
    event = event_at(log, state.seq)
    actual = hashlib.sha256(event.body).hexdigest() if event is not None else None
    if event is None or event.hash != state.hash or actual != state.hash:
        found = event.hash if event is not None else "nothing"
        raise IntegrityError(state.seq, f"the log was rewritten under the projections: the event at seq "
                                        f"{state.seq} is not the one they were built from (saved hash "
                                        f"{state.hash}, the log has {found}); check the log with `auditlog "
                                        "verify`, then rebuild them with `auditlog projections rebuild`")
    root = log.root(state.seq + 1).hex()
    if root != state.root:
        raise IntegrityError(state.seq, f"the log was changed under the projections: its Merkle root at size "
                                        f"{state.seq + 1} is {root}, but the events the projections folded hash "
                                        f"to {state.root} (event bytes or stored subtree hashes were altered); "
                                        "check the log with `auditlog verify`")


def event_at(log: EventLog, seq: int) -> SealedEvent | None:
    """One event, reading one row."""
    stream = log.events(after=seq - 1, until=seq + 1)
    try:
        for sealed in stream:
            return sealed if sealed.seq == seq else None
        return None
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _current(state: State, head: LogHead) -> bool:
    return state.seq == head.size - 1 and state.hash == (head.hash if head.size else ZERO_HASH)


def _log_id(genesis: SealedEvent | None) -> str:
    if genesis is None:
        return ""
    import json
    data = json.loads(genesis.body).get("data", {})
    return data.get("log_id", "") if isinstance(data, dict) else ""


def _advance(log: EventLog, directory: Path, previous: State | None, *, cleanup: set[str],
             progress: Progress | None = None) -> State:
    """Fold the events after `previous` (all of them when None) into a new generation.

    The cyclic garbage collector is paused meanwhile: a rebuild allocates millions of
    acyclic objects (decoded events, rows) that it would otherwise rescan again and again.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _fold_and_write(log, directory, previous, cleanup, progress)
    finally:
        if paused:
            gc.enable()


def _fold_and_write(log: EventLog, directory: Path, previous: State | None, cleanup: set[str],
                    progress: Progress | None) -> State:
    import pyarrow as pa

    after = previous.seq if previous else -1
    events: Iterable[SealedEvent] = log.events(after=after)
    if progress is not None:
        events = _reporting(events, progress, total=max(log.head().size - (after + 1), 0))
    old_runs = read_table(directory / previous.runs, "runs") if previous else None
    runs = RunsBuilder(old_runs, *_old_manifest(directory, previous))
    items = PartWriter(directory)
    try:
        tree = TreeBuilder.from_peaks(after + 1, [bytes.fromhex(p) for p in previous.peaks]) if previous else TreeBuilder()
        batch = fold_events(events, after=after, prev_hash=previous.hash if previous else ZERO_HASH,
                            tree=tree, is_recorded=_KnownRuns(old_runs), runs=runs, items=items)
        part = items.finish(after + 1, batch.last_seq)
    except BaseException:
        items.abandon()
        raise
    log_id = previous.log_id if previous else (batch.log_id or "")

    table = runs.finish(batch.changes)
    runs_name = previous.runs if previous and not runs.modified else write_table(directory, "runs", table)
    head = manifest.header(log_id, batch.last_seq, batch.last_hash)
    write_bytes(directory / MANIFEST, runs.manifest(head), durable=False)

    verdicts = None  # None: unchanged
    if previous is None:
        verdicts = verdicts_table(None, batch.verdicts, batch.changes, always=True)
    elif batch.verdicts or any(c.type == ev.VERDICT_OVERRIDDEN for c in batch.changes):
        old_verdicts = read_table(directory / previous.verdicts, "verdicts")
        verdicts = verdicts_table(old_verdicts, batch.verdicts, batch.changes)
    if verdicts is None:
        assert previous is not None  # the first generation always writes its verdicts table
        verdicts_name, n_verdicts = previous.verdicts, previous.counts.get("verdicts", 0)
    else:
        verdicts_name, n_verdicts = write_table(directory, "verdicts", verdicts), verdicts.num_rows

    if previous and not batch.baselines:  # append-only
        baselines_name, n_baselines = previous.baselines, previous.counts.get("baselines", 0)
    else:
        baselines = table_from_rows(batch.baselines, "baselines")
        if previous:
            baselines = pa.concat_tables([read_table(directory / previous.baselines, "baselines"), baselines])
        baselines_name, n_baselines = write_table(directory, "baselines", baselines), baselines.num_rows

    parts: tuple[Part, ...] = (previous.items if previous else ()) + ((part,) if part else ())
    state = State(log_id=log_id, seq=batch.last_seq, hash=batch.last_hash, root=tree.root().hex(),
                  peaks=tuple(p.hex() for p in tree.peak_hashes()), runs=runs_name, verdicts=verdicts_name,
                  baselines=baselines_name, items=parts,
                  counts={"runs": table.num_rows, "items": sum(p.rows for p in parts), "verdicts": n_verdicts,
                          "baselines": n_baselines})
    write_state(directory, state)
    remove_files(directory, ((previous.files() if previous else set()) | cleanup) - state.files())
    return state


def _reporting(events: Iterable[SealedEvent], progress: Progress, total: int) -> Iterator[SealedEvent]:
    """`events`, calling `progress(done, total)` before the first and every PROGRESS_EVERY after it."""
    progress(0, total)
    done = 0
    for sealed in events:
        yield sealed
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(done, max(total, done))
    progress(done, max(total, done))


def _old_manifest(directory: Path, previous: State | None) -> tuple[bytes | None, bytes]:
    """The previous generation's manifest bytes (None if unreadable) and the first line it must have."""
    if previous is None:
        return None, b""
    try:
        data = (directory / MANIFEST).read_bytes()
    except OSError:
        data = None
    return data, manifest.header(previous.log_id, previous.seq, previous.hash)


class _KnownRuns:
    """`run_id in previous runs`, with the set built only if a run.recorded event asks."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._ids: set[str] | None = None

    def __call__(self, run_id: str) -> bool:
        if self._table is None:
            return False
        if self._ids is None:
            self._ids = set(self._table.column("run_id").to_pylist())
        return run_id in self._ids
