"""The runs and verdicts tables of the next generation, patched from the previous one.

A catch-up does not re-read the log to rewrite runs.parquet: it takes the previous
table, appends the rows of the runs just recorded, and replaces in place the few rows
that later events changed (annotations, supersessions, verdicts, overrides). A rebuild
is the same with no previous table. The manifest's lines follow the same way.
"""

from __future__ import annotations

from typing import Any

from auditlog.core import events as ev
from projections import manifest
from projections.fold import Change, apply_changes, apply_overrides
from projections.schema import arrow_schema
from projections.tables import replaced, rows_where, table_from_rows, table_from_tuples

RUN_CHUNK = 16_384


class RunsBuilder:
    """The runs table and manifest of a new generation.

    Starts from the previous generation's table (and manifest bytes); new rows are appended
    a chunk at a time (converted to Arrow and to manifest lines while they are still in
    the CPU's cache); at the end, the rows that annotations, supersessions, verdicts and
    overrides changed are read back, patched in seq order, and replaced in place. The same code
    serves a full rebuild (nothing previous) and a catch-up.
    """

    def __init__(self, previous: Any = None, old_manifest: bytes | None = None, old_head: bytes = b"") -> None:
        self._tables = [] if previous is None else [previous]
        self._n_old = 0 if previous is None else previous.num_rows
        self._old_manifest, self._old_head = old_manifest, old_head
        self._added: list[bytes] = []  # manifest lines of the new rows
        self._changed: dict[int, bytes] = {}  # manifest lines of changed previous rows
        self._rows: list[tuple[Any, ...]] = []
        self.modified = False
        self.table = None

    def add(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        if len(self._rows) >= RUN_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            staged = table_from_tuples(self._rows, "runs", cast=False)  # timestamps still text
            self._tables.append(staged.cast(arrow_schema("runs")))
            self._added += manifest.lines(staged)
            self._rows = []
            self.modified = True

    def finish(self, changes: list[Change]) -> Any:
        """The final runs table, after `changes`."""
        import pyarrow as pa

        self._flush()
        table = pa.concat_tables(self._tables) if self._tables else arrow_schema("runs").empty_table()
        named = rows_where(table, "run_id", {c.subject for c in changes})
        touched = apply_changes({run_id: row for run_id, (_, row) in named.items()}, changes)
        changed = {named[r][0]: named[r][1] for r in touched}
        if changed:
            order = sorted(changed)
            replacement = table_from_rows([changed[i] for i in order], "runs")
            table = replaced(table, dict(zip(order, range(len(order)))), replacement)
            self.modified = True
            for index, text in zip(order, manifest.lines(replacement)):
                if index < self._n_old:
                    self._changed[index] = text
                else:
                    self._added[index - self._n_old] = text
        self.table = table
        return table

    def manifest(self, head: bytes) -> list[Any]:
        """The new manifest.json (as chunks to write), whose first line is `head`: the previous one
        updated, or written whole."""
        if not self._n_old:
            return manifest.render(head, self._added)
        data = manifest.updated(self._old_manifest, self._old_head, self._n_old, head, self._changed, self._added)
        if data is None:
            data = manifest.render(head, manifest.lines(self.table))
        return data


def verdicts_table(previous: Any, added: list[dict[str, Any]], changes: list[Change], *,
                   always: bool = False) -> Any | None:
    """The verdicts table after a batch: previous rows (overrides applied), then the new ones.
    None when nothing changed (unless `always`)."""
    import pyarrow as pa

    new = {row["seq"]: row for row in added}
    targets = {c.data.get("verdict_seq") for c in changes if c.type == ev.VERDICT_OVERRIDDEN} - new.keys()
    existing = rows_where(previous, "seq", targets) if previous is not None else {}
    touched = apply_overrides({**{seq: row for seq, (_, row) in existing.items()}, **new}, changes)
    changed = {existing[seq][0]: existing[seq][1] for seq in touched if seq in existing}
    if not added and not changed and not always:
        return None
    table = table_from_rows(added, "verdicts")
    if previous is not None and changed:
        order = sorted(changed)
        previous = replaced(previous, dict(zip(order, range(len(order)))),
                            table_from_rows([changed[i] for i in order], "verdicts"))
    return pa.concat_tables([previous, table]) if previous is not None else table
