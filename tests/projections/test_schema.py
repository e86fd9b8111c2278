"""The Parquet schemas are public API: pinned here, documented field by field, carried in the files.

Changing a field must be deliberate: update PINNED, bump SCHEMA_VERSION, update docs/projections.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from projections import schema

ROOT = Path(__file__).resolve().parents[2]

PINNED = {
    "runs": [
        ("run_id", "string", False), ("project_id", "string", False), ("model_id", "string", False),
        ("model_version", "string", True), ("dataset_name", "string", True), ("dataset_version", "string", True),
        ("dataset_sha256", "string", True), ("experiment_id", "string", True), ("experiment_group", "string", True),
        ("experiment_version", "string", True), ("config_fingerprint", "string", True),
        ("started_at", "timestamp[us, tz=UTC]", True), ("finished_at", "timestamp[us, tz=UTC]", True),
        ("recorded_at", "timestamp[us, tz=UTC]", False), ("n_items", "int64", False), ("n_passed", "int64", False),
        ("pass_rate", "double", True), ("mean_score", "double", True),
        ("metrics", "map<string, double>", False), ("scoped_metrics", "map<string, double>", False),
        ("scope_status", "map<string, string>", False), ("scope_reason", "map<string, string>", False),
        ("headline_scopes", "list<element: string>", False), ("tags", "map<string, string>", False),
        ("notes", "list<element: string>", False), ("status", "string", False), ("superseded_by", "string", True),
        ("superseded_reason", "string", True), ("verdict", "string", True), ("verdict_seq", "int64", True),
        ("override_seq", "int64", True), ("verdict_computed_by", "string", True),
        ("document_sha256", "string", True), ("config_seq", "int64", True),
        ("violations", "list<element: string>", False), ("seq", "int64", False), ("event_hash", "string", False),
    ],
    "items": [
        ("run_id", "string", False), ("seq", "int64", False), ("item_id", "string", False), ("score", "double", False),
        ("passed", "bool", False), ("latency_ms", "double", True), ("tokens", "int64", True),
        ("cost_usd", "double", True), ("error", "string", True), ("extra", "string", True),
    ],
    "verdicts": [
        ("seq", "int64", False), ("ts", "timestamp[us, tz=UTC]", False), ("project_id", "string", False),
        ("run_id", "string", False), ("baseline_run_id", "string", True), ("metric", "string", False),
        ("delta", "double", True), ("p_value", "double", True), ("ci_low", "double", True), ("ci_high", "double", True),
        ("verdict", "string", False), ("policy", "string", True), ("reason", "string", True), ("computed_by", "string", True),
        ("actor", "string", False), ("document_sha256", "string", True), ("event_hash", "string", False),
        ("overridden_to", "string", True), ("override_reason", "string", True), ("override_seq", "int64", True),
    ],
    "baselines": [
        ("seq", "int64", False), ("ts", "timestamp[us, tz=UTC]", False), ("project_id", "string", False),
        ("model_id", "string", True), ("run_id", "string", False), ("reason", "string", True),
        ("actor", "string", False), ("event_hash", "string", False),
    ],
    "configs": [
        ("seq", "int64", False), ("ts", "timestamp[us, tz=UTC]", False), ("project_id", "string", False),
        ("groups", "list<element: string>", False), ("lower_is_better", "list<element: string>", False),
        ("metric_bounds", "string", False), ("actor", "string", False), ("event_hash", "string", False),
    ],
}


def test_schema_version_and_tables_are_pinned() -> None:
    assert schema.SCHEMA_VERSION == 3, "a schema change bumps SCHEMA_VERSION (and PINNED, and the docs)"
    assert tuple(PINNED) == schema.TABLES
    for table, fields in PINNED.items():
        arrow = schema.arrow_schema(table)
        assert [(f.name, str(f.type), f.nullable) for f in arrow] == fields, table
        assert arrow.metadata[b"auditlog.schema_version"] == b"3"


def test_every_field_is_documented_with_its_type() -> None:
    doc = (ROOT / "docs" / "projections.md").read_text()
    for table, fields in schema.FIELDS.items():
        section = doc.split(f"### {table}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        documented = re.findall(r"^\| `(\w+)` \| `([^`]+)` \| (yes|no) \|", section, re.M)
        assert documented == [(f.name, f.type, "yes" if f.nullable else "no") for f in fields], table


def test_files_carry_the_schema(view) -> None:  # noqa: ANN001
    names = {"runs": view.state.runs[0].path, "verdicts": view.state.verdicts[0].path, "items": view.state.items[0].path,
             "baselines": view.state.baselines}
    for table, name in names.items():
        stored = pq.read_schema(view.directory / name)
        assert stored.equals(schema.arrow_schema(table), check_metadata=False), table
        assert stored.metadata[b"auditlog.schema_version"] == str(schema.SCHEMA_VERSION).encode()
        assert stored.metadata[b"auditlog.projection"] == table.encode()
