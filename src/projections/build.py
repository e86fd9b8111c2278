"""Build the projections from the log: a full rebuild, an incremental catch-up, a compaction.

A rebuild folds every event, in seq order, into new files: one part per table. A catch-up
folds only the events after the saved position: the runs, items and verdicts they record
become one new part of each table, the few older rows they change (status, tags, latest
verdict, overrides) are patched in the parts that hold them, and the newest parts merge by
size (layers.py), so that its cost does not grow with the history; the baselines table
(small) gets the new pins appended. `compact` merges every table into one part.
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

Everything written is a function of the log alone (events in seq order, no clock, no
paths, fixed writer options), so two rebuilds of one log are byte-identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from auditlog import collector
from auditlog.core.events import RUN_RECORDED, SealedEvent
from auditlog.core.merkle import TreeBuilder
from auditlog.errors import IntegrityError, InvalidInput, StorageError
from projections.disk import locked, read_table, remove_files, sweep, write_table
from projections.fold import Batch, fold_events
from projections.generation import KnownRuns, NewRuns, runs_pieces, verdicts_pieces
from projections.layers import compacted, compacted_items, settle_items, settle_tail, write_pieces
from projections.parts import PartWriter
from projections.schema import SCHEMA_VERSION
from projections.state import ZERO_HASH, Part, State, read_state, write_state
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
            built = _advance(log, directory, None, cleanup=state.files() if state else set(), progress=progress)
            sweep(directory, keep=built.files())  # an older layout's files
            return built
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
    """Merge every table's parts into one (what a rebuild writes); nothing else changes. Returns the new state."""
    directory = Path(directory)
    with locked(directory):
        state = read_state(directory)
        if state is None:
            raise InvalidInput(str(directory), "no projections here yet: build them first "
                               "(`auditlog projections rebuild`, or any query)")
        old, last = state, state.seq
        runs = compacted(directory, old.runs, "runs", with_lines=True, last_seq=last)
        verdicts = compacted(directory, old.verdicts, "verdicts", with_lines=False, last_seq=last)
        state = replace(old, runs=write_pieces(directory, "runs", runs),
                        verdicts=write_pieces(directory, "verdicts", verdicts),
                        items=compacted_items(directory, old.items, last))
        if state != old:
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
    """Fold the events after `previous` (all of them when None) into a new generation, the cyclic
    garbage collector paused (auditlog.collector: a rebuild allocates millions of acyclic objects)."""
    with collector.paused():
        return _fold_and_write(log, directory, previous, cleanup, progress)


def _fold_and_write(log: EventLog, directory: Path, previous: State | None, cleanup: set[str],
                    progress: Progress | None) -> State:
    import pyarrow as pa

    after = previous.seq if previous else -1
    known = KnownRuns(directory, previous.runs if previous else ())
    configs = read_configs(directory, previous)
    batch, tree, part, added = _fold(log, directory, previous, skip=set(), progress=progress, configs=dict(configs))
    recorded = _recorded_before(log, known, added[0].column("run_id").to_pylist(), after) if previous else {}
    if recorded:  # run ids recorded before (a writer refuses them; a store could still hold them): the first counts
        if part is not None:
            (directory / part.path).unlink(missing_ok=True)
        batch, tree, part, added = _fold(log, directory, previous, skip=set(recorded), configs=dict(configs))
    log_id = previous.log_id if previous else (batch.log_id or "")
    first, last = after + 1, batch.last_seq

    runs = runs_pieces(directory, previous.runs if previous else (), known, added, batch.changes, first, last)
    runs = settle_tail(directory, runs, "runs", with_lines=True)
    verdicts = verdicts_pieces(directory, previous.verdicts if previous else (), batch.verdicts, batch.changes,
                               first, last)
    verdicts = settle_tail(directory, verdicts, "verdicts", with_lines=False)
    item_parts = settle_items(directory, [*(previous.items if previous else ()), *((part,) if part else ())])

    if previous and not batch.baselines:  # append-only, and small
        baselines_name, n_baselines = previous.baselines, previous.counts.get("baselines", 0)
    else:
        baselines = table_from_rows(batch.baselines, "baselines")
        if previous:
            baselines = pa.concat_tables([read_table(directory / previous.baselines, "baselines"), baselines])
        baselines_name, n_baselines = write_table(directory, "baselines", baselines), baselines.num_rows

    configs_name, n_configs = (previous.configs, previous.counts.get("configs", 0)) if previous else ("", 0)
    if batch.configs:  # append-only, and small, as the baselines
        table = table_from_rows(batch.configs, "configs")
        if configs_name:
            table = pa.concat_tables([read_table(directory / configs_name, "configs"), table])
        configs_name, n_configs = write_table(directory, "configs", table), table.num_rows

    run_parts, verdict_parts = write_pieces(directory, "runs", runs), write_pieces(directory, "verdicts", verdicts)
    state = State(log_id=log_id, seq=batch.last_seq, hash=batch.last_hash, root=tree.root().hex(),
                  peaks=tuple(p.hex() for p in tree.peak_hashes()), runs=run_parts, verdicts=verdict_parts,
                  baselines=baselines_name, items=item_parts,
                  counts={"runs": sum(p.rows for p in run_parts), "items": sum(p.rows for p in item_parts),
                          "verdicts": sum(p.rows for p in verdict_parts), "baselines": n_baselines,
                          **({"configs": n_configs} if configs_name else {})}, configs=configs_name)
    write_state(directory, state)
    written = {part.path} if part else set()  # merged already, when its rows went into a bigger part
    remove_files(directory, ((previous.files() if previous else set()) | cleanup | written) - state.files())
    return state


