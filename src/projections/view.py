"""A View: one generation of the projections, opened for reading.

`open(log, directory)` catches up first (incrementally), then reads the generation
that state.json names, and only that: files of a generation being written, or of one
a killed writer left behind, are never read. Queries take a View, so a command that
asks several questions answers them all from one consistent generation.

A View opened on a log confirms every run a query hands out (`confirm`): the log must
still hold, at the run's seq, bytes that hash to the hash the fold recorded for them. So
a run's figures are shown only while the event they were computed from is in the log as
it was folded; an event altered since fails the query loudly instead.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from auditlog.errors import IntegrityError, NotFound, StorageError
from projections import build
from projections.disk import read_table, verified_bytes
from projections.schema import arrow_schema
from projections.state import State, read_state
from projections.tables import to_records

_RETRIES = 3


class View:
    """The runs, items, verdicts and baselines tables of one generation."""

    def __init__(self, directory: str | Path, state: State, log: build.EventLog | None = None) -> None:
        self.directory = Path(directory)
        self.state = state
        self.log = log  # None: opened without a log (open_built), nothing to confirm against

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
        is still in the log as folded; returns `runs`. See the module's docstring."""
        if self.log is None or runs.num_rows == 0:
            return runs
        for seq, expected, run_id in zip(runs.column("seq").to_pylist(), runs.column("event_hash").to_pylist(),
                                         runs.column("run_id").to_pylist()):
            event = build.event_at(self.log, seq)
            if event is None or hashlib.sha256(event.body).hexdigest() != expected:
                raise IntegrityError(seq, f"run {run_id!r}: the log no longer holds the event its figures were "
                                          f"folded from (bytes that hash to {expected}): the log was changed "
                                          "after the projections were built; check it with `auditlog verify`")
        return runs

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
            path = self.directory / part.path
            try:
                data = verified_bytes(path)
            except FileNotFoundError:
                raise _changed(path) from None
            with pq.ParquetFile(data) as pf:
                for group in reversed(range(pf.num_row_groups)):
                    yield pf.read_row_group(group, columns=columns).cast(schema)

    def manifest(self) -> bytes:
        """The manifest document: its first line, then every run's record, from the manifest parts."""
        from projections import manifest

        head = manifest.header(self.state.log_id, self.state.seq, self.state.hash)
        lines = []
        for part in self.state.runs:
            assert part.manifest is not None
            path = self.directory / part.manifest
            try:
                lines += manifest.part_lines(bytes(memoryview(verified_bytes(path))))
            except FileNotFoundError:
                raise _changed(path) from None
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
            path = self.directory / part.path
            try:
                with pq.ParquetFile(verified_bytes(path)) as pf:
                    groups = list(range(pf.num_row_groups))
                    if wanted is not None:
                        groups = [g for g in groups if _group_overlaps(pf, g, wanted)]
                    if not groups:
                        continue
                    table = pf.read_row_groups(groups, columns=read)
            except FileNotFoundError:
                raise _changed(path) from None
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
            raise NotFound(f"no run {run_id!r} in the log")
        return to_records(self.confirm(found))[0]

    def _read(self, name: str, table: str) -> Any:
        return read_table(self.directory / name, table)


def open(log: build.EventLog, directory: str | Path) -> View:  # noqa: A001 - projections.open(log, dir)
    """Catch the projections in `directory` up with `log`, and open the result for reading."""
    directory = Path(directory)
    for attempt in range(_RETRIES):
        view = View(directory, build.catch_up(log, directory), log)
        try:
            view.runs  # noqa: B018 - read now, while the generation is surely there
            return view
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
