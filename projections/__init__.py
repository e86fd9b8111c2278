"""Read models folded from the event log: run summaries now, Parquet snapshots to come.

Projections are handed the log (anything with `events(after=...)` and `head()`)
and import only `auditlog.core` and `auditlog.errors`, so they serve every store.
"""

from projections.fold import RunsFold, history

__all__ = ["RunsFold", "history"]
