"""Parts that merge by themselves: a catch-up writes only what changed, the part count stays logarithmic
without anyone running compact, and a reader holding an old generation is never broken by a merge."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import projections
from auditlog import AuditLog
from projections.disk import write_bytes
from projections.layers import merge_from
from projections.state import read_state

from .test_build import contents, digest


@pytest.mark.parametrize(("rows", "start"), [
    ([7], 0),  # nothing to merge
    ([100, 1], 1),  # a small part after a big one stays
    ([100, 2, 1], 1),  # 2 <= 2 * 1: the two small ones merge
    ([100, 30, 9, 5], 2),  # 9 <= 10 merges; 30 > 28 stays
    ([200, 30, 12, 9], 1),  # 12 <= 18, then 30 <= 42: the merge carries on (200 > 102 stays)
    ([0, 5], 0),  # an empty first part (a rebuild of a log without runs) is absorbed
    ([40, 30, 20, 10], 0),
])
def test_the_newest_part_absorbs_those_at_most_twice_its_size(rows: list[int], start: int) -> None:
    assert merge_from(rows) == start


def test_single_run_catch_ups_keep_few_parts_and_equal_a_rebuild(corpus, log_copy, tmp_path) -> None:  # noqa: ANN001
    directory = tmp_path / "inc"
    with AuditLog.open(log_copy, create=False) as copy:
        base = projections.rebuild(copy, directory)
        for k in range(70):
            copy.record_run(dict(corpus.runs[k % 20], run_id=f"again-{k}"))
            state = projections.catch_up(copy, directory)
            assert len(state.runs) <= 2 + math.log2(k + 1), f"after {k + 1} catch-ups: {len(state.runs)} parts"
            assert len(state.items) <= 1 + math.log2(state.counts["items"])
            for table in (state.runs, state.items):
                assert all(a.rows > 2 * b.rows for a, b in zip(table, table[1:])), "each over twice the next"
            assert state.runs[0] == base.runs[0], "the rebuild's big part is never rewritten by a catch-up"
        projections.rebuild(copy, tmp_path / "full")
    assert contents(projections.open_built(directory)) == contents(projections.open_built(tmp_path / "full"))
    assert projections.open_built(directory).manifest() == projections.open_built(tmp_path / "full").manifest()
    assert {p.relative_to(directory).as_posix() for p in directory.rglob("*.*")} - {"state.json", ".lock"} \
        == state.files(), "merged parts' files are gone"


def test_a_change_to_an_old_run_rewrites_only_the_part_that_holds_it(corpus, log_copy, tmp_path) -> None:  # noqa: ANN001
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        for k in range(3):
            copy.record_run(dict(corpus.runs[k], run_id=f"late-{k}"))
            before = projections.catch_up(copy, directory)
        copy.annotate("late-0", tags={"seen": "yes"})  # a run in the newest part
        after = projections.catch_up(copy, directory)
        assert after.runs[0] == before.runs[0] and after.runs[-1] != before.runs[-1]
        assert after.items == before.items, "no item changed"
        copy.annotate(corpus.runs[0]["run_id"], tags={"old": "yes"})  # a run in the big first part
        again = projections.catch_up(copy, directory)
        assert again.runs[0] != after.runs[0] and again.runs[1:] == after.runs[1:]
        view = projections.open(copy, directory)
        assert projections.list_runs(view, tags={"old": "yes"})[0]["run_id"] == corpus.runs[0]["run_id"]
        records = json.loads(view.manifest())["runs"]
        assert [r for r in records if r.get("tags.old") == "yes"][0]["run_id"] == corpus.runs[0]["run_id"]


def test_a_reader_holding_an_old_generation_is_not_broken_by_merges_or_a_compaction(corpus, log_copy,  # noqa: ANN001
                                                                                     tmp_path) -> None:
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        for k in range(2):
            copy.record_run(dict(corpus.runs[k], run_id=f"late-{k}"))
            projections.catch_up(copy, directory)
        old = projections.open_built(directory)  # nothing read yet: parts are read lazily
        expected = {"runs": old.state.counts["runs"], "items": old.state.counts["items"]}
        old_files = old.state.files()
        for k in range(2, 6):
            copy.record_run(dict(corpus.runs[k], run_id=f"late-{k}"))
            projections.catch_up(copy, directory)  # merges the newest parts, deletes the merged files
        projections.compact(directory)
        assert not any((directory / name).exists() for name in old_files - read_state(directory).files())
    assert old.runs.num_rows == expected["runs"] and old.items().num_rows == expected["items"]
    assert len(json.loads(old.manifest())["runs"]) == expected["runs"]
    assert projections.query_runs(old, limit=1, confirm=False).column("run_id").to_pylist() == ["late-1"]


def test_an_older_layout_is_rebuilt_and_its_files_swept(corpus, log_copy, tmp_path) -> None:  # noqa: ANN001
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        fresh = digest(directory)
        old_state = {"format": 2, "schema_version": 1, "log_id": "x", "position": {"seq": 3, "hash": "0" * 64},
                     "files": {"runs": "runs-" + "a" * 64 + ".parquet", "items": []}}
        write_bytes(directory / "state.json", json.dumps(old_state).encode())
        for name in ("runs-" + "a" * 64 + ".parquet", "manifest.json", "verdicts-" + "b" * 64 + ".parquet"):
            (directory / name).write_bytes(b"from an older auditlog")
        assert projections.catch_up(copy, directory).schema_version == projections.SCHEMA_VERSION
    assert digest(directory) == fresh, "rebuilt as new, and nothing of the older layout left"


def test_status_lists_every_part(corpus, log_copy) -> None:  # noqa: ANN001
    with AuditLog.open(log_copy, create=False) as copy:
        directory = Path(f"{log_copy}.projections")
        projections.rebuild(copy, directory)
        copy.record_run(dict(corpus.runs[0], run_id="late"))
        state = projections.catch_up(copy, directory)
        report = projections.status(copy, directory)
    kinds = [f["kind"] for f in report.files]
    assert kinds.count("runs") == kinds.count("manifest") == len(state.runs) == 2
    assert report.up_to_date and all(f["bytes"] is not None for f in report.files)
