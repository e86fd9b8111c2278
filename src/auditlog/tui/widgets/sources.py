"""Row sources for LazyTable: runs (a pyarrow selection), items, events (pages of the log), lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditlog.tui.data.chain import event_rows
from auditlog.tui.widgets.cells import num, pct, short, verdict_cell, when
from auditlog.tui.widgets.lazy_table import Cell, Column

RUN_COLUMNS = (
    Column("time", "time", 16), Column("project", "project", 15), Column("model", "model", 10),
    Column("version", "version", 9), Column("pass_rate", "pass", 6, "right"),
    Column("mean_score", "score", 6, "right"), Column("verdict", "verdict", 16), Column("run_id", "run id"),
)


class RunsSource:
    """A runs Selection (auditlog.tui.data.runs), formatted a page at a time."""

    columns = RUN_COLUMNS

    def __init__(self, selection: Any) -> None:
        self.selection = selection

    def __len__(self) -> int:
        return len(self.selection)

    def key(self, index: int) -> str:
        return self.selection.run_id(index)

    def rows(self, start: int, stop: int) -> list[list[Cell]]:
        out = []
        for r in self.selection.rows(start, stop):
            if r.get("problem"):  # not verified: no figure of it is shown
                out.append(["", "", "", "", ("✘", "bad"), ("—", "bad"), ("NOT VERIFIED", "bad"), r["run_id"]])
                continue
            cells: list[Cell] = [when(r["time"]), r["project_id"], r["model_id"], r["model_version"] or "",
                                 pct(r["pass_rate"]), num(r["mean_score"], ".3f"), verdict_cell(r["verdict"], r.get("verdict_computed_by")),
                                 r["run_id"]]
            if r["status"] != "active":  # superseded: greyed out, and said so where the verdict would be
                cells = [(c if isinstance(c, str) else c[0], "dim") for c in cells]
                cells[6] = ("superseded", "dim")
            out.append(cells)
        return out


ITEM_COLUMNS = (
    Column("passed", "passed", 6), Column("score", "score", 7, "right"), Column("latency", "latency ms", 10, "right"),
    Column("tokens", "tokens", 7, "right"), Column("item_id", "item"), Column("error", "error", 30),
)


class ItemsSource:
    """A run's items (failed first), optionally only failed ones or those whose id contains a text."""

    columns = ITEM_COLUMNS

    def __init__(self, items: Sequence[dict[str, Any]], text: str = "", failed_only: bool = False) -> None:
        needle = text.strip().lower()
        self.items = [i for i in items if (not failed_only or not i["passed"])
                      and (not needle or needle in i["item_id"].lower() or needle in (i.get("error") or "").lower())]

    def __len__(self) -> int:
        return len(self.items)

    def key(self, index: int) -> str:
        return self.items[index]["item_id"]

    def rows(self, start: int, stop: int) -> list[list[Cell]]:
        return [[("pass", "good") if i["passed"] else ("FAIL", "bad"), num(i["score"]), num(i.get("latency_ms"), ".1f"),
                 num(i.get("tokens"), "d"), i["item_id"], i.get("error") or ""] for i in self.items[start:stop]]


EVENT_COLUMNS = (
    Column("seq", "seq", 7, "right"), Column("ts", "time (ts)", 27), Column("type", "type", 18),
    Column("subject", "subject"), Column("hash", "hash", 12), Column("prev", "prev", 12), Column("chain", "chain", 9),
)


def event_cells(row: Any) -> list[Cell]:
    if not row.intact:
        chain: Cell = ("✘ bytes", "bad")
    elif row.linked is False:
        chain = ("✘ link", "bad")
    else:
        chain = ("✔ linked", "good") if row.linked else ("·", "dim")
    return [str(row.seq), row.ts, row.type, row.subject or (row.project and f"({row.project})") or "",
            (short(row.hash), "strong" if row.intact else "bad"), short(row.prev), chain]


class EventsSource:
    """The log itself, in seq order: each page one bounded read (AuditLog.events(after, until))."""

    columns = EVENT_COLUMNS

    def __init__(self, log: Any, size: int) -> None:
        self.log = log
        self.size = size

    def __len__(self) -> int:
        return self.size

    def key(self, index: int) -> str:
        return str(index)

    def rows(self, start: int, stop: int) -> list[list[Cell]]:
        return [event_cells(row) for row in event_rows(self.log, start, stop)]


class ListSource:
    """Rows already in memory."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[Cell]],
                 keys: Sequence[str] | None = None) -> None:
        self.columns = columns
        self._rows = list(rows)
        self._keys = list(keys) if keys is not None else [str(i) for i in range(len(self._rows))]

    def __len__(self) -> int:
        return len(self._rows)

    def key(self, index: int) -> str:
        return self._keys[index]

    def rows(self, start: int, stop: int) -> list[Sequence[Cell]]:
        return self._rows[start:stop]
