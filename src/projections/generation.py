"""The runs and verdicts parts of the next generation, from the previous ones and a folded batch.

A catch-up does not rewrite runs or verdicts: the rows of the runs (verdicts) its events
record become one new part, and the few older rows that later events change
(annotations, supersessions, verdicts, overrides) are patched in the part that holds
them, which alone is rewritten. Then the tail merges by size (layers.py). A rebuild is
the same with no previous part. The manifest's lines follow the runs, part by part.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from auditlog.core import events as ev
from projections import manifest
from projections.columns import run_tables
from projections.disk import verified_bytes
from projections.fold import Change, RecordedRun, apply_changes, apply_overrides
from projections.layers import Piece
from projections.parts import PartWriter
from projections.schema import arrow_schema
from projections.state import Part
from projections.tables import replaced, rows_where, table_from_rows

RUN_CHUNK = 16_384  # runs converted at once (at most)
ITEM_CHUNK = 65_536  # or as soon as their items reach this many


class NewRuns:
    """The runs a batch records, turned into Arrow (runs, their items, manifest lines) a chunk at a
    time, so that a rebuild never holds every decoded document; items go on to `items` as tables."""

    def __init__(self, items: PartWriter) -> None:
        self._items = items
        self._pending: list[RecordedRun] = []
        self._pending_items = 0
        self._tables: list[Any] = []
        self._lines: list[bytes] = []

    def add(self, recorded: RecordedRun) -> None:
        self._pending.append(recorded)
        items = recorded[0].get("items")
        self._pending_items += len(items) if isinstance(items, list) else 0
        if len(self._pending) >= RUN_CHUNK or self._pending_items >= ITEM_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            runs, items = run_tables(self._pending)
            self._pending, self._pending_items = [], 0
            self._tables.append(runs)
            self._lines += manifest.lines(runs)
            if items.num_rows:
                self._items.add_table(items)

    def finish(self) -> tuple[Any, list[bytes]]:
        """The runs table and its manifest lines (the items went to the part writer)."""
        import pyarrow as pa

        self._flush()
        table = pa.concat_tables(self._tables) if self._tables else arrow_schema("runs").empty_table()
        return table, self._lines


class KnownRuns:
    """Where the previous parts hold given runs: found in their run_id columns (read, then kept), in C."""

    def __init__(self, directory: Path, parts: tuple[Part, ...]) -> None:
        self._directory, self._parts = directory, parts
        self._ids: dict[int, Any] = {}

    def find(self, run_ids: set[str]) -> dict[str, tuple[int, int]]:
        """run_id -> (part index, row index) of those of `run_ids` recorded, newest parts first.

        A run id is in one row at most (a catch-up never adds a run already recorded), so the
        search stops once every id is found: runs of recent catch-ups are found in the newest parts."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        found: dict[str, tuple[int, int]] = {}
        if not run_ids:
            return found
        value_set = pa.array(sorted(run_ids), pa.string())
        for index in reversed(range(len(self._parts))):
            if index not in self._ids:
                with pq.ParquetFile(verified_bytes(self._directory / self._parts[index].path)) as pf:
                    self._ids[index] = pf.read(columns=["run_id"]).column(0)
            column = self._ids[index]
            for row in pc.indices_nonzero(pc.is_in(column, value_set=value_set)).to_pylist():
                found.setdefault(column[row].as_py(), (index, row))
            if len(found) == len(run_ids):
                break
        return found


def runs_pieces(directory: Path, previous: tuple[Part, ...], known: KnownRuns, added: tuple[Any, list[bytes]],
                changes: list[Change], first_seq: int, last_seq: int) -> list[Piece]:
    """The runs parts after a batch (before the merge): previous parts, rows changed where they are,
    and a new part for the runs recorded (always one when there is no previous part)."""
    pieces = [Piece.of(p) for p in previous]
    table, lines = added
    if table.num_rows or not pieces:
        pieces.append(Piece(first_seq, last_seq, table.num_rows, table=table, lines=lines))
    subjects = {c.subject for c in changes}
    if not subjects:
        return pieces
    located: dict[str, tuple[int, int, dict[str, Any]]] = {}
    if table.num_rows:
        for run_id, (row_index, row) in rows_where(table, "run_id", subjects).items():
            located[run_id] = (len(pieces) - 1, row_index, row)
    wanted: dict[int, dict[str, int]] = defaultdict(dict)
    if previous and subjects - located.keys():
        for run_id, (index, row_index) in known.find(subjects - located.keys()).items():
            wanted[index][run_id] = row_index
    for index, ids in wanted.items():
        part_table = pieces[index].load(directory, "runs")
        found = rows_where(part_table, "run_id", set(ids))
        for run_id, (row_index, row) in found.items():
            located[run_id] = (index, row_index, row)
    touched = apply_changes({run_id: row for run_id, (_, _, row) in located.items()}, changes)
    by_piece: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for run_id in touched:
        index, row_index, row = located[run_id]
        by_piece[index][row_index] = row
    for index, changed in by_piece.items():
        piece = pieces[index]
        order = sorted(changed)
        replacement = table_from_rows([changed[i] for i in order], "runs")
        piece_lines = list(piece.load_lines(directory)) if piece.part is not None else piece.lines
        assert piece_lines is not None
        for row_index, text in zip(order, manifest.lines(replacement)):
            piece_lines[row_index] = text
        piece.table = replaced(piece.load(directory, "runs"), dict(zip(order, range(len(order)))), replacement)
        piece.lines, piece.part = piece_lines, None
    return pieces


def verdicts_pieces(directory: Path, previous: tuple[Part, ...], added: list[dict[str, Any]],
                    changes: list[Change], first_seq: int, last_seq: int) -> list[Piece]:
    """The verdicts parts after a batch (before the merge): overrides applied where the verdicts are
    (found by seq, from the parts' seq ranges), and a new part for the verdicts recorded."""
    pieces = [Piece.of(p) for p in previous]
    new = {row["seq"]: row for row in added}
    targets: set[Any] = {c.data.get("verdict_seq") for c in changes if c.type == ev.VERDICT_OVERRIDDEN} - new.keys()
    located: dict[int, tuple[int, int, dict[str, Any]]] = {}
    for index, piece in enumerate(pieces):
        mine = {t for t in targets if isinstance(t, int) and piece.first_seq <= t <= piece.last_seq}
        if mine:
            for seq, (row_index, row) in rows_where(piece.load(directory, "verdicts"), "seq", mine).items():
                located[seq] = (index, row_index, row)
    touched = apply_overrides({**{seq: row for seq, (_, _, row) in located.items()}, **new}, changes)
    by_piece: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for seq in touched:
        if seq in located:
            index, row_index, row = located[seq]
            by_piece[index][row_index] = row
    for index, rows in by_piece.items():
        piece = pieces[index]
        order = sorted(rows)
        replacement = table_from_rows([rows[i] for i in order], "verdicts")
        piece.table = replaced(piece.load(directory, "verdicts"), dict(zip(order, range(len(order)))), replacement)
        piece.part = None
    if added or not pieces:
        pieces.append(Piece(first_seq, last_seq, len(added), table=table_from_rows(added, "verdicts")))
    return pieces
