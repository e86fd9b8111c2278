"""Read models folded from the event log: Parquet tables, a manifest, and the queries on them.

Projections are handed the log (anything with `events(after=...)` and `head()`) and
import only `auditlog.core` and `auditlog.errors`, so they serve every store. They are
disposable: `rebuild` makes them again, byte for byte, from the log. pyarrow is
imported by the functions that use it, never by importing this package.

    import projections
    view = projections.open(log, "evals.db.projections")   # catch up, then read
    projections.list_runs(view, project_id="mmlu-pro")
"""

from projections.ab import ABFigure, ABRow, ABSummary, ab_summary
from projections.build import catch_up, compact, rebuild
from projections.disk import default_directory
from projections.export import export
from projections.queries import (
    ComparisonReport,
    FigureDelta,
    ItemChange,
    RunFrame,
    compare_runs,
    list_runs,
    load_run,
    pinned_baseline,
    query_runs,
)
from projections.schema import SCHEMA_VERSION
from projections.status import Status, status
from projections.trends import Trend, TrendPoint, marked_trend, trend
from projections.view import View, open, open_built, to_records

__all__ = [
    "ABFigure", "ABRow", "ABSummary", "ComparisonReport", "FigureDelta", "ItemChange", "RunFrame", "SCHEMA_VERSION",
    "Status", "Trend", "TrendPoint", "View", "ab_summary", "catch_up", "compact", "compare_runs", "default_directory",
    "export", "list_runs", "load_run", "marked_trend", "open", "open_built", "pinned_baseline", "query_runs",
    "rebuild", "status", "to_records", "trend",
]
