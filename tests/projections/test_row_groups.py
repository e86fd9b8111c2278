"""docs/projections.md, "Determinism" and "items": row groups of 4,096 rows in runs and verdicts and of
65,536 in items, cut by count, whatever the appends' batches; items' row groups carry seq statistics.
Read from the files a real log's projections wrote, with pyarrow."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

import projections
from auditlog import AuditLog

ITEMS = 65_536 + 4_096  # one big run, then one item for each of the 4,096 others: 4,097 runs


def _sizes(path: Path) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_row_groups_are_cut_by_count_as_documented(tmp_path: Path) -> None:
    one = [{"item_id": "a", "score": 1, "passed": True}]
    with AuditLog.open(tmp_path / "l.db") as log:
        log.record_run({"run_id": "big", "project_id": "p", "model_id": "m",
                        "items": [{"item_id": f"i{j}", "score": 1, "passed": True} for j in range(65_536)]})
        for batch in range(2):  # two transactions: the files do not depend on how events were batched
            with log.writer() as w:
                for i in range(batch * 2_048, (batch + 1) * 2_048):
                    w.record_run({"run_id": f"r{i}", "project_id": "p", "model_id": "m", "items": one})
        rebuilt = projections.rebuild(log, tmp_path / "p")
    view = projections.open_built(tmp_path / "p")
    assert rebuilt.counts["runs"] == 4_097 and rebuilt.counts["items"] == ITEMS
    [runs], [items] = view.state.runs, view.state.items
    assert _sizes(view.directory / runs.path) == [4_096, 1]
    assert _sizes(view.directory / items.path) == [65_536, 4_096]
    meta = pq.ParquetFile(view.directory / items.path).metadata
    seq = meta.schema.to_arrow_schema().get_field_index("seq")
    ranges = [(meta.row_group(g).column(seq).statistics.min, meta.row_group(g).column(seq).statistics.max)
              for g in range(meta.num_row_groups)]
    assert ranges == [(1, 1), (2, 4_097)], "min/max of seq: one run's items are found by the statistics"
