"""Item rows, written as they are folded into one new part file per catch-up (compaction merges them)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from auditlog.core.encoding import canonical_bytes
from projections.disk import ITEMS, TMP, settle, storage_errors
from projections.schema import ROW_GROUP_ROWS, WRITE_OPTIONS, arrow_schema
from projections.state import Part


class PartWriter:
    """Item rows as they are folded, in exact row groups of ROW_GROUP_ROWS, into one new part file.

    Items are kept as the decoded dicts until about a row group's worth is pending, then
    converted to Arrow in one call (pyarrow reads the dicts in C). Row groups depend
    only on the sequence of items, not on how events were batched, so a compacted
    items file is byte-identical to the one a rebuild writes.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows = 0
        self._writer: Any = None  # a pyarrow.parquet.ParquetWriter once the first row group is written
        self._tmp = directory / ITEMS / f".part.{uuid.uuid4().hex}{TMP}"
        self._pending: list[tuple[str, int, list[dict[str, Any]], bool]] = []
        self._pending_rows = 0
        self._tables: list[Any] = []

    def add(self, run_id: str, seq: int, items: list[dict[str, Any]], has_extra: bool) -> None:
        """A run's items (`has_extra`: some item may carry `extra`; False means none does)."""
        self._pending.append((run_id, seq, items, has_extra))
        self._pending_rows += len(items)
        self.rows += len(items)
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._convert()

    def _convert(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        schema = arrow_schema("items")
        struct = pa.struct([schema.field(name) for name in schema.names[2:-1]])
        flat = [item for _, _, items, _ in self._pending for item in items]
        run_ids: list[str] = []
        seqs: list[int] = []
        for run_id, seq, items, _ in self._pending:
            run_ids += [run_id] * len(items)
            seqs += [seq] * len(items)
        if any(has_extra for *_, has_extra in self._pending):
            extra = pa.array([_extra(i) if has_extra else None for _, _, items, has_extra in self._pending
                              for i in items], pa.string())
        else:
            extra = pa.nulls(len(flat), pa.string())
        columns = [pa.array(run_ids, pa.string()), pa.array(seqs, pa.int64()),
                   *pa.array(flat, type=struct).flatten(), extra]
        self._pending, self._pending_rows = [], 0
        self._push(pa.Table.from_arrays(columns, schema=schema))

    def add_table(self, table: Any) -> None:
        """Append rows already in the items schema (compaction)."""
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

        self._convert()
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


def _extra(item: dict[str, Any]) -> str | None:
    value = item.get("extra")
    return None if value is None else canonical_bytes(value).decode("utf-8")
