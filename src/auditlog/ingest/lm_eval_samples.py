"""lm-evaluation-harness per-sample files to run items.

Layouts read: `samples_<task>_<date>.jsonl` (0.4.3 and later; mid-2024 builds named
them `.json`), one object per line; and 0.4.0-0.4.2's `<model_args>_<task>.jsonl`,
which holds ONE JSON array despite its name. The content decides, not the extension.

One record per (document, filter): item_id is "<task>/<doc_id>/<filter>". The item
score is one per-sample metric, the task's *primary metric*: the first of PREFERRED
(else the first in the record) whose every value is a number in [0, 1] and that is
not marked lower-is-better. A task without one (e.g. only `mae`) yields no items, and
a note says so: values outside [0, 1] are not scores, and inventing a threshold would
put a number in the log that the harness never computed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.ingest.common import Notes, Progress, SourceFile, clean, fail, json_lines, load_json, number, text_of

PREFERRED = ("acc", "exact_match", "acc_norm", "pass@1", "pass_at_1", "em", "correct")
NOT_METRICS = frozenset({"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics",
                         "doc_hash", "prompt_hash", "target_hash", "task_name"})
SAMPLES_NAME = re.compile(r"samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.jsonl?\Z")

Record = tuple[str, dict[str, Any]]     # (position in the file, the record)


def sample_items(samples: Sequence[SourceFile], *, rows: Mapping[str, Mapping[str, Any]], data: Mapping[str, Any],
                 notes: Notes, results_date: str | None, primary_metric: str | Mapping[str, str] | None,
                 sample_tasks: Mapping[str, str], progress: Progress = None, parsed: int = 0) -> list[dict[str, Any]]:
    """Items from every samples file; `progress` hears the bytes parsed (`parsed`: before the first)."""
    total = parsed + sum(len(s.data) for s in samples)
    known = set(rows) | _keys(data, "configs") | _keys(data, "n-samples") | _keys(data, "versions")
    _check_named_files(samples, sample_tasks)
    seen: dict[str, SourceFile] = {}
    for source in samples:  # every file's task first (from names alone): a refusal comes before any parsing
        task = _task_of(source, known, results_date, sample_tasks)
        if task in seen:
            raise fail(source, "", f"is a second samples file for task {task!r} (the first: {seen[task].name})")
        seen[task] = source
    if isinstance(primary_metric, Mapping):
        for task in primary_metric:
            if task not in seen:
                raise InvalidInput("--primary-metric", f"task {task!r} has no samples file (they hold: "
                                                       f"{', '.join(seen)}; primary_metric in Python)")
    items: list[dict[str, Any]] = []
    for task, source in seen.items():
        records = _records(source)
        wanted = primary_metric.get(task) if isinstance(primary_metric, Mapping) else primary_metric
        items.extend(_task_items(source, task, records, rows.get(task, {}), data, notes, wanted))
        parsed += len(source.data)
        if progress is not None:
            progress(parsed, total)
    return items


def _check_named_files(samples: Sequence[SourceFile], sample_tasks: Mapping[str, str]) -> None:
    """Each file sample_tasks names is one of the samples: a misspelt name is refused, not left unused."""
    names = {n for s in samples for n in (s.name, s.basename)}
    for name in sample_tasks:
        if name not in names:
            raise InvalidInput("--samples-task", f"{name!r} is not one of the samples files "
                                                 "(sample_tasks in Python)")


def _keys(data: Mapping[str, Any], name: str) -> set[str]:
    value = data.get(name)
    return set(value) if isinstance(value, dict) else set()


def _task_of(source: SourceFile, known: set[str], results_date: str | None, sample_tasks: Mapping[str, str]) -> str:
    """The task a samples file belongs to: given, from `samples_<task>_<date>`, or (0.4.0-0.4.2)
    the longest known task name the file's stem ends with after an underscore."""
    name = source.basename
    if name in sample_tasks or source.name in sample_tasks:
        task = sample_tasks.get(name) or sample_tasks[source.name]
    elif match := SAMPLES_NAME.fullmatch(name):
        task = match.group("task")
        if results_date and match.group("date") != results_date:
            raise fail(source, "", f"is dated {match.group('date')} but the results file {results_date}: "
                                   "samples of another run")
    else:
        stem = name.rsplit(".", 1)[0]
        endings = [t for t in known if stem.endswith("_" + t)]
        if not endings:
            raise fail(source, "", "does not name a task of the results file (expected samples_<task>_<date>.jsonl "
                                   f"or <model>_<task>.jsonl): give --samples-task {name}=TASK "
                                   "(sample_tasks={file name: task})")
        task = max(endings, key=len)
    if task not in known:
        raise fail(source, "", f"holds samples of task {task!r}, which the results file does not have")
    return task


