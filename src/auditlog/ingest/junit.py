"""JUnit XML test reports (pytest, Maven Surefire, and the many tools that copy them) to a run document.

Each <testcase> is an item "<classname>::<name>" (the name alone when classname is
empty, as for a pytest collection error): passed -> score 1, failure or error ->
score 0 with the message in `error`. Skipped tests are not items (they produced no
result; as items they would count as passes or failures that never happened) but
are counted in the metrics. The counts are those of the <testcase> elements: the
attributes of <testsuite> need not agree with them, and a note says when they do not.

Parsing is expat underneath xml.etree.ElementTree objects, with the line of every
element kept for messages. A document with a DOCTYPE or an ENTITY declaration is
refused: JUnit XML needs neither, and they are how entity-expansion attacks arrive.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from xml.parsers import expat

from auditlog.errors import InvalidInput
from auditlog.ingest.common import Notes, SourceFile, check_given, derived_run_id, fail, finish, number

RERUNS = ("rerunFailure", "rerunError", "flakyFailure", "flakyError")


class _Refused(Exception):
    pass


def parse_junit(source: SourceFile, *, project_id: str | None = None, model_id: str | None = None,
                run_id: str | None = None, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A run document from one JUnit XML report. project_id and model_id are required (the
    report names neither); run_id defaults to "<model_id>::<project_id>::junit@sha256:<16 hex
    of the file>", so ingesting the same report again is an idempotent retry."""
    check_given(run_id=run_id)
    if not project_id:
        raise InvalidInput("--project", "is required for a JUnit report, which names no project (project_id in Python)")
    if not model_id:
        raise InvalidInput("--model", "is required for a JUnit report, which names no model (model_id in Python)")
    notes = Notes()
    root, lines = _parse(source)
    if root.tag not in ("testsuites", "testsuite"):
        raise fail(source, f"line {lines[root]} <{root.tag}>", "is not a JUnit report: the root element must be "
                                                               "<testsuites> or <testsuite>")
    top = [root] if root.tag == "testsuite" else _child_suites(root)
    suites = _every_suite(top)  # (suite, the suite it is nested in), at any depth, in document order
    items, counts = _cases(source, root, lines, notes)
    doc: dict[str, Any] = {
        "run_id": run_id or derived_run_id(model_id, project_id, f"junit@sha256:{source.sha256[:16]}"),
        "project_id": project_id, "model_id": model_id, "items": items, "metrics": _metrics(counts, items),
        "config": {"junit": {"root": root.tag, "suites": [s.get("name", "") for s, _ in suites]}},
    }
    _times([s for s, _ in suites], doc, notes)
    _compare_declared(top, counts, notes)
    facts = [{**{k: s.get(k) for k in ("name", "timestamp", "time", "hostname", "tests", "failures", "errors",
                                       "skipped") if s.get(k) is not None},
              **({"in": parent.get("name", "")} if parent is not None else {})} for s, parent in suites]
    return finish(doc, fmt="junit", notes=notes, tags=tags, main=source, provenance={"suites": facts})


def _child_suites(element: ET.Element) -> list[ET.Element]:
    """The <testsuite>s directly in `element`, or in a <testsuites> wrapper in it."""
    found: list[ET.Element] = []
    for child in element:
        if child.tag == "testsuite":
            found.append(child)
        elif child.tag == "testsuites":
            found.extend(_child_suites(child))
    return found


def _every_suite(top: list[ET.Element]) -> list[tuple[ET.Element, ET.Element | None]]:
    """Every suite at any depth, each with the suite it is nested in (None for a top-level one)."""
    out: list[tuple[ET.Element, ET.Element | None]] = []

    def walk(suite: ET.Element, parent: ET.Element | None) -> None:
        out.append((suite, parent))
        for child in _child_suites(suite):
            walk(child, suite)

    for suite in top:
        walk(suite, None)
    return out


