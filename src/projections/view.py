"""A View: one generation of the projections, opened for reading.

`open(log, directory)` catches up first (incrementally), then maps into memory every file
of the generation that state.json names, and only those: files of a generation being
written, or of one a killed writer left behind, are never read. A mapped file stays
readable after a later catch-up, merge or compaction deletes it (POSIX keeps an unlinked
file's data while it is mapped), so a View reads its parts lazily, only those a query
needs, and is never broken by a writer. Queries take a View, so a command that asks
several questions answers them all from one consistent generation.

A View opened on a log confirms every run a query hands out (`confirm`): the log must
still hold, at the run's seq, bytes that hash to the hash the fold recorded for them. So
a run's figures are shown only while the event they were computed from is in the log as
it was folded; an event altered since fails the query loudly instead.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from auditlog.errors import IntegrityError, NotFound, RunNotFound, StorageError
from projections import build
from projections.disk import read_table, verified_bytes
from projections.schema import arrow_schema
from projections.state import State, read_state
from projections.tables import to_records

_RETRIES = 3
_BULK = 2000  # runs confirmed per bulk read of their events (a log with `events_at`)
_STRETCH_GAP = 3  # runs at most this many events apart are confirmed by reading the events between them
# (SQLite, events of ~1.5 kB: a stretch costs ~10 us an event, a single-event read ~40 us)


class View:
    """The runs, items, verdicts and baselines tables of one generation."""

    def __init__(self, directory: str | Path, state: State, log: build.EventLog | None = None) -> None:
        """Map every file of `state` (StorageError when one is gone: a writer replaced the generation)."""
        import pyarrow as pa

        self.directory = Path(directory)
        self.state = state
        self.log = log  # None: opened without a log (open_built), nothing to confirm against
        self._maps: dict[str, Any] = {}
        self._verified: dict[str, Any] = {}
        self._lock = threading.Lock()
        for name in sorted(state.files()):
            try:
                self._maps[name] = pa.memory_map(str(self.directory / name))
            except FileNotFoundError:
                raise _changed(self.directory / name) from None
            except OSError as exc:
                raise StorageError(f"cannot read {self.directory / name}: {exc}") from None

    def data(self, name: str) -> Any:
        """The verified bytes of one file of this generation (hashed once, on first use)."""
        with self._lock:  # threads share a View (the TUI's workers); a mapped file has one position
            if name not in self._verified:
                mapped = self._maps[name]
                mapped.seek(0)
                self._verified[name] = verified_bytes(self.directory / name, mapped.read_buffer())  # no copy
            return self._verified[name]

    def using(self, log: build.EventLog) -> View:
        """The same generation (tables already read are shared), confirming against `log`: for a
        thread with a connection of its own."""
        clone = copy.copy(self)
        clone.log = log
        return clone

    @property
    def size(self) -> int:
        """The number of events the projections folded: the verified tree's size."""
        return self.state.seq + 1

    def confirm(self, runs: Any) -> Any:
        """Raise IntegrityError unless every run of `runs` (a table with seq, event_hash and run_id)
        is still in the log as folded; returns `runs`. See the module's docstring.

        Runs close together in the log (a project's runs, for a trend) are read as one stretch
        of events, the others one event each: every one of their bodies is read and hashed."""
        if self.log is None or runs.num_rows == 0:
            return runs
        wanted = sorted(zip(runs.column("seq").to_pylist(), runs.column("event_hash").to_pylist(),
                            runs.column("run_id").to_pylist()))
        events_at = getattr(self.log, "events_at", None)
        if events_at is not None:  # the log reads many seqs at once (AuditLog): one read per _BULK runs
            for start in range(0, len(wanted), _BULK):
                chunk = wanted[start:start + _BULK]
                _check_found(chunk, {e.seq: e for e in events_at([seq for seq, _, _ in chunk])})
            return runs
        start = 0
        while start < len(wanted):
            end = start + 1
            while end < len(wanted) and wanted[end][0] - wanted[end - 1][0] <= _STRETCH_GAP:
                end += 1
            self._confirm_stretch(wanted[start:end])
            start = end
        return runs

    def _confirm_stretch(self, wanted: list[tuple[int, str, str]]) -> None:
        assert self.log is not None
        if len(wanted) == 1:
            found = {wanted[0][0]: build.event_at(self.log, wanted[0][0])}
        else:
            expected = {seq for seq, _, _ in wanted}
            stream = self.log.events(after=wanted[0][0] - 1, until=wanted[-1][0] + 1)
            try:
                found = {e.seq: e for e in stream if e.seq in expected}
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        _check_found(wanted, found)

    @cached_property
    def runs(self) -> Any:
        """The runs table (pyarrow), in seq order: every part."""
        return self._concat([self._read(p.path, "runs") for p in self.state.runs], "runs")

    @cached_property
    def verdicts(self) -> Any:
        """The verdicts table (pyarrow), in seq order: every part."""
        return self._concat([self._read(p.path, "verdicts") for p in self.state.verdicts], "verdicts")

    @cached_property
    def baselines(self) -> Any:
        """The baselines table (pyarrow): every baseline pin, in seq order."""
        return self._read(self.state.baselines, "baselines")

    @cached_property
    def configs(self) -> Any:
        """The configs table (pyarrow): every project configuration, in seq order."""
        if not self.state.configs:
            from projections.schema import arrow_schema
            return arrow_schema("configs").empty_table()
        return self._read(self.state.configs, "configs")

    def read_runs(self, columns: list[str]) -> Any:
        """Some columns of the runs table (every part), in seq order: less to decode than `runs`."""
        if "runs" in self.__dict__:
            return self.runs.select(columns)
        import pyarrow.parquet as pq

        schema = pa_schema(arrow_schema("runs"), columns)
        tables = []
        for part in self.state.runs:
            with pq.ParquetFile(self.data(part.path)) as pf:
                tables.append(pf.read(columns=columns).cast(schema))
        return self._concat(tables, "runs") if tables else schema.empty_table()

    def runs_newest_first(self, columns: list[str] | None = None) -> Iterator[Any]:
        """The runs table a row group at a time, newest (highest seq) first, each in seq order:
        a query that needs only the latest runs stops reading early."""
        if "runs" in self.__dict__:  # already read whole
            yield self.runs if columns is None else self.runs.select(columns)
            return
        import pyarrow.parquet as pq

        schema = arrow_schema("runs")
        if columns is not None:
            schema = pa_schema(schema, columns)
        for part in reversed(self.state.runs):
            with pq.ParquetFile(self.data(part.path)) as pf:
                for group in reversed(range(pf.num_row_groups)):
                    yield pf.read_row_group(group, columns=columns).cast(schema)

    def manifest(self) -> bytes:
        """The manifest document: its first line, then every run's record, from the manifest parts."""
        from projections import manifest

        head = manifest.header(self.state.log_id, self.state.seq, self.state.hash)
        lines = []
        for part in self.state.runs:
            assert part.manifest is not None
            lines += manifest.part_lines(bytes(memoryview(self.data(part.manifest))))
        return b"".join(manifest.render(head, lines))

    def _concat(self, tables: list[Any], name: str) -> Any:
        import pyarrow as pa

        if not tables:
            return arrow_schema(name).empty_table()
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def items(self, seqs: Any = None, columns: list[str] | None = None) -> Any:
        """Item rows (pyarrow Table), in seq order; only those of the runs recorded at `seqs` when given.

        Part files whose seq range holds none of `seqs` are not opened, and within a file,
        row groups are skipped by their seq statistics.
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        schema = arrow_schema("items")
        if columns is not None:
            schema = pa_schema(schema, columns)
        wanted = None if seqs is None else sorted(set(seqs))
        read = columns if columns is None or wanted is None or "seq" in columns else [*columns, "seq"]
        tables = []
        for part in self.state.items:
            if wanted is not None and not _overlaps(wanted, part.first_seq, part.last_seq):
                continue
            with pq.ParquetFile(self.data(part.path)) as pf:
                groups = list(range(pf.num_row_groups))
                if wanted is not None:
                    groups = [g for g in groups if _group_overlaps(pf, g, wanted)]
                if not groups:
                    continue
                table = pf.read_row_groups(groups, columns=read)
            if wanted is not None:
                table = table.filter(pc.is_in(table.column("seq"), value_set=pa.array(wanted, pa.int64())))
            tables.append(table.select(columns) if columns is not None else table)
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def run_row(self, run_id: str) -> dict[str, Any]:
        """One run's row as a record; NotFound if the projections have no such run."""
        import pyarrow.compute as pc

        found = self.runs.filter(pc.equal(self.runs.column("run_id"), run_id))
        if found.num_rows == 0:
            raise RunNotFound(run_id).suggesting(self.runs.column("run_id").to_pylist())
        return to_records(self.confirm(found))[0]

    def _read(self, name: str, table: str) -> Any:
        return read_table(self.directory / name, table, self.data(name))


