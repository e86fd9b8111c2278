"""The manifest (merged from its parts): flat, one line per run in seq order, keys sorted, values exact,
newline at the end; each part is JSON Lines."""

from __future__ import annotations

import json

import projections
from auditlog import AuditLog

FIELDS = ("run_id", "project_id", "model_id", "model_version", "dataset_name", "experiment_id", "experiment_group",
          "experiment_version", "started_at", "recorded_at", "n_items", "pass_rate", "mean_score", "status",
          "superseded_by", "verdict", "seq", "event_hash")


def flat(run: dict) -> dict:
    out = {name: run[name] for name in FIELDS}
    out.update({f"metrics.{k}": v for k, v in run["metrics"].items()})
    out.update({f"tags.{k}": v for k, v in run["tags"].items()})
    return out


def test_manifest_is_one_sorted_flat_line_per_run(view, expected, log) -> None:  # noqa: ANN001
    text = view.manifest().decode("utf-8")
    parts = [(view.directory / p.manifest).read_text(encoding="utf-8") for p in view.state.runs]
    assert "".join(parts).splitlines() == [line.rstrip(",") for line in text.split("\n")[1:-2]], "JSON Lines parts"
    assert text.endswith("]}\n")
    lines = text.split("\n")
    head = json.loads(lines[0] + "]}")
    assert head == {"format": 1, "log_id": log.info()["log_id"], "runs": [],
                    "position": {"seq": log.head().size - 1, "hash": log.head().hash}}
    records = json.loads(text, object_pairs_hook=lambda pairs: pairs)[3][1]  # runs, keys in file order
    assert len(lines) == len(expected) + 3 and len(records) == len(expected)
    for pairs, line in zip(records, lines[1:-2]):
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        assert json.loads(line.rstrip(",")) == dict(pairs)
    want = [flat(r) for r in sorted(expected.values(), key=lambda r: r["seq"])]
    assert [dict(p) for p in records] == want


def test_strings_are_escaped_exactly(tmp_path) -> None:
    tricky = {"quote\"back\\slash": "a\"b\\c", "ctl": "line\nfeed\ttab\x01\x1f", "wide": "é ✓ 𝄞 \u2028"}
    doc = {"run_id": 'r"1\\', "project_id": "p", "model_id": "m", "model_version": "v\"2",
           "metrics": {"acc \"q\"": 0.1, "tiny": 1e-7, "big": 1e300, "whole": 3.0},
           "tags": tricky, "items": [{"item_id": "i", "score": 0.5, "passed": True}]}
    with AuditLog.open(tmp_path / "t.db") as log:
        log.record_run(doc)
        log.annotate(doc["run_id"], tags={"note": "del\x7f"})
        view = projections.open(log, tmp_path / "p")
        listed = projections.list_runs(view)  # while the log is open: the view confirms runs against it
    merged = projections.open_built(tmp_path / "p").manifest()
    manifest = json.loads(merged)
    [record] = manifest["runs"]
    assert record["run_id"] == doc["run_id"] and record["model_version"] == doc["model_version"]
    assert {k[5:]: v for k, v in record.items() if k.startswith("tags.")} == {**tricky, "note": "del\x7f"}
    assert {k[8:]: v for k, v in record.items() if k.startswith("metrics.")} == doc["metrics"]
    assert listed[0]["tags"] == {**tricky, "note": "del\x7f"}
    assert len(merged.split(b"\n")) == 4, "one line per run"
