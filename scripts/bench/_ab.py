"""A/B timing shared by the benchmarks: interleaved repetitions, min and median, the load beside each ratio.

These machines are noisy (2 cores, other work). A ratio is only meaningful when both sides ran
under the same conditions, so the repetitions alternate (A B, B A, A B, ...) rather than running
all of A and then all of B, and each ratio line carries the load average it was measured under.
The minimum is the figure (the run least disturbed); the median says how steady it was.

Import it from a benchmark in this directory with `from _ab import ...` (run_all skips files
that start with "_"), or by path where a benchmark takes this directory off sys.path.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timings:
    """Seconds per repetition of one side."""

    seconds: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class AB:
    ours: Timings
    base: Timings

    def slowdown(self) -> tuple[float, float]:
        """ours / base, by min and by median: for targets written as "<= Nx" (lower is better)."""
        return self.ours.min / self.base.min, self.ours.median / self.base.median

    def speed(self) -> tuple[float, float]:
        """base / ours, by min and by median: for targets written as ">= Nx" (higher is better)."""
        return self.base.min / self.ours.min, self.base.median / self.ours.median


def interleaved(ours: Callable[[], object], base: Callable[[], object], repetitions: int,
                before: Callable[[], object] | None = None) -> AB:
    """Time `ours` and `base` alternately, `repetitions` times each, starting with each side in turn.

    `before` runs (untimed) before every timed call: a fresh file, a dropped cache."""
    timed: dict[str, list[float]] = {"ours": [], "base": []}
    sides = {"ours": ours, "base": base}
    for rep in range(repetitions):
        for name in (("ours", "base") if rep % 2 == 0 else ("base", "ours")):
            if before is not None:
                before()
            start = time.perf_counter()
            sides[name]()
            timed[name].append(time.perf_counter() - start)
    return AB(Timings(tuple(timed["ours"])), Timings(tuple(timed["base"])))


def load_average() -> str:
    """The 1- and 5-minute load averages, as printed beside each ratio."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # not on this platform
        return "load n/a"
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def ratio_line(label: str, by_min: float, by_median: float, target: str | None = None, met: bool | None = None) -> str:
    """One `ratio` line as run_all.py reads it: the figure (by min), the median, the load, the target."""
    verdict = "" if met is None else (": met" if met else ": MISSED")
    target_text = f"(target {target}{verdict})" if target else "(no target)"
    return f"ratio {label}: {by_min:.2f}x   median {by_median:.2f}x, {load_average()}   {target_text}"
