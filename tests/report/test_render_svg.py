"""render_svg: points in, SVG text out. The SVG must parse, draw what it was given, and keep labels as text."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from auditlog.render_svg import Mark, Series, escape, line_chart, nice_ticks, timeline


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_a_chart_draws_a_dot_per_value_and_a_line_per_unbroken_stretch():
    svg = parse(line_chart(["1.0", "1.1", "1.2", "2.0"], [Series("a", (0.5, 0.6, None, 0.7)), Series("b", (None, 0.2, 0.3, 0.4))],
                           title="p: accuracy"))
    assert svg.tag == "svg"
    dots = svg.findall("circle")
    assert len(dots) == 6
    assert [d.find("title").text for d in dots[:3]] == ["a · 1.0: 0.5", "a · 1.1: 0.6", "a · 2.0: 0.7"]
    lines = svg.findall("polyline")
    assert len(lines) == 2  # a's 1.0-1.1 (its gap at 1.2 breaks it; 2.0 alone is a dot), and b's 1.1-2.0
    assert len(lines[1].get("points").split()) == 3
    texts = [t.text for t in svg.findall("text")]
    assert "p: accuracy" in texts and "a" in texts and "b" in texts and "1.2" in texts


def test_higher_values_are_drawn_higher_and_every_dot_inside_the_plot():
    svg = parse(line_chart(["x", "y", "z"], [Series("s", (1.0, 3.0, 2.0))], width=400, height=200))
    ys = [float(c.get("cy")) for c in svg.findall("circle")]
    assert ys[1] < ys[2] < ys[0]
    plot = svg.findall("rect")[1]
    top, bottom = float(plot.get("y")), float(plot.get("y")) + float(plot.get("height"))
    assert all(top <= y <= bottom for y in ys)


def test_labels_are_text_never_markup():
    hostile = '<script>alert(1)</script> & "quoted" \x00 \ud800'
    svg = line_chart([hostile], [Series(hostile, (1.0,))], title=hostile)
    assert "<script" not in svg
    root = parse(svg)  # still well-formed XML
    assert any(t.text and t.text.startswith("<script>alert(1)</script>") for t in root.iter("text"))
    assert "\x00" not in svg and "\ud800" not in svg
    assert escape("<a href='x'>") == "&lt;a href=&#x27;x&#x27;&gt;"


def test_one_value_and_no_values():
    one = parse(line_chart(["only"], [Series("s", (0.8,))]))
    assert len(one.findall("circle")) == 1 and not one.findall("polyline")
    none = parse(line_chart(["a"], [Series("s", (None,))]))
    assert [t.text for t in none.findall("text")] == ["no values"]


@pytest.mark.parametrize("values", [(0.5, math.nan), (math.inf, 1.0)])
def test_values_must_be_finite(values):
    with pytest.raises(ValueError, match="finite"):
        line_chart(["a", "b"], [Series("s", values)])


def test_a_series_needs_a_value_per_label():
    with pytest.raises(ValueError, match="one value"):
        line_chart(["a", "b"], [Series("s", (1.0,))])


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (0.43, 0.79), (1250.0, 1460.0), (-0.03, 0.02), (7.0, 7.0000001)])
def test_ticks_are_round_and_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1
    mantissa = round(steps.pop() / 10 ** math.floor(math.log10(ticks[1] - ticks[0])), 6)
    assert mantissa in (1, 2, 5, 10)
    assert 2 <= len(ticks) <= 8


def test_the_timeline_rings_an_overridden_verdict_in_the_colour_it_became():
    svg = parse(timeline([Mark(0.0, "ALLOW", None, "a"), Mark(1.0, "BLOCK", "ALLOW", "b <overridden>")],
                         start="2024-01-01", end="2024-02-01"))
    circles = svg.findall("circle")
    assert len(circles) == 3
    ring = circles[1]
    assert ring.get("fill") == "none" and ring.get("stroke") == "#009e73"
    assert circles[2].get("fill") == "#d55e00" and circles[2].find("title").text == "b <overridden>"
    with pytest.raises(ValueError, match="fraction"):
        timeline([Mark(1.5, "ALLOW", None, "x")], start="a", end="b")