def _parse(source: SourceFile) -> tuple[ET.Element, dict[ET.Element, int]]:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    stack: list[ET.Element] = []
    lines: dict[ET.Element, int] = {}
    roots: list[ET.Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = ET.Element(tag.rsplit(":", 1)[-1], attrs)
        lines[element] = parser.CurrentLineNumber
        (stack[-1].append(element) if stack else roots.append(element))
        stack.append(element)

    def text(data: str) -> None:
        if stack and not len(stack[-1]):
            stack[-1].text = (stack[-1].text or "") + data

    def refuse(*_: Any) -> None:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _tag: stack.pop()
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    if not source.data.strip():
        raise fail(source, "", "is empty: nothing was written to it (an interrupted run?)")
    try:
        parser.Parse(source.data, True)
    except _Refused:
        raise fail(source, f"line {parser.CurrentLineNumber} column {parser.CurrentColumnNumber + 1}",
                   "declares a DOCTYPE or ENTITY: refused (DTDs and entities allow entity-expansion attacks; "
                   "JUnit XML needs none)") from None
    except expat.ExpatError as error:
        raise fail(source, f"line {error.lineno} column {error.offset + 1}",
                   f"is not well-formed XML: {expat.ErrorString(error.code)}") from None
    except (LookupError, UnicodeError, ValueError) as error:  # an encoding the XML declaration names that expat cannot read
        raise fail(source, "the XML declaration", f"names an encoding that cannot be read ({error})") from None
    return roots[0], lines


def _cases(source: SourceFile, root: ET.Element, lines: dict[ET.Element, int],
           notes: Notes) -> tuple[list[dict[str, Any]], dict[str, int]]:
    counts = {"passed": 0, "failures": 0, "errors": 0, "skipped": 0}
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    bad_times = 0
    for suite, case in _testcases(root, root if root.tag == "testsuite" else None):
        name = case.get("name")
        if not name or not name.strip():
            raise fail(source, f"line {lines[case]} <testcase>", "has no name attribute")
        classname = (case.get("classname") or "").strip()
        children = {child.tag: child for child in reversed(list(case))}   # the first of each tag
        outcome = ("error" if "error" in children else "failed" if "failure" in children
                   else "skipped" if "skipped" in children else "passed")
        counts[{"error": "errors", "failed": "failures"}.get(outcome, outcome)] += 1
        if outcome == "skipped":
            continue
        item_id = f"{classname}::{name}" if classname else name
        unique, k = item_id, 1
        while unique in seen:
            k += 1
            unique = f"{item_id}#{k}"
        seen.add(unique)
        passed = outcome == "passed"
        item: dict[str, Any] = {"item_id": unique, "score": 1.0 if passed else 0.0, "passed": passed}
        seconds = _seconds(case.get("time"))
        if seconds is not None:
            item["latency_ms"] = seconds * 1000.0
        elif case.get("time") is not None:
            bad_times += 1
        extra: dict[str, Any] = {"outcome": outcome, "suite": suite.get("name", "") if suite is not None else ""}
        for attr in ("classname", "file", "line"):
            if case.get(attr):
                extra[attr] = case.get(attr)
        if not passed:
            problem = children["error" if outcome == "error" else "failure"]
            item["error"] = _message(problem)
            if problem.get("type"):
                extra["type"] = problem.get("type")
        reruns = sum(1 for child in case if child.tag in RERUNS)
        if reruns:
            extra["reruns"] = reruns
        item["extra"] = extra
        items.append(item)
    if bad_times:
        notes.add(f"{bad_times} testcase time attributes are not non-negative numbers; latency not recorded for them")
    return items, counts


def _testcases(element: ET.Element, suite: ET.Element | None = None):  # noqa: ANN202 (a generator)
    for child in element:
        if child.tag == "testcase":
            yield suite, child
        elif child.tag in ("testsuite", "testsuites"):
            yield from _testcases(child, child)


def _message(problem: ET.Element) -> str:
    message = (problem.get("message") or "").strip()
    if message:
        return message
    lines = [line.strip() for line in (problem.text or "").splitlines() if line.strip()]
    return lines[0] if lines else problem.tag


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _metrics(counts: Mapping[str, int], items: list[dict[str, Any]]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"tests": sum(counts.values()), **counts}
    ran = counts["passed"] + counts["failures"] + counts["errors"]
    if ran:
        metrics["pass_rate"] = counts["passed"] / ran
    times = [i["latency_ms"] for i in items if "latency_ms" in i]
    if times:
        metrics["time_s"] = math.fsum(times) / 1000.0
    return metrics


def _times(suites: list[ET.Element], doc: dict[str, Any], notes: Notes) -> None:
    """started_at = the earliest suite timestamp, finished_at = the latest timestamp + time;
    only for timestamps with a time zone (a naive one cannot be placed; it stays in
    config.ingest.suites)."""
    starts, ends, naive = [], [], 0
    for suite in suites:
        try:
            stamp = datetime.fromisoformat((suite.get("timestamp") or "").replace("Z", "+00:00"))
        except ValueError:
            continue
        if stamp.tzinfo is None:
            naive += 1
            continue
        starts.append(stamp)
        seconds = _seconds(suite.get("time"))
        if seconds is not None:
            ends.append(stamp + timedelta(seconds=seconds))
    if naive:
        notes.add("suite timestamps have no time zone; started_at and finished_at are not recorded")
    if starts and not naive:
        doc["started_at"] = min(starts).isoformat()
        if len(ends) == len(starts):
            doc["finished_at"] = max(ends).isoformat()


def _compare_declared(top: list[ET.Element], counts: Mapping[str, int], notes: Notes) -> None:
    """Each count a report declares (tests, failures, errors, skipped) against the testcases' own,
    key by key: a key the suites do not declare is not compared, the others are (a truncated report
    declaring tests="30" over 3 testcases is noted though it declares no failures). A suite holding
    other suites is counted by its inner suites' declarations when every one of them declares the
    key, else by its own (see _declared): an outer suite's totals are never added to its inner ones'."""
    counted = {"tests": sum(counts.values()), "failures": counts["failures"], "errors": counts["errors"],
               "skipped": counts["skipped"]}
    declared: dict[str, int | float] = {}
    for key in counted:
        values = [_declared(suite, key) for suite in top]
        if values and all(v is not None for v in values):
            declared[key] = sum(v for v in values if v is not None)
    compared = {key: counted[key] for key in declared}
    if declared != compared:
        notes.add(f"the suites declare {declared} but the testcases count {compared}; the counts are used")


def _declared(suite: ET.Element, key: str) -> int | float | None:
    """What `suite` declares of count `key`, its nested suites included: the sum of its inner suites'
    declarations when it holds suites and no testcase of its own and every inner one declares it;
    else its own attribute; None when neither says."""
    inner = _child_suites(suite)
    if inner and not any(child.tag == "testcase" for child in suite):
        values = [_declared(child, key) for child in inner]
        if all(v is not None for v in values):
            return sum(v for v in values if v is not None)
    return number(_int(suite.get(key)))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