def _records(source: SourceFile) -> list[Record]:
    text = text_of(source)
    if text.lstrip().startswith("["):            # 0.4.0-0.4.2: one JSON array
        loaded = load_json(source, text)
        pairs = [(f"$[{i}]", r) for i, r in enumerate(loaded)]
    else:
        pairs = [(f"line {n}", r) for n, r in json_lines(source)]
    for where, record in pairs:
        if not isinstance(record, dict):
            raise fail(source, where, "must be a JSON object (one sample)")
        if type(record.get("doc_id")) not in (int, str):
            raise fail(source, f"{where} doc_id", "is missing or not an integer or string")
    return pairs


def _metric_names(record: Mapping[str, Any]) -> list[str]:
    listed = record.get("metrics")
    if isinstance(listed, list) and all(isinstance(m, str) for m in listed):
        return [m for m in listed if m in record]
    return [k for k in record if k not in NOT_METRICS]


def _usable(records: Sequence[Record], metric: str, higher_is_better: Any) -> bool:
    if isinstance(higher_is_better, Mapping) and higher_is_better.get(metric) is False:
        return False
    for _, record in records:
        value = record.get(metric)
        if type(value) is bool:
            continue
        score = number(value)
        if score is None or not 0 <= score <= 1:
            return False
    return True


def _primary(source: SourceFile, task: str, records: Sequence[Record], data: Mapping[str, Any],
             wanted: str | None) -> tuple[str | None, list[str]]:
    names: list[str] = []
    for _, record in records:
        names.extend(m for m in _metric_names(record) if m not in names)
    hib = data.get("higher_is_better", {}).get(task) if isinstance(data.get("higher_is_better"), dict) else None
    if wanted is not None:
        if wanted not in names:
            raise fail(source, "", f"has no per-sample metric {wanted!r} (it has: {', '.join(names) or 'none'})")
        if not _usable(records, wanted, hib):
            raise fail(source, "", f"metric {wanted!r} cannot be an item score: not every value is a number in "
                                   "[0, 1], or it is marked lower-is-better")
        return wanted, names
    ordered = [m for m in PREFERRED if m in names] + [m for m in names if m not in PREFERRED]
    return next((m for m in ordered if _usable(records, m, hib)), None), names


def _filters(row: Mapping[str, Any]) -> list[str]:
    """The task's filters in the order of its results keys ("<metric>,<filter>")."""
    found: list[str] = []
    for key in row:
        if "," in key and (f := key.split(",", 1)[1]) not in found:
            found.append(f)
    return found or ["none"]


def _task_items(source: SourceFile, task: str, records: Sequence[Record], row: Mapping[str, Any],
                data: Mapping[str, Any], notes: Notes, wanted: str | None) -> list[dict[str, Any]]:
    primary, names = _primary(source, task, records, data, wanted)
    if primary is None:
        notes.add(f"task {task}: no per-sample metric is a higher-is-better number in [0, 1] "
                  f"({', '.join(names) or 'none'}); its {len(records)} samples are not items")
        return []
    filters = _filters(row)
    if any("filter" not in r for _, r in records) and len(filters) > 1:
        notes.add(f"task {task}: samples carry no 'filter' (before 0.4.7); repeated doc_ids are taken to be the "
                  f"filters in results order ({', '.join(filters)})")
    occurrences: dict[Any, int] = {}
    dropped: dict[str, int] = {}
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for where, record in records:
        doc_id = record["doc_id"]
        filter_name = record.get("filter")
        if not isinstance(filter_name, str):
            k = occurrences.get(doc_id, 0)
            occurrences[doc_id] = k + 1
            filter_name = filters[k] if k < len(filters) else f"#{k + 1}"
        item_id = f"{task}/{doc_id}/{filter_name}"
        if item_id in seen:
            raise fail(source, where, f"repeats doc_id {doc_id!r} for filter {filter_name!r}")
        seen.add(item_id)
        score = float(record[primary])
        others = {}
        for metric in names:
            if metric == primary or metric not in record:
                continue
            value = record[metric]
            if isinstance(value, float) and number(value) is None:
                dropped[metric] = dropped.get(metric, 0) + 1
                continue
            others[metric] = clean(value, f"{source.basename} {where}.{metric}", notes)
        extra: dict[str, Any] = {"task": task, "doc_id": doc_id, "filter": filter_name, "metric": primary}
        if others:
            extra["metrics"] = others
        if isinstance(record.get("doc_hash"), str):
            extra["doc_hash"] = record["doc_hash"]
        items.append({"item_id": item_id, "score": score, "passed": score >= 1.0, "extra": extra})
    for metric, count in dropped.items():
        notes.add(f"task {task}: {count} per-sample values of {metric} were not finite; left out of item extra")
    _check_count(task, {r["doc_id"] for _, r in records}, data, notes)
    return items


def _check_count(task: str, doc_ids: set[Any], data: Mapping[str, Any], notes: Notes) -> None:
    counts = data.get("n-samples", {}).get(task) if isinstance(data.get("n-samples"), dict) else None
    effective = counts.get("effective") if isinstance(counts, dict) else None
    if type(effective) is int and effective != len(doc_ids):
        notes.add(f"task {task}: the samples file has {len(doc_ids)} documents, the results count {effective}")
