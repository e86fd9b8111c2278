"""`auditlog export-evalsig`: the log's runs in evalsig's layout, read back by the real evalsig reader."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from evalsig.io.parquet import PARQUET_SCHEMA
from evalsig.store import list_runs, load_run

from tests.support.cli import cli


def test_an_imported_store_exported_reads_back_in_evalsig_as_it_was(store, tmp_path):
    db, out = tmp_path / "a.db", tmp_path / "out"
    assert cli("import", "evalsig", store, "--log", db).code == 0
    done = cli("export-evalsig", out, "--log", db)
    assert done.code == 0, done
    for project in ("proj", "other"):
        given, back = list_runs(store, project), list_runs(out, project)
        assert [h.record for h in back] == [h.record for h in given]  # every manifest field, in order
        for h in given:
            assert load_run(out, h.record.run_id, project_id=project) == load_run(store, h.record.run_id,
                                                                                   project_id=project)
            assert pq.read_schema(out / project / h.record.path) == PARQUET_SCHEMA


def test_runs_recorded_by_auditlog_export_as_evalsig_would_describe_them(tmp_path):
    db, out = tmp_path / "a.db", tmp_path / "out"
    assert cli("demo", "--log", db).code == 0
    assert cli("export-evalsig", out, "--log", db).code == 0
    projects = [p.name for p in out.iterdir()]
    assert projects
    for project in projects:
        history = {r["run_id"]: r for r in cli("history", "--log", db, "--project", project, "--all",
                                                "--output", "json").json()}
        runs = list_runs(out, project)
        assert {h.record.run_id for h in runs} == set(history)
        for h in runs:
            frame = load_run(out, h.record.run_id, project_id=project)
            assert len(frame.items) == history[h.record.run_id]["n_items"] == h.record.n_items
            assert h.record.verdict in (None, "ALLOW", "REJECT", "INCONCLUSIVE")
        assert json.loads((out / project / "manifest.json").read_text())["project_id"] == project


def test_export_of_an_empty_selection_is_not_found(tmp_path):
    db = tmp_path / "a.db"
    assert cli("init", "--log", db).code == 0
    done = cli("export-evalsig", tmp_path / "out", "--log", db)
    assert done.code == 3 and "no runs" in done.err
    assert not (tmp_path / "out").exists()
