"""BarChart: one labelled horizontal bar per value, scaled to the largest; theme colours."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size
from textual.content import Content
from textual.widget import Widget

from auditlog.render import safe_text

_EIGHTHS = " ▏▎▍▌▋▊▉"


class BarChart(Widget):
    DEFAULT_CSS = """
    BarChart { height: auto; padding: 0 1; }
    """

    def __init__(self, points: Sequence[tuple[str, float]] = (), *, value_format: str = ".4f",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.points = list(points)
        self.value_format = value_format

    def set_points(self, points: Sequence[tuple[str, float]], value_format: str = ".4f") -> None:
        self.points = list(points)
        self.value_format = value_format
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001
        return max(len(self.points), 1)

    def render(self) -> Content:
        if not self.points:
            return Content.assemble(("no values to chart", "$text-muted"))
        labels = [safe_text(label, limit=24) for label, _ in self.points]
        label_width = max(cell_len(label) for label in labels)
        values = [format(value, self.value_format) for _, value in self.points]
        value_width = max(len(v) for v in values)
        room = max(self.content_region.width - label_width - value_width - 4, 4)
        top = max((value for _, value in self.points), default=0) or 1
        lines = []
        for label, text, (_, value) in zip(labels, values, self.points):
            eighths = max(round(room * 8 * max(value, 0) / top), 0)
            bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
            lines.append(Content.assemble((set_cell_size(label, label_width), "$text-muted"), "  ",
                                          (bar.ljust(room), "$primary"), "  ", (text.rjust(value_width), "bold")))
        return Content("\n").join(lines)
