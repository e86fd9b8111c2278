"""LazyTable: a table that asks its source for rows a page at a time, as they come into view.

A line-API widget (ScrollView): its height is the source's length, but only the lines on
screen are rendered, and the rows behind them are fetched in pages of PAGE rows, kept in
a small cache. A table of 100k runs costs what its visible page costs. Cells are plain
strings, optionally with a role (good, bad, warn, dim, strong) that the theme colours;
they are never parsed as markup, and control characters are shown escaped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from auditlog.render import safe_text

PAGE = 64
CACHED_PAGES = 32
ROLES = ("good", "bad", "warn", "dim", "strong")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int = 0  # 0: share what the fixed columns leave
    align: str = "left"  # left | right


Cell = str | tuple[str, str]  # text, or (text, role)


class RowSource(Protocol):
    @property
    def columns(self) -> Sequence[Column]: ...  # read-only here, so a tuple of a source's own is one

    def __len__(self) -> int: ...

    def rows(self, start: int, stop: int) -> Sequence[Sequence[Cell]]: ...

    def key(self, index: int) -> str: ...


class EmptySource:
    def __init__(self, columns: Sequence[Column] = ()) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return 0

    def rows(self, start: int, stop: int) -> list[list[Cell]]:
        return []

    def key(self, index: int) -> str:
        return str(index)


@dataclass
class _TableMessage(Message):
    """What every LazyTable message carries: the table, which is also its `control`."""

    table: LazyTable

    @property
    def control(self) -> LazyTable:
        return self.table


class LazyTable(ScrollView, can_focus=True):
    """Rows on demand, a cursor, marks (space), a sortable header (click a column)."""

    COMPONENT_CLASSES = {"lazy-table--header", "lazy-table--cursor", "lazy-table--marked",
                         *(f"lazy-table--{role}" for role in ROLES)}
    DEFAULT_CSS = """
    LazyTable { height: 1fr; overflow-x: hidden; overflow-y: auto; }
    LazyTable > .lazy-table--header { text-style: bold; color: $text-primary; background: $panel; }
    LazyTable > .lazy-table--cursor { background: $block-cursor-blurred-background; }
    LazyTable:focus > .lazy-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                             text-style: bold; }
    LazyTable > .lazy-table--marked { color: $accent; text-style: bold; }
    LazyTable > .lazy-table--good { color: $text-success; }
    LazyTable > .lazy-table--bad { color: $text-error; text-style: bold; }
    LazyTable > .lazy-table--warn { color: $text-warning; }
    LazyTable > .lazy-table--dim { color: $text-muted; }
    LazyTable > .lazy-table--strong { text-style: bold; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
        Binding("space", "mark", "Mark"),
    ]

    cursor = reactive(0, always_update=True, repaint=False)

    @dataclass
    class Highlighted(_TableMessage):
        index: int

    @dataclass
    class Selected(_TableMessage):
        index: int

    @dataclass
    class HeaderClicked(_TableMessage):
        column: str

    @dataclass
    class MarksChanged(_TableMessage):
        marks: tuple[str, ...]

    def __init__(self, source: RowSource | None = None, *, markable: bool = False, empty: str = "(nothing here)",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source: RowSource = source or EmptySource()
        self.markable = markable
        self.empty = empty
        self.marks: dict[str, None] = {}  # keys, in the order they were marked
        self.sort_key: str | None = None
        self.sort_descending = False
        self._pages: OrderedDict[int, Sequence[Sequence[Cell]]] = OrderedDict()

    # -- data -------------------------------------------------------------------

    def set_source(self, source: RowSource, *, cursor: int = 0) -> None:
        self.source = source
        self._pages.clear()
        self.virtual_size = Size(0, len(source) + 1)
        self.cursor = min(max(cursor, 0), max(len(source) - 1, 0))
        self._show_cursor()
        self.refresh()

    def row(self, index: int) -> Sequence[Cell] | None:
        if not 0 <= index < len(self.source):
            return None
        page = index // PAGE
        rows = self._pages.get(page)
        if rows is None:
            rows = self._pages[page] = self.source.rows(page * PAGE, min((page + 1) * PAGE, len(self.source)))
            if len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page)
        offset = index - page * PAGE
        return rows[offset] if offset < len(rows) else None

    def cursor_key(self) -> str | None:
        return self.source.key(self.cursor) if len(self.source) else None

    def toggle_mark(self, index: int | None = None) -> None:
        index = self.cursor if index is None else index
        if not (self.markable and 0 <= index < len(self.source)):
            return
        key = self.source.key(index)
        if key in self.marks:
            del self.marks[key]
        else:
            self.marks[key] = None
        self.refresh()
        self.post_message(self.MarksChanged(self, tuple(self.marks)))

    def clear_marks(self) -> None:
        self.marks.clear()
        self.refresh()
        self.post_message(self.MarksChanged(self, ()))

    # -- movement ---------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self._show_cursor()
        self.refresh()
        if len(self.source):
            self.post_message(self.Highlighted(self, new))

    def _visible_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def _show_cursor(self) -> None:
        top, shown = round(self.scroll_y), self._visible_rows()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + shown:
            self.scroll_to(y=self.cursor - shown + 1, animate=False, immediate=True)

    def _move(self, index: int) -> None:
        if len(self.source):
            self.cursor = min(max(index, 0), len(self.source) - 1)

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * self._visible_rows())

    def action_jump(self, where: int) -> None:
        self._move(len(self.source) - 1 if where < 0 else where)

    def action_select(self) -> None:
        if len(self.source):
            self.post_message(self.Selected(self, self.cursor))

    def action_mark(self) -> None:
        self.toggle_mark()
        self.action_cursor(1)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.markable if action == "mark" else True

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self.source):
            self.cursor = index
            if event.chain >= 2:
                self.action_select()

    # -- rendering --------------------------------------------------------------

    def _widths(self) -> list[int]:
        columns = self.source.columns
        total = self.scrollable_content_region.width - (2 if self.markable else 0)
        fixed = sum(c.width for c in columns) + max(len(columns) - 1, 0)
        flexible = [c for c in columns if not c.width]
        share = max(total - fixed, 8 * len(flexible)) // max(len(flexible), 1)
        return [c.width or share for c in columns]

    def _column_at(self, x: int) -> str | None:
        x -= 2 if self.markable else 0
        for column, width in zip(self.source.columns, self._widths()):
            if x < width + 1:
                return column.key
            x -= width + 1
        return None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if not len(self.source):
            text = f" {self.empty}" if y == 1 else ""
            return Strip([Segment(text, base + self.get_component_rich_style("lazy-table--dim"))]).crop_extend(
                0, width, base)
        cells = self.row(index)
        if cells is None:
            return Strip.blank(width, base)
        cursor = index == self.cursor
        over = self.get_component_rich_style("lazy-table--cursor") if cursor else None
        segments = []
        if self.markable:
            marked = self.source.key(index) in self.marks
            style = base + self.get_component_rich_style("lazy-table--marked")
            segments.append(Segment("● " if marked else "  ", style + over if over else style))
        for column, size, cell in zip(self.source.columns, self._widths(), cells):
            text, role = (cell, "") if isinstance(cell, str) else cell
            style = base + self.get_component_rich_style(f"lazy-table--{role}") if role in ROLES else base
            segments.append(Segment(_fit(text, size, column.align) + " ", style + over if over else style))
        return Strip(segments).crop_extend(0, width, base + over if over else base)

    def _header(self, width: int) -> Strip:
        style = self.get_component_rich_style("lazy-table--header")
        segments = [Segment("  ", style)] if self.markable else []
        for column, size in zip(self.source.columns, self._widths()):
            label = column.label
            if column.key == self.sort_key:
                label += " ▼" if self.sort_descending else " ▲"
            segments.append(Segment(_fit(label, size, column.align) + " ", style))
        return Strip(segments).crop_extend(0, width, style)


def _fit(text: Any, width: int, align: str = "left") -> str:
    """`text` in exactly `width` cells: escaped, cut with an ellipsis, padded."""
    text = safe_text(str(text), limit=max(width, 1) * 4)
    if cell_len(text) > width:
        return set_cell_size(text, max(width - 1, 0)) + ("…" if width else "")
    return " " * (width - cell_len(text)) + text if align == "right" else set_cell_size(text, width)

