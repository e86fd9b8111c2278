"""A store evalsig wrote, then damaged or forged: every value of a manifest replaced by anything,
every byte of it at random. The import gives documents or InvalidInput, never another exception;
through the CLI, one line and exit 2 or 3, and no log."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog.errors import InvalidInput
from auditlog.evals.runs import normalize_run
from auditlog.ingest import SourceFile
from auditlog.ingest.evalsig import parse_manifest, run_document, verdict_document
from tests.hostile.hostile_support import NASTY, json_value
from tests.import_evalsig.conftest import write_store
from tests.support.cli import cli

FUZZ = settings(max_examples=150, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FIELDS = ["run_id", "model_id", "task_id", "metric_name", "ts", "path", "n_items", "config_hash", "delta",
          "p_value", "verdict", "parent_run_id", "unknown"]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[dict, dict[str, list[dict]]]:
    """A real store's `proj` manifest and each run's Parquet rows."""
    root = write_store(tmp_path_factory.mktemp("hostile") / "store")
    manifest = json.loads((root / "proj" / "manifest.json").read_text())
    rows = {r["run_id"]: pq.read_table(root / "proj" / r["path"]).to_pylist() for r in manifest["runs"]}
    return manifest, rows


def _documents(manifest_bytes: bytes, rows: dict[str, list[dict]]) -> None:
    try:
        project_id, records = parse_manifest(SourceFile("proj/manifest.json", manifest_bytes))
        for record in records:
            doc = run_document(project_id, record, rows.get(record.run_id, []), file=record.path)
            normalize_run(doc)
            verdict_document(record)
    except InvalidInput:
        pass


@FUZZ
@given(run=st.integers(0, 2), field=st.sampled_from(FIELDS),
       value=st.one_of(json_value, st.sampled_from(NASTY), st.none()))
def test_any_value_anywhere_in_the_manifest(written, run: int, field: str, value: object) -> None:
    manifest, rows = written
    forged = json.loads(json.dumps(manifest))
    forged["runs"][run][field] = value
    _documents(json.dumps(forged, allow_nan=True).encode(), rows)


@FUZZ
@given(data=st.one_of(st.binary(max_size=500), json_value.map(lambda v: json.dumps(v, allow_nan=True).encode())))
def test_random_bytes_as_a_manifest(written, data: bytes) -> None:
    _documents(data, written[1])


@pytest.mark.parametrize(("field", "value", "code"), [
    ("path", "../../../outside.parquet", 2), ("path", "/etc/passwd", 2), ("path", "year=2026/none.parquet", 3),
    ("run_id", "evil\x1b[2Jid", 2), ("score", None, 2), ("delta", "NaN", 2), ("n_items", 5, 2),
])
def test_a_forged_store_is_refused_in_one_line_and_no_log_is_made(tmp_path: Path, field: str, value: object,
                                                                  code: int) -> None:
    root = write_store(tmp_path / "store")
    path = root / "proj" / "manifest.json"
    manifest = json.loads(path.read_text())
    if field == "score":
        path = root / "proj" / manifest["runs"][0]["path"]
        path.write_bytes(path.read_bytes()[:-40])  # a truncated Parquet file
    else:
        manifest["runs"][0][field] = float(value) if value == "NaN" else value
        path.write_text(json.dumps(manifest))
    done = cli("import", "evalsig", root, "--log", tmp_path / "a.db")
    assert done.code == code, done
    assert done.err.count("\n") == 1 and "Traceback" not in done.err and "\x1b" not in done.err
    assert not (tmp_path / "a.db").exists()
