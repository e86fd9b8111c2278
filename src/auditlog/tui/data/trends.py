"""A metric across versions for one project, and optionally one model.

`projections.trend` defines the figures (avg, min, max, samples, last per version), for
a project's runs or one model's, so the definition stays in one place.
"""

from __future__ import annotations

from typing import Any

import projections

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
