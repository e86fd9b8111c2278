"""inspect_ai eval logs (JSON or `.eval` archive, EvalLog version 2) to a run document.

One log is one run: eval.task is the default project, eval.model the model. Metrics
come from results.scores ("<score name>/<metric>"); items from the samples, one per
sample and epoch ("<id>#<epoch>"), scored by one scorer (the first in results.scores
unless chosen). Score values are read as inspect's own value_to_float does:
C = 1, P = 0.5, I = N = 0, yes/true = 1, no/false = 0, numbers and numeric strings
as they are. Docs: docs/ingest.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
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
    list_at,
    load_json,
    number,
    object_at,
)
from auditlog.ingest.environment import inspect_environment
from auditlog.ingest.inspect_archive import is_zip, read_archive

LETTERS = {"C": 1.0, "P": 0.5, "I": 0.0, "N": 0.0}
WORDS = {"yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}
EVAL_CONFIG_KEYS = ("task", "task_version", "task_file", "task_registry_name", "task_args", "solver", "solver_args",
                    "model_args", "model_generate_config", "model_base_url", "model_roles", "config", "revision",
                    "packages", "scorers", "metrics")
STATUSES = ("started", "success", "cancelled", "error")


def parse_inspect(source: SourceFile, *, project_id: str | None = None, model_id: str | None = None,
                  run_id: str | None = None, tags: Mapping[str, str] | None = None, scorer: str | None = None,
                  allow_incomplete: bool = False, progress: Progress = None) -> dict[str, Any]:
    """A run document from one inspect_ai log (`.json` or `.eval`; the content decides).

    Refused: a log that has not finished (status "started", or an archive without
    header.json), an unscored log, and (unless allow_incomplete) a cancelled or failed
    one; an incomplete log that is let in is tagged inspect_status=<status>.
    run_id defaults to "<model_id>::<project_id>::inspect@<eval_id>" (older logs:
    "inspect@<run_id>/<task_id>"), so ingesting the same log again is an idempotent retry.
    """
    check_given(run_id=run_id, project_id=project_id, model_id=model_id)
    notes = Notes()
    if is_zip(source.data):
        archive = read_archive(source, progress)
        log, samples, where = archive.header, archive.samples, "header.json "
        if archive.from_summaries:
            notes.add("the archive holds no sample files; items come from summaries.json")
    else:
        log = load_json(source)
        if not isinstance(log, dict):
            raise fail(source, "$", "must be a JSON object (an inspect_ai eval log)")
        samples, where = log.get("samples") or [], ""
        if not isinstance(samples, list):
            raise fail(source, "$.samples", "must be a list")
        for i, sample in enumerate(samples):
            if not isinstance(sample, dict):
                raise fail(source, f"$.samples[{i}]", "must be an object (an EvalSample)")
    spec = log.get("eval")
    if not isinstance(spec, dict) or not isinstance(spec.get("task"), str) or not isinstance(spec.get("model"), str):
        raise fail(source, f"{where}$.eval", "must be an object with task and model: this is not an inspect_ai log")
    status_tags: dict[str, str] = {}
    _check_status(source, where, log, len(samples), allow_incomplete, status_tags)
    results = object_at(log, "results")
    scores = list_at(results, "scores")
    name = _scorer(source, where, scorer, scores, spec, samples)
    project = project_id or spec["task"]
    model = model_id or spec["model"]
    key = f"inspect@{spec['eval_id']}" if spec.get("eval_id") else f"inspect@{spec.get('run_id')}/{spec.get('task_id')}"
    doc: dict[str, Any] = {"run_id": run_id or derived_run_id(model, project, key), "project_id": project,
                           "model_id": model}
    dataset = object_at(spec, "dataset")
    if isinstance(dataset.get("name"), str) and dataset["name"]:
        doc["dataset"] = {"name": dataset["name"]}
    stats = object_at(log, "stats")
    for field, stat in (("started_at", "started_at"), ("finished_at", "completed_at")):
        if _aware(stats.get(stat)):
            doc[field] = stats[stat]
        elif stats.get(stat):
            notes.add(f"stats.{stat} {stats[stat]!r} has no time zone; not recorded as {field}")
    doc["metrics"] = _metrics(scores, results, stats, notes)
    config = {k: spec[k] for k in EVAL_CONFIG_KEYS if k in spec}
    config["dataset"] = {k: dataset[k] for k in ("name", "location", "samples", "shuffled") if k in dataset}
    if "plan" in log:
        config["plan"] = log["plan"]
    doc["config"] = {"inspect": clean(config, "$.eval", notes)}
    doc["environment"] = clean(inspect_environment(spec), "$.eval.packages", notes)
    if samples:
        items = _items(samples, name, notes)
        if items is not None:
            doc["items"] = clean(items, "$.items", notes)
    else:
        notes.add("the log holds no samples (log_samples off?): metrics only, no items")
    if status_tags:
        doc["tags"] = status_tags
    return finish(doc, fmt="inspect", notes=notes, tags=tags, main=source)


def _check_status(source: SourceFile, where: str, log: Mapping[str, Any], n_samples: int, allow_incomplete: bool,
                  tags: dict[str, str]) -> None:
    status = log.get("status")
    if status not in STATUSES:
        raise fail(source, f"{where}$.status", f"must be one of {', '.join(STATUSES)}, not {status!r}")
    if status == "started":
        raise fail(source, f"{where}$.status", "is 'started': the eval has not finished; no results to record")
    if status != "success":
        error = object_at(log, "error")
        message = str(error.get("message") or "").strip().splitlines()
        why = f" ({message[0][:200]})" if message else ""
        if not allow_incomplete:
            raise fail(source, f"{where}$.status", f"is {status!r}{why}: only finished evals are recorded; "
                                                   f"--allow-incomplete (allow_incomplete=True) records its "
                                                   f"{n_samples} samples anyway, tagged inspect_status={status}")
        tags["inspect_status"] = status


def _scorer(source: SourceFile, where: str, wanted: str | None, scores: list[Any], spec: Mapping[str, Any],
            samples: list[dict[str, Any]]) -> str | None:
    """The score name whose per-sample values become item scores."""
    present: list[str] = []
    for sample in samples:
        if isinstance(sample, dict) and isinstance(sample.get("scores"), dict):
            present.extend(k for k in sample["scores"] if k not in present)
    if wanted is not None:
        if wanted not in present:
            raise fail(source, "", f"has no per-sample scores named {wanted!r} "
                                   f"(it has: {', '.join(present) or 'none'})")
        return wanted
    listed = [s.get("name") for s in scores if isinstance(s, dict)]
    listed += [s.get("name") for s in spec.get("scorers") or [] if isinstance(s, dict)]
    if not present and not any(isinstance(s, dict) and s.get("metrics") for s in scores):
        raise fail(source, f"{where}$.results.scores", "is empty and no sample has a score: the eval ran without "
                                                       "scoring; score it (inspect score) and ingest the scored log")
    return next((n for n in listed if n in present), present[0] if present else None)


def _metrics(scores: list[Any], results: Mapping[str, Any], stats: Mapping[str, Any], notes: Notes) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    names = [s.get("name") for s in scores if isinstance(s, dict)]
    for entry in scores:
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
            continue
        prefix = entry.get("name")
        if names.count(prefix) > 1:
            prefix = f"{prefix}/{entry.get('reducer') or 'default'}"
        for metric_name, metric in entry["metrics"].items():
            value = metric.get("value") if isinstance(metric, dict) else None
            if number(value) is not None:
                metrics[f"{prefix}/{metric_name}"] = value
            elif isinstance(value, float):
                notes.add(f"metric {prefix}/{metric_name} is {json_spelling(value)}; left out")
            else:
                notes.add(f"metric {prefix}/{metric_name} is not a number ({type(value).__name__}); left out")
    for count in ("total_samples", "completed_samples"):
        if number(results.get(count)) is not None:
            metrics[count] = results[count]
    usage = object_at(stats, "model_usage")
    for field in ("input_tokens", "output_tokens", "total_tokens"):
        values = [u.get(field) for u in usage.values() if isinstance(u, dict) and type(u.get(field)) is int]
        if values:
            metrics[field] = sum(values)
    return metrics


def to_float(value: Any) -> float | None:
    """inspect's value_to_float for scalars; None where inspect would warn and guess 0
    (lists, objects, other strings). NaN (Score.unscored) stays NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if value in LETTERS:
            return LETTERS[value]
        if value.lower() in WORDS:
            return WORDS[value.lower()]
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def _items(samples: list[dict[str, Any]], scorer: str | None, notes: Notes) -> list[dict[str, Any]] | None:
    """One item per sample and epoch; None (with a note) when the scorer's values are not scores in [0, 1]."""
    items: list[dict[str, Any]] = []
    unscored = errored = 0
    for sample in sorted(samples, key=_order):
        scores = object_at(sample, "scores")
        score = scores.get(scorer) if scorer is not None and isinstance(scores.get(scorer), dict) else None
        error = sample.get("error")
        message = error.get("message") if isinstance(error, dict) else (error if isinstance(error, str) else None)
        value = to_float(score.get("value")) if score else None
        if score is not None and value is None:
            notes.add(f"scorer {scorer}: value {score.get('value')!r} of sample {sample.get('id')} is not a score; "
                      "no items recorded (choose another scorer)")
            return None
        if value is not None and not math.isnan(value) and not 0.0 <= value <= 1.0:
            notes.add(f"scorer {scorer}: value {value!r} of sample {sample.get('id')} is outside [0, 1]; "
                      "no items recorded (choose another scorer)")
            return None
        if value is None or math.isnan(value):
            if message is None:
                unscored += 1
                continue
            value, errored = 0.0, errored + 1
        item: dict[str, Any] = {"item_id": f"{sample.get('id')}#{sample.get('epoch', 1)}", "score": value,
                                "passed": value >= 1.0, "extra": _extra(sample, scorer, scores)}
        if message is not None:
            item["error"] = str(message)
        _usage(sample, item)
        items.append(item)
    if unscored:
        notes.add(f"{unscored} samples have no {scorer} score and no error; they are not items")
    if errored:
        notes.add(f"{errored} samples failed with an error and have no score; recorded with score 0, passed false")
    return items


