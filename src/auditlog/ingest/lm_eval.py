"""lm-evaluation-harness results (0.4.0 and later) to a run document.

One results file is one run. Its metrics are flattened as "<task>/<metric>,<filter>",
exactly the harness's own keys under the task or group name, so a reader can find
each number in the source. Per-sample files, when given, become the run's items
(see lm_eval_samples). The harness writes Python's json output, so bare NaN and
Infinity occur; they are dropped from the metrics and the drop is noted in
config.ingest.notes. Docs: docs/ingest.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from auditlog.ingest.common import (
    Notes,
    Progress,
    SourceFile,
    check_given,
    clean,
    derived_run_id,
    fail,
    finish,
    json_spelling,
    load_json,
    number,
    object_at,
)
from auditlog.ingest.environment import lm_eval_environment
from auditlog.ingest.lm_eval_samples import sample_items

# Top-level keys that describe how the run was made: kept in config.lm_eval. Left out:
# `configs` (full task YAML with code, often tens of kB), `pretty_env_info`, and the raw
# `chat_template` / `system_instruction` (their SHA-256 is kept).
CONFIG_KEYS = (
    "config", "versions", "n-shot", "n-samples", "higher_is_better", "group_subtasks", "task_hashes",
    "git_hash", "upper_git_hash", "lm_eval_version", "transformers_version", "model_source",
    "fewshot_as_multiturn", "system_instruction_sha", "chat_template_sha",
)
# lm_eval's own order for finding the model in model_args (GeneralConfigTracker._get_model_name).
MODEL_ARG_KEYS = ("peft", "delta", "pretrained", "model", "path", "engine")
RESULTS_DATE = re.compile(r"_(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.json\Z")


def parse_lm_eval(results: SourceFile, samples: Sequence[SourceFile] = (), *, project_id: str | None = None,
                  model_id: str | None = None, run_id: str | None = None, tags: Mapping[str, str] | None = None,
                  primary_metric: str | Mapping[str, str] | None = None,
                  sample_tasks: Mapping[str, str] | None = None, progress: Progress = None) -> dict[str, Any]:
    """A run document from one lm-eval results JSON and, optionally, its per-sample files.

    project_id defaults to the one top-level task or group (refused when there are several);
    model_id to `model_name`, else the model in config.model_args; run_id to
    "<model_id>::<project_id>::lm-eval@<date>" from the file's `date` (start of the run,
    UTC), else from the file's SHA-256. `primary_metric` (one name, or {task: name})
    chooses the per-sample metric that becomes the item score; `sample_tasks` maps a
    sample file name to its task when the name does not follow the harness's pattern.
    A task or file name in either that none of the samples files has is refused.
    """
    check_given(run_id=run_id, project_id=project_id, model_id=model_id)
    notes = Notes()
    data = load_json(results)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise fail(results, "$.results", "is missing: this is not an lm-evaluation-harness results file")
    rows = _rows(results, data)
    if not any("," in key for row in rows.values() for key in row):
        raise fail(results, "$.results", "has no \"<metric>,<filter>\" keys: results of lm-eval before 0.4 are not "
                                         "supported")
    doc: dict[str, Any] = {"metrics": _metrics(rows, data, notes)}
    model = model_id or _model_name(data)
    if not model:
        raise fail(results, "$.config.model_args", "names no model: give --model (model_id)")
    project = project_id or _single_root(results, data, rows)
    stamp = _started_at(data)
    if stamp:
        doc["started_at"] = stamp.isoformat().replace("+00:00", "Z")
        source_key = "lm-eval@" + stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        source_key = "lm-eval@sha256:" + results.sha256[:16]
    doc = {"run_id": run_id or derived_run_id(model, project, source_key), "project_id": project,
           "model_id": model, **doc}
    config = object_at(data, "config")
    if isinstance(config.get("model_sha"), str) and config["model_sha"]:
        doc["model_version"] = config["model_sha"]
    roots = _roots(data, rows)
    if len(roots) == 1:
        version = (data.get("versions") or {}).get(roots[0]) if isinstance(data.get("versions"), dict) else None
        doc["dataset"] = {"name": roots[0], **({"version": str(version)} if version is not None else {})}
    doc["config"] = {"lm_eval": clean({k: data[k] for k in CONFIG_KEYS if k in data}, "$", notes)}
    doc["environment"] = clean(lm_eval_environment(data), "$.pretty_env_info", notes)
    if samples:
        match = RESULTS_DATE.search(results.basename)
        doc["items"] = sample_items(samples, rows=rows, data=data, notes=notes, results_date=match and match.group(1),
                                    primary_metric=primary_metric, sample_tasks=sample_tasks or {},
                                    progress=progress, parsed=len(results.data))
    return finish(doc, fmt="lm-eval", notes=notes, tags=tags, main=results)


def _rows(source: SourceFile, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Task and group rows: `results`, plus rows only in `groups` (0.4.0 kept some there)."""
    rows: dict[str, dict[str, Any]] = {}
    groups = object_at(data, "groups")
    for section, table in (("results", data["results"]), ("groups", groups)):
        for name, row in table.items():
            if not isinstance(row, dict):
                raise fail(source, f"$.{section}[{name!r}]", "must be an object of metrics")
            rows.setdefault(name, row)
    return rows


