"""A metric across versions for one project, and optionally one model.

`projections.marked_trend` defines the figures (avg, min, max, samples, last per version), for
a project's runs or one model's, and which scoped metrics (`scope/name`) they use: valid headline
values only unless asked for more, as `auditlog trend` does, so the definition stays in one place;
`chart` is what the trend screen plots of them, `left_out` what it says it did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import projections
from auditlog.evals.scopes import counted_text
from auditlog.render import runs_by_status, safe_text

FIGURES = ("pass_rate", "mean_score")
BY = ("model_version", "experiment.version", "model_id")


def metrics(view: Any, project: str, model: str | None = None) -> list[str]:
    """pass_rate, mean_score, then every metric of the project's (model's) runs, sorted: unscoped names and
    scoped addresses (`scope/name`) alike, whatever their scope's status (the trend says what it left out)."""
    import pyarrow.compute as pc

    runs = view.runs.filter(pc.equal(view.runs.column("project_id"), project))
    if model is not None:
        runs = runs.filter(pc.equal(runs.column("model_id"), model))
    names: set[str] = set()
    if runs.num_rows:
        import pyarrow as pa

        entry = pa.list_(pa.struct([("key", pa.string()), ("value", pa.float64())]))
        for column in ("metrics", "scoped_metrics"):
            keys = pc.list_flatten(runs.column(column).combine_chunks().cast(entry)).field(0)
            names.update(k for k in pc.unique(keys).to_pylist() if k is not None)
    return [*FIGURES, *sorted(names)]


def trend(view: Any, project: str, metric: str, *, model: str | None = None, by: str = "model_version",
          include_status: str | None = None) -> list[Any]:
    """The points of `marked` (same arguments)."""
    return marked(view, project, metric, model=model, by=by, include_status=include_status).points


def marked(view: Any, project: str, metric: str, *, model: str | None = None, by: str = "model_version",
           include_status: str | None = None) -> Any:
    """projections.marked_trend of `metric` for `project` (and `model`), one point per value of `by`; a scoped
    metric's values only where its scope is valid and headline, unless `include_status` names more ("all")."""
    return projections.marked_trend(view, project, metric, by=by, model_id=model, include_status=include_status)


def left_out(found: Any) -> str | None:
    """What a trend left out, in words (`left out 2 runs invalid, 1 run diagnostic`); None when nothing."""
    if not found.left_out:
        return None
    return "left out " + runs_by_status(found.left_out)


def marks(point: Any) -> str:
    """A point's marks for its table row: the values used though not valid headline, and those left out."""
    return counted_text(point.included, point.left_out) or ""


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
