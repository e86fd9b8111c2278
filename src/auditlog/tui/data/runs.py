"""The Runs screen's question: which runs, in which order, one page at a time.

`select` filters and sorts the runs table in Arrow (milliseconds for 100k runs) and
returns a Selection: a pyarrow table holding only the displayed columns. Rows become
Python objects only a page at a time (`rows(start, stop)`), when the screen shows them,
so opening a history of any size costs one filter and one sort, never 100k rows. Each
page is confirmed against the log as it is shown (View.confirm), not the whole selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import projections
from auditlog.errors import AuditLogError

VERDICTS = ("ALLOW", "BLOCK", "NEEDS_REVIEW")
NO_VERDICT = "none"
# sort key -> the column it sorts by ("time" is computed: started_at, else recorded_at)
SORTS = {
    "time": "time", "project": "project_id", "model": "model_id", "version": "model_version",
    "pass_rate": "pass_rate", "mean_score": "mean_score", "verdict": "verdict", "run_id": "run_id",
    "recorded": "seq",
}
SHOWN = ["run_id", "project_id", "model_id", "model_version", "n_items", "pass_rate", "mean_score", "verdict",
         "verdict_computed_by", "status", "seq", "event_hash"]
SEARCHED = ("run_id", "project_id", "model_id", "experiment_id")


@dataclass(frozen=True)
class RunFilter:
    project: str | None = None
    model: str | None = None
    verdict: str | None = None  # one of VERDICTS, NO_VERDICT, or None for any
    search: str = ""  # case-insensitive substring of an id, a tag key or value, or "key=value"
    include_superseded: bool = False


@dataclass(frozen=True)
class SortOrder:
    key: str = "recorded"  # newest first: the log's order
    descending: bool = True

    def describe(self) -> str:
        return f"{self.key.replace('_', ' ')} {'↓' if self.descending else '↑'}"


class Selection:
    """The filtered, sorted runs: a length, and rows on demand."""

    def __init__(self, table: Any, total: int, view: Any = None) -> None:
        self.table = table
        self.total = total  # runs in the projections before filtering
        self._view = view  # confirms each page shown

    def __len__(self) -> int:
        return self.table.num_rows

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The rows start..stop; a run whose event is no longer what was folded comes back with its
        figures blanked and `problem` saying why (its row is shown as not verified, never its figures)."""
        page = self.table.slice(start, max(stop - start, 0))
        records = page.to_pylist()
        if self._view is not None:
            for i, record in enumerate(records):
                try:
                    self._view.confirm(page.slice(i, 1))
                except AuditLogError as exc:
                    records[i] = {**dict.fromkeys(record), "run_id": record["run_id"], "seq": record["seq"],
                                  "status": "active", "problem": str(exc)}
        return records

    def run_id(self, index: int) -> str:
        return self.table.column("run_id")[index].as_py()

    def index_of(self, run_id: str) -> int | None:
        import pyarrow.compute as pc

        found = pc.index(self.table.column("run_id"), run_id).as_py()
        return None if found < 0 else found


def select(view: Any, run_filter: RunFilter = RunFilter(), order: SortOrder = SortOrder()) -> Selection:
    import pyarrow.compute as pc

    verdict = run_filter.verdict if run_filter.verdict in VERDICTS else None
    table = projections.query_runs(view, project_id=run_filter.project, model_id=run_filter.model, verdict=verdict,
                                   include_superseded=run_filter.include_superseded, confirm=False)
    if run_filter.verdict == NO_VERDICT:
        table = table.filter(pc.is_null(table.column("verdict")))
    if run_filter.search.strip():
        table = table.filter(_matches(table, run_filter.search.strip()))
    time = pc.coalesce(table.column("started_at"), table.column("recorded_at"))
    table = table.select(SHOWN).append_column("time", time)
    column = SORTS.get(order.key, "seq")
    direction = "descending" if order.descending else "ascending"
    if column != "seq":
        table = table.sort_by([(column, direction), ("seq", "descending")])
    elif not order.descending:
        table = table.sort_by([("seq", "ascending")])
    return Selection(table, view.runs.num_rows, view)


def choices(view: Any, column: str, **where: str | None) -> list[str]:
    """The distinct values of a runs column (project_id, model_id...), sorted; optionally of matching runs."""
    import pyarrow.compute as pc

    table = view.runs
    for name, value in where.items():
        if value is not None:
            table = table.filter(pc.equal(table.column(name), value))
    return sorted(v for v in pc.unique(table.column(column)).to_pylist() if v is not None)


def _matches(table: Any, text: str) -> Any:
    """A boolean mask: rows whose ids or tags contain `text` (tags also as "key=value")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = None
    for name in SEARCHED:
        hit = pc.fill_null(pc.match_substring(table.column(name), text, ignore_case=True), False)
        mask = hit if mask is None else pc.or_(mask, hit)
    if table.num_rows:
        entry = pa.struct([("key", pa.string()), ("value", pa.string())])
        tags = table.column("tags").combine_chunks().cast(pa.list_(entry))
        pairs = pc.list_flatten(tags)
        if len(pairs):
            joined = pc.binary_join_element_wise(pairs.field(0), pairs.field(1), "=")
            found = pc.match_substring(joined, text, ignore_case=True)
            rows = pc.unique(pc.filter(pc.list_parent_indices(tags), found))
            in_tags = pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=rows.cast(pa.int64()))
            mask = pc.or_(mask, in_tags)
    return mask