def _order(sample: Mapping[str, Any]) -> tuple[Any, ...]:
    """inspect's own order: by sample id (numbers before strings), then epoch."""
    sid, epoch = sample.get("id"), sample.get("epoch")
    return (0, sid, "") if type(sid) is int else (1, 0, str(sid)), epoch if type(epoch) is int else 0


def _extra(sample: Mapping[str, Any], scorer: str | None, scores: Mapping[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"sample_id": sample.get("id"), "epoch": sample.get("epoch", 1), "scorer": scorer}
    raw = {k: s.get("value") for k, s in scores.items() if isinstance(s, dict)
           and (isinstance(s.get("value"), (str, bool)) or number(s.get("value")) is not None)}
    if raw:
        extra["scores"] = raw
    metadata = object_at(sample, "metadata")
    flat = {k: v for k, v in metadata.items() if isinstance(v, (str, bool)) or number(v) is not None}
    if flat:
        extra["metadata"] = flat       # scalars only: what a cluster_key can name
    return extra


def _usage(sample: Mapping[str, Any], item: dict[str, Any]) -> None:
    seconds = number(sample.get("total_time"))
    if seconds is not None and seconds >= 0:
        item["latency_ms"] = seconds * 1000.0
    usage = object_at(sample, "model_usage")
    tokens = [u["total_tokens"] for u in usage.values() if isinstance(u, dict) and type(u.get("total_tokens")) is int
              and u["total_tokens"] >= 0]
    if tokens:
        item["tokens"] = sum(tokens)
    costs = [u["total_cost"] for u in usage.values() if isinstance(u, dict) and number(u.get("total_cost")) is not None
             and u["total_cost"] >= 0]
    if costs:
        item["cost_usd"] = math.fsum(costs)


def _aware(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False