def _metrics(rows: Mapping[str, Mapping[str, Any]], data: Mapping[str, Any], notes: Notes) -> dict[str, Any]:
    """"<task>/<metric>,<filter>" for every numeric "<metric>,<filter>" key of every row.
    "N/A" (a stderr not computed) and non-finite values are left out, with a note."""
    metrics: dict[str, Any] = {}
    missing: list[str] = []
    for task, row in rows.items():
        for key, value in row.items():
            if "," not in key:
                continue        # alias, name, sample_len, sample_count: not metrics
            if number(value) is not None:
                metrics[f"{task}/{key}"] = value
            elif isinstance(value, float):
                notes.add(f"metric {task}/{key} is {json_spelling(value)} in the results file; left out")
            else:
                missing.append(f"{task}/{key}")
    if missing:
        notes.add(f"{len(missing)} metric values were not numbers (e.g. stderr \"N/A\") and were left out: "
                  + ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else ""))
    seconds: Any = data.get("total_evaluation_time_seconds")  # a string in the file; None is the TypeError below
    elapsed: float | None
    try:
        elapsed = float(seconds)
    except (TypeError, ValueError):
        elapsed = None
    if elapsed is not None and number(elapsed) is not None and elapsed >= 0:
        metrics["total_evaluation_time_seconds"] = elapsed
    return metrics


def _model_name(data: Mapping[str, Any]) -> str | None:
    if isinstance(data.get("model_name"), str) and data["model_name"].strip():
        return data["model_name"]
    config = object_at(data, "config")
    args = config.get("model_args")
    if isinstance(args, str):
        pairs = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    else:
        pairs = args if isinstance(args, dict) else {}
    for key in MODEL_ARG_KEYS:
        if isinstance(pairs.get(key), str) and pairs[key].strip():
            return pairs[key].strip()
    model = config.get("model")
    return model if isinstance(model, str) and model.strip() else None


def _roots(data: Mapping[str, Any], rows: Mapping[str, Any]) -> list[str]:
    """Top-level tasks and groups: those that are nobody's subtask."""
    tree = object_at(data, "group_subtasks")
    children = {c for subtasks in tree.values() if isinstance(subtasks, list) for c in subtasks if isinstance(c, str)}
    names = list(tree) or list(rows)
    return sorted({n for n in names if n not in children})


def _single_root(source: SourceFile, data: Mapping[str, Any], rows: Mapping[str, Any]) -> str:
    roots = _roots(data, rows)
    if len(roots) != 1:
        shown = ", ".join(roots[:5]) + (", ..." if len(roots) > 5 else "")
        raise fail(source, "$.group_subtasks", f"has {len(roots)} top-level tasks ({shown}): give --project (project_id)")
    return roots[0]


def _started_at(data: Mapping[str, Any]) -> datetime | None:
    """`date` is time.time() when simple_evaluate started (start_time/end_time are perf counters)."""
    date = number(data.get("date"))
    if date is None or date <= 0:
        return None
    try:
        return datetime.fromtimestamp(date, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
