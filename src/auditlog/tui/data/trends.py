"""A metric across versions for one project, and optionally one model.

`projections.trend` defines the figures (avg, min, max, samples, last per version), for
a project's runs or one model's, so the definition stays in one place; `chart` is what the
trend screen plots of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import projections
from auditlog.render import safe_text

FIGURES = ("pass_rate", "mean_score")
BY = ("model_version", "experiment.version", "model_id")


def metrics(view: Any, project: str, model: str | None = None) -> list[str]:
    """pass_rate, mean_score, then every metric name of the project's (model's) runs, sorted."""
    import pyarrow.compute as pc

    runs = view.runs.filter(pc.equal(view.runs.column("project_id"), project))
    if model is not None:
        runs = runs.filter(pc.equal(runs.column("model_id"), model))
    names: set[str] = set()
    if runs.num_rows:
        import pyarrow as pa

        entry = pa.list_(pa.struct([("key", pa.string()), ("value", pa.float64())]))
        keys = pc.list_flatten(runs.column("metrics").combine_chunks().cast(entry)).field(0)
        names = {k for k in pc.unique(keys).to_pylist() if k is not None}
    return [*FIGURES, *sorted(names)]


def trend(view: Any, project: str, metric: str, *, model: str | None = None, by: str = "model_version") -> list[Any]:
    """projections.trend of `metric` for `project` (and `model`), one point per value of `by`."""
    return projections.trend(view, project, metric, by=by, model_id=model)


@dataclass(frozen=True)
class Chart:
    """What the trend screen plots: a position per version (1, 2, ...), its label, and the average, the
    lowest and the highest value of its runs there."""

    positions: list[int]
    labels: list[str]
    lines: dict[str, list[float]]  # "avg", "min", "max" -> one value per position

    @property
    def empty(self) -> bool:
        return not self.positions


def chart(points: list[Any]) -> Chart:
    """The chart of `trend`'s points, labels shown escaped (a plotting library draws them as they are)."""
    labels = [safe_text("(none)" if p.key is None else str(p.key), limit=16) for p in points]
    return Chart(list(range(1, len(points) + 1)), labels,
                 {"avg": [p.avg for p in points], "min": [p.min for p in points], "max": [p.max for p in points]})
