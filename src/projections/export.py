"""Export runs, items, verdicts or baseline pins as CSV, JSON, JSON Lines, Parquet or a table, for tools
that are not ours.

The rows exported are chosen by the same run filters as history (`query_runs`): the
runs selected, the items of those runs, the verdicts on those runs, or the pins of them
as baselines. Parquet keeps
the public schema (schema.py) exactly; the text formats write timestamps as RFC 3339 UTC
text. CSV is flat, for dashboards: one column per map key (`metrics.accuracy`, `tags.branch`,
in key order after the table's own columns' place; scoped metrics as `metrics.eval/accuracy`, scope
statuses as `scopes.eval`, the names --where uses), lists (notes) as JSON text; with
`json_cells` it writes maps as JSON text in one cell, as before. CSV is written by
auditlog.render's one CSV writer (its header even with no rows; minimal quoting). JSON and
JSONL write C1, DEL and bidirectional control characters as JSON \\u escapes (the values stay
exact); CSV and Parquet keep every string byte for byte, for the tools that read them; the
table is for people (escaped, cut as the CLI's tables).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from auditlog.errors import InvalidInput, StorageError
from auditlog.render import json_text, render, write_csv  # C1, DEL and bidi controls escaped: the same values
from projections.queries import query_runs
from projections.schema import WRITE_OPTIONS
from projections.tables import timestamp_text
from projections.view import View, to_records

WHAT = ("runs", "items", "verdicts", "baselines", "configs")
FORMATS = ("table", "json", "jsonl", "csv", "parquet")
_BATCH = 65_536
# flat CSV names scoped metrics and scope statuses as --where does: metrics.<scope>/<name>, scopes.<scope>
_FLAT_NAMES = {"scoped_metrics": "metrics", "scope_status": "scopes"}


def select(view: View, what: str, **filters: Any) -> Any:
    """The rows to export, as a pyarrow Table in seq order."""
    import pyarrow.compute as pc

    if what not in WHAT:
        raise InvalidInput("what", f"must be one of {', '.join(WHAT)}, not {what!r}")
    runs = query_runs(view, newest_first=False, **filters)
    if what == "runs":
        return runs
    if what == "items":
        everything = runs.num_rows == view.runs.num_rows
        return view.items(seqs=None if everything else runs.column("seq").to_pylist())
    if what == "configs":  # the configurations of the selected runs' projects
        return view.configs.filter(pc.is_in(view.configs.column("project_id"), value_set=runs.column("project_id")))
    chosen = view.verdicts if what == "verdicts" else view.baselines
    return chosen.filter(pc.is_in(chosen.column("run_id"), value_set=runs.column("run_id")))


def export(view: View, what: str, fmt: str, out: str | Path | IO[bytes], *, width: int | None = None,
           json_cells: bool = False, **filters: Any) -> int:
    """Write the selected rows to `out` (a path or a binary stream); returns how many. `width`
    limits a table's width (None: every column); `json_cells`: CSV keeps each map in one cell as
    JSON text instead of a column per key."""
    if fmt not in FORMATS:
        raise InvalidInput("format", f"must be one of {', '.join(FORMATS)}, not {fmt!r}")
    table = select(view, what, **filters)
    if isinstance(out, (str, Path)):
        try:
            with open(out, "wb") as stream:
                write_table(table, fmt, stream, width, json_cells)
        except OSError as exc:  # no such directory, read-only, full: one line and exit 4, not a traceback
            raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from None
    else:
        write_table(table, fmt, out, width, json_cells)
    return table.num_rows


def write_table(table: Any, fmt: str, stream: IO[bytes], width: int | None = None, json_cells: bool = False,
                exact: bool = True) -> None:
    """A projection's table in `fmt` on `stream`: export's writer, which `history -o csv` shares with
    `exact=False` (CSV strings, map keys in the header too, escaped as every other command's output)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table.combine_chunks(), stream, **WRITE_OPTIONS)
    elif fmt == "jsonl":
        for start in range(0, table.num_rows, _BATCH):
            rows = to_records(table.slice(start, _BATCH))
            stream.write("".join(json_text(r, separators=(",", ":")) + "\n" for r in rows).encode("utf-8"))
    elif fmt == "csv":
        import io

        text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        flat = _flat(table, json_cells)
        write_csv([], flat.column_names, text, exact=exact)
        for start in range(0, flat.num_rows, _BATCH):
            write_csv(flat.slice(start, _BATCH).to_pylist(), flat.column_names, text, exact=exact, header=False)
        text.detach()  # the caller's stream stays open
    else:  # json, table: the whole selection at once (for people and small selections)
        rows = to_records(table)
        columns = table.column_names
        stream.write(render(rows, fmt, columns, width=width).encode("utf-8"))
    stream.flush()


def _flat(table: Any, json_cells: bool = False) -> Any:
    """Timestamps as RFC 3339 text, each map key a column of its own (or, with `json_cells`,
    maps as JSON text), lists as JSON text: what CSV can carry."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for f, column in zip(table.schema, table.columns):
        if pa.types.is_map(f.type) and not json_cells:
            prefix = _FLAT_NAMES.get(f.name, f.name)
            for key in _map_keys(column):
                columns[f"{prefix}.{key}"] = pc.map_lookup(column, query_key=key, occurrence="first")
            continue
        if pa.types.is_timestamp(f.type):
            column = timestamp_text(column)
        elif pa.types.is_map(f.type) or pa.types.is_list(f.type):
            values = column.to_pylist()
            column = pa.array([None if v is None else json.dumps(dict(v) if pa.types.is_map(f.type) else v,
                                                                 ensure_ascii=False, sort_keys=True,
                                                                 separators=(",", ":")) for v in values], pa.string())
        columns[f.name] = column
    return pa.table(columns) if columns else table


def _map_keys(column: Any) -> list[str]:
    """Every key of a map column (its chunks may be slices), sorted."""
    keys: set[str] = set()
    for chunk in column.chunks:
        if len(chunk):
            start, stop = chunk.offsets[0].as_py(), chunk.offsets[-1].as_py()
            keys.update(chunk.keys.slice(start, stop - start).to_pylist())
    return sorted(keys)