def open(log: build.EventLog, directory: str | Path,  # noqa: A001 - projections.open(log, dir)
         progress: build.Progress | None = None) -> View:
    """Catch the projections in `directory` up with `log`, and open the result for reading;
    `progress(done, total)` is called while a catch-up folds events."""
    directory = Path(directory)
    for attempt in range(_RETRIES):
        try:
            return View(directory, build.catch_up(log, directory, progress), log)  # mapped: readable from now on
        except StorageError:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def open_built(directory: str | Path) -> View:
    """Open what is in `directory` as it is, without a log (offline reading; may be stale)."""
    directory = Path(directory)
    state = read_state(directory)
    if state is None:
        raise NotFound(f"no projections in {directory}")
    return View(directory, state)


def pa_schema(schema: Any, columns: list[str]) -> Any:
    import pyarrow as pa

    return pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)


def _check_found(wanted: list[tuple[int, str, str]], found: dict[int, Any]) -> None:
    """Every wanted (seq, hash, run_id) is among `found` (events by seq), with bytes of that hash."""
    for seq, expected_hash, run_id in wanted:
        event = found.get(seq)
        if event is None or event.seq != seq or hashlib.sha256(event.body).hexdigest() != expected_hash:
            raise IntegrityError(seq, f"run {run_id!r}: the log no longer holds the event its figures were "
                                      f"folded from (bytes that hash to {expected_hash}): the log was changed "
                                      "after the projections were built; check it with `auditlog verify`")


def _overlaps(wanted: list[int], low: int, high: int) -> bool:
    import bisect
    i = bisect.bisect_left(wanted, low)
    return i < len(wanted) and wanted[i] <= high


def _group_overlaps(pf: Any, group: int, wanted: list[int]) -> bool:
    column = pf.schema_arrow.get_field_index("seq")
    stats = pf.metadata.row_group(group).column(column).statistics
    if stats is None or not stats.has_min_max:
        return True
    return _overlaps(wanted, stats.min, stats.max)


def _changed(path: Path) -> StorageError:
    return StorageError(f"{path} disappeared while reading: the projections were compacted or rebuilt "
                        "meanwhile; run the command again")
