"""How a table's parts grow and merge, so that a catch-up costs the same on a long history as on a short one.

Every table but baselines is a list of parts in seq order, each holding the rows that the
events first_seq..last_seq produced. A catch-up appends one part for the rows its events
add, rewrites only the (rare) older parts whose rows later events changed, and then
merges by size: the newest part absorbs the one before it while that one holds at most
MERGE_RATIO times its rows. Each part then holds more than twice the rows of the next, so
a table has at most about log2(rows) parts whatever nobody runs, and a row is rewritten
O(log rows) times over its life (a binary counter's carries); most catch-ups merge nothing
or a few small parts. `compact` merges every part into one: exactly what a rebuild writes.

Merged and rewritten parts are new content-addressed files: a reader holding the previous
generation keeps reading its files, which are deleted only after the new state.json is in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditlog.errors import StorageError
from projections import manifest
from projections.disk import ITEMS, read_table, verified_bytes, write_named, write_table
from projections.parts import PartWriter
from projections.state import Part

MERGE_RATIO = 2
TABLE_ROW_GROUP_ROWS = 4_096  # runs and verdicts: the newest rows are read a row group at a time


@dataclass
class Piece:
    """A part of the next generation: a file of the previous one, unchanged (`part`), or rows to write."""

    first_seq: int
    last_seq: int
    rows: int
    part: Part | None = None
    table: Any = None  # pyarrow Table, once loaded or computed
    lines: list[bytes] | None = field(default=None, repr=False)  # runs: their manifest lines

    @classmethod
    def of(cls, part: Part) -> Piece:
        return cls(part.first_seq, part.last_seq, part.rows, part=part)

    def load(self, directory: Path, name: str) -> Any:
        if self.table is None:
            assert self.part is not None
            self.table = read_table(directory / self.part.path, name)
        return self.table

    def load_lines(self, directory: Path) -> list[bytes]:
        if self.lines is None:
            assert self.part is not None and self.part.manifest is not None
            self.lines = manifest.part_lines(bytes(memoryview(verified_bytes(directory / self.part.manifest))))
        return self.lines


def merge_from(rows: Sequence[int], ratio: int = MERGE_RATIO) -> int:
    """The index from which the trailing parts merge into one (len(rows) - 1: nothing to merge)."""
    k = len(rows) - 1
    total = rows[k] if rows else 0
    while k > 0 and rows[k - 1] <= ratio * total:
        k -= 1
        total += rows[k]
    return k


def merged(directory: Path, pieces: list[Piece], name: str, *, with_lines: bool,
           span: tuple[int, int] | None = None) -> Piece:
    """One piece holding the rows of `pieces`, in order, for the events they span (or `span`)."""
    import pyarrow as pa

    first, last = span or (pieces[0].first_seq, pieces[-1].last_seq)
    if len(pieces) == 1 and (pieces[0].first_seq, pieces[0].last_seq) == (first, last):
        return pieces[0]
    tables = [p.load(directory, name) for p in pieces]
    lines = [line for p in pieces for line in p.load_lines(directory)] if with_lines else None
    return Piece(first, last, sum(p.rows for p in pieces), table=pa.concat_tables(tables), lines=lines)


def settle_tail(directory: Path, pieces: list[Piece], name: str, *, with_lines: bool) -> list[Piece]:
    """`pieces` after the size-tiered merge of their tail."""
    if not pieces:
        return pieces
    k = merge_from([p.rows for p in pieces])
    return [*pieces[:k], merged(directory, pieces[k:], name, with_lines=with_lines)]


def compacted(directory: Path, parts: Sequence[Part], name: str, *, with_lines: bool, last_seq: int) -> list[Piece]:
    """What a rebuild writes for a table whose rows these parts hold: one piece, for events 0 to `last_seq`
    (the log's, not the last event that added a row: parts are named so, and so is a rebuild's)."""
    pieces = [Piece.of(p) for p in parts]
    return [merged(directory, pieces, name, with_lines=with_lines, span=(0, last_seq))] if pieces else []


def write_pieces(directory: Path, name: str, pieces: list[Piece]) -> tuple[Part, ...]:
    """Write the pieces that are not files yet; the parts of the next generation, in order."""
    parts = []
    for piece in pieces:
        if piece.part is None:
            stem = f"{name}/part-{piece.first_seq:012d}-{piece.last_seq:012d}"
            path = write_table(directory, stem, piece.table, TABLE_ROW_GROUP_ROWS)
            lines = None
            if piece.lines is not None:
                lines = write_named(directory, f"{name}/manifest-{piece.first_seq:012d}-{piece.last_seq:012d}",
                                    manifest.part_chunks(piece.lines), ".jsonl")
            piece.part = Part(path, piece.first_seq, piece.last_seq, piece.rows, lines)
        parts.append(piece.part)
    return tuple(parts)


def settle_items(directory: Path, parts: list[Part]) -> tuple[Part, ...]:
    """The item parts after the size-tiered merge of their tail.

    Merging streams row groups into a new file in exact slices of ROW_GROUP_ROWS, so the
    result is byte-identical to the file a rebuild writes for the same events."""
    if len(parts) < 2:
        return tuple(parts)
    k = merge_from([p.rows for p in parts])
    if k == len(parts) - 1:
        return tuple(parts)
    return (*parts[:k], merge_item_parts(directory, parts[k:], (parts[k].first_seq, parts[-1].last_seq)))


def compacted_items(directory: Path, parts: Sequence[Part], last_seq: int) -> tuple[Part, ...]:
    """The items part a rebuild writes (events 0 to `last_seq`), from these parts; none when they are none."""
    if not parts or (len(parts) == 1 and (parts[0].first_seq, parts[0].last_seq) == (0, last_seq)):
        return tuple(parts)
    return (merge_item_parts(directory, parts, (0, last_seq)),)


def merge_item_parts(directory: Path, parts: Sequence[Part], span: tuple[int, int]) -> Part:
    """One items part holding the rows of `parts`, in order (written in exact row groups), for events `span`."""
    import pyarrow.parquet as pq

    writer = PartWriter(directory)
    try:
        for part in parts:
            with pq.ParquetFile(verified_bytes(directory / part.path)) as pf:
                for i in range(pf.num_row_groups):
                    writer.add_table(pf.read_row_group(i))
        merged_part = writer.finish(*span)
    except FileNotFoundError as exc:
        writer.abandon()
        raise StorageError(f"{exc.filename} is missing: rebuild with `auditlog projections rebuild`") from None
    except BaseException:
        writer.abandon()
        raise
    assert merged_part is not None and merged_part.path.startswith(f"{ITEMS}/")
    return merged_part