def _recorded_before(log: EventLog, known: KnownRuns, run_ids: list[str], after: int) -> dict[str, tuple[int, int]]:
    """Where the previous parts hold any of `run_ids` (recorded again after `after`).

    Reading every part's run ids is the one cost of a catch-up that grows with the history; so for
    a few new runs, a log that finds events by subject (AuditLog, through the store's index) names
    those recorded before, and only they are looked for in the parts. Many new runs, or another
    log: the parts are read, a cost in proportion to the catch-up."""
    if not run_ids:
        return {}
    about_many = getattr(log, "about_many", None)
    if about_many is not None and len(run_ids) <= _ASK_THE_INDEX:
        run_ids = [e.event.subject for e in about_many(run_ids, RUN_RECORDED) if e.seq <= after]
    return known.find(set(run_ids)) if run_ids else {}


_ASK_THE_INDEX = 1000  # new runs up to which the log's index is asked first


def read_configs(directory: Path, previous: State | None) -> dict[str, tuple[int, Any]]:
    """The configuration in force per project at `previous` (from its configs table), for the fold."""
    from projections.fold import in_force
    from projections.tables import to_records
    if previous is None or not previous.configs:
        return {}
    return in_force(to_records(read_table(directory / previous.configs, "configs")))


def _fold(log: EventLog, directory: Path, previous: State | None, skip: set[str],
          progress: Progress | None = None,
          configs: dict[str, tuple[int, Any]] | None = None) -> tuple[Batch, TreeBuilder, Part | None, tuple[Any, list[bytes]]]:
    """Fold the events after `previous`: the batch, the grown tree, the new items part, the new runs
    (a table and its manifest lines), leaving out runs whose ids are in `skip`."""
    after = previous.seq if previous else -1
    items = PartWriter(directory)
    new_runs = NewRuns(items)
    try:
        tree = TreeBuilder.from_peaks(after + 1, [bytes.fromhex(p) for p in previous.peaks]) if previous else TreeBuilder()
        events: Iterable[SealedEvent] = log.events(after=after)
        if progress is not None:
            events = _reporting(events, progress, total=max(log.head().size - (after + 1), 0))
        batch = fold_events(events, after=after, prev_hash=previous.hash if previous else ZERO_HASH,
                            tree=tree, is_recorded=skip.__contains__, runs=new_runs, configs=configs)
        added = new_runs.finish()  # its last items go to the part writer
        part = items.finish(after + 1, batch.last_seq)
    except BaseException:
        items.abandon()
        raise
    return batch, tree, part, added


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
