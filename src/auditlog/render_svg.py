"""Points to SVG text: the line charts and the timeline strip of `auditlog report`. Pure.

Standard library only, no I/O: values in, one `<svg>` element out, to be inlined in an
HTML page (no external fonts, images or scripts; the page's CSS styles nothing inside it,
so every colour and size is written here). Every label is user data: it is escaped for
markup here, and a character XML cannot hold (a NUL, a lone surrogate) becomes U+FFFD.
Callers show control and bidirectional characters escaped first (`render.safe_text`).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Okabe-Ito: distinguishable by readers with colour-vision deficiencies.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
VERDICT_COLOURS = {"ALLOW": "#009e73", "BLOCK": "#d55e00", "NEEDS_REVIEW": "#e69f00"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FONT = 'font-family="sans-serif"'


def escape(text: str) -> str:
    """`text` safe inside SVG/HTML markup and attributes: markup escaped, non-XML characters replaced."""
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


@dataclass(frozen=True)
class Series:
    """One line: a value (or None: no point there) for each x label, in order."""

    name: str
    values: tuple[float | None, ...]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (low < high): steps of 1, 2 or 5 x 10^k."""
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def value_range(values: Sequence[float]) -> tuple[float, float]:
    """The y range to draw: the values' min and max, widened when they are one value."""
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.1 or 0.5
        return low - pad, high + pad
    return low, high


def short(label: str, limit: int = 16) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def line_chart(x_labels: Sequence[str], series: Sequence[Series], *, title: str = "", width: int = 560,
               height: int = 240) -> str:
    """A line chart: x labels evenly spaced in order, one coloured line per series (broken where a value
    is None), a dot per value with its exact value in a tooltip, y ticks, and a legend below."""
    if any(len(s.values) != len(x_labels) for s in series):
        raise ValueError("every series needs one value (or None) per x label")
    found = [v for s in series for v in s.values if v is not None]
    if any(not math.isfinite(v) for v in found):
        raise ValueError("values must be finite")
    legend_rows = math.ceil(len(series) / 3)
    left, right, top, bottom = 56, 16, 28 if title else 12, 56 + 18 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title or "chart")}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        parts.append(f'<text x="{left}" y="18" {_FONT} font-size="13" font-weight="bold" fill="#222">'
                     f'{escape(short(title, 80))}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#bbb"/>')
    if not found:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" {_FONT} '
                     'font-size="12" fill="#666">no values</text></svg>')
        return "".join(parts)
    ticks = nice_ticks(*value_range(found))
    low, high = ticks[0], ticks[-1]

    def y(value: float) -> float:
        return top + plot_h - (value - low) / (high - low) * plot_h

    def x(index: int) -> float:
        return left + plot_w / 2 if len(x_labels) == 1 else left + 12 + index * (plot_w - 24) / (len(x_labels) - 1)

    for tick in ticks:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" {_FONT} font-size="11" '
                     f'fill="#444">{tick:.4g}</text>')
    every = max(1, math.ceil(len(x_labels) / max(plot_w // 60, 1)))
    for index, label in enumerate(x_labels):
        if index % every == 0 or index == len(x_labels) - 1:
            parts.append(f'<text x="{x(index):.1f}" y="{top + plot_h + 16}" text-anchor="middle" {_FONT} '
                         f'font-size="11" fill="#444">{escape(short(label))}</text>')
    for number, line in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        points = [(x(i), y(v), v, x_labels[i]) for i, v in enumerate(line.values) if v is not None]
        for segment in _segments(line.values):
            coords = " ".join(f"{x(i):.1f},{y(line.values[i]):.1f}" for i in segment)  # type: ignore[arg-type]
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for px, py, value, label in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}"><title>'
                         f'{escape(f"{line.name} · {label}: {value!r}")}</title></circle>')
        lx = left + (number % 3) * (plot_w / 3)
        ly = top + plot_h + 38 + 18 * (number // 3)
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="14" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 19:.1f}" y="{ly}" {_FONT} font-size="11" fill="#222">'
                     f'{escape(short(line.name, 28))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _segments(values: Sequence[float | None]) -> list[list[int]]:
    """Runs of consecutive indexes with a value, each at least two long (a line needs two points)."""
    out: list[list[int]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            out.append([])
        else:
            out[-1].append(index)
    return [s for s in out if len(s) > 1]


@dataclass(frozen=True)
class Mark:
    """One verdict on the timeline: where (0..1 along the time axis), which verdict, and whether a person
    overrode it (`overridden_to`: the verdict it became)."""

    at: float
    verdict: str
    overridden_to: str | None
    label: str


def timeline(marks: Sequence[Mark], *, start: str, end: str, width: int = 1100, height: int = 70) -> str:
    """Verdicts along a time axis: a dot per verdict in its colour; an overridden one is ringed in the
    colour it became. `start` and `end` label the axis' ends."""
    left, right, axis = 12, 12, 30
    span = width - left - right
    parts = [f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="verdict timeline">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             f'<line x1="{left}" x2="{left + span}" y1="{axis}" y2="{axis}" stroke="#888" stroke-width="1.5"/>',
             f'<text x="{left}" y="{axis + 30}" {_FONT} font-size="11" fill="#444">{escape(start)}</text>',
             f'<text x="{left + span}" y="{axis + 30}" text-anchor="end" {_FONT} font-size="11" fill="#444">'
             f'{escape(end)}</text>']
    for mark in marks:
        if not 0 <= mark.at <= 1:
            raise ValueError("a mark's position is a fraction of the axis, 0..1")
        cx = left + mark.at * span
        fill = VERDICT_COLOURS.get(mark.verdict, "#777")
        if mark.overridden_to is not None:
            ring = VERDICT_COLOURS.get(mark.overridden_to, "#777")
            parts.append(f'<circle cx="{cx:.1f}" cy="{axis}" r="10" fill="none" stroke="{ring}" stroke-width="3"/>')
        parts.append(f'<circle cx="{cx:.1f}" cy="{axis}" r="6" fill="{fill}"><title>{escape(mark.label)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
