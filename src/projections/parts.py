"""Item rows, written as they are folded into one new part file per catch-up (compaction merges them)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from projections.disk import ITEMS, TMP, settle, storage_errors
from projections.schema import ROW_GROUP_ROWS, WRITE_OPTIONS, arrow_schema
from projections.state import Part


class PartWriter:
    """Item rows as they are folded, in exact row groups of ROW_GROUP_ROWS, into one new part file.

    Items arrive as Arrow tables (a chunk of runs' items from the fold, or a row group of
    a part being merged). Row groups depend only on the sequence of items, not on how
    events were batched, so a compacted items file is byte-identical to the one a rebuild
    writes.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows = 0
        self._writer: Any = None  # a pyarrow.parquet.ParquetWriter once the first row group is written
        self._tmp = directory / ITEMS / f".part.{uuid.uuid4().hex}{TMP}"
        self._tables: list[Any] = []

    def add_table(self, table: Any) -> None:
        """Append rows in the items schema, in order."""
        self.rows += table.num_rows
        self._push(table)

    def _push(self, table: Any) -> None:
        """Queue Arrow rows; write every complete row group (exact ROW_GROUP_ROWS slices)."""
        import pyarrow as pa

        self._tables.append(table)
        pending = sum(t.num_rows for t in self._tables)
        if pending >= ROW_GROUP_ROWS:
            combined = pa.concat_tables(self._tables)
            cut = pending - pending % ROW_GROUP_ROWS
            for start in range(0, cut, ROW_GROUP_ROWS):
                self._write(combined.slice(start, ROW_GROUP_ROWS).combine_chunks())
            self._tables = [combined.slice(cut)]

    def _write(self, table: Any) -> None:
        import pyarrow.parquet as pq

        with storage_errors(self._tmp):
            if self._writer is None:
                self._tmp.parent.mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(self._tmp, arrow_schema("items"), **WRITE_OPTIONS)
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def finish(self, first_seq: int, last_seq: int) -> Part | None:
        """Close the file and give it its final name; None when no item was added."""
        if self.rows == 0:
            return None
        import pyarrow as pa

        if sum(t.num_rows for t in self._tables):
            self._write(pa.concat_tables(self._tables).combine_chunks())
        with storage_errors(self._tmp):
            self._writer.close()
            self._writer = None
            name = settle(self._tmp, self.directory / ITEMS, f"part-{first_seq:012d}-{last_seq:012d}")
        return Part(f"{ITEMS}/{name}", first_seq, last_seq, self.rows)

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)

