"""Malformed documents through the real CLI: exit 2, one line naming the field, log untouched.

The log is created once per module with one valid run, and every case checks that
its database file (and WAL) are byte-for-byte what they were before the attempt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import cli_support as s

BASE_RUN = s.run_doc("base-run")


def mutate(change: Callable[[dict[str, Any]], Any]) -> bytes:
    doc = s.deep(BASE_RUN)
    doc["run_id"] = "malformed"
    change(doc)
    return json.dumps(doc).encode()


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or, with value DELETE, remove) the field at a dotted path like `items.1.score`."""
    *parents, last = path.split(".")

    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DELETE:
            del target[int(last) if isinstance(target, list) else last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


DELETE = object()


def raw_with(key: str, value_json: str) -> bytes:
    """BASE_RUN with top-level `key` set to raw JSON text (for literals json.dumps will not make)."""
    doc = {k: v for k, v in BASE_RUN.items() if k != key}
    text = json.dumps({**doc, "run_id": "malformed"})
    return (text[:-1] + f', "{key}": {value_json}}}').encode()


# (case id, document bytes, what the single stderr line must contain)
RUN_CASES: list[tuple[str, bytes, str]] = [
    ("missing-project_id", mutate(setter("project_id", DELETE)), "$.project_id"),
    ("missing-model_id", mutate(setter("model_id", DELETE)), "$.model_id"),
    ("empty-run_id", mutate(setter("run_id", "")), "$.run_id"),
    ("blank-project_id", mutate(setter("project_id", "   ")), "$.project_id"),
    ("control-char-in-id", mutate(setter("model_id", "a\nb")), "$.model_id"),
    ("unknown-top-level-key", mutate(setter("colour", "blue")), "$.colour"),
    ("project_id-not-string", mutate(setter("project_id", 7)), "$.project_id"),
    ("model_version-not-string", mutate(setter("model_version", 1.5)), "$.model_version"),
    ("dataset-not-object", mutate(setter("dataset", "mmlu")), "$.dataset"),
    ("dataset-name-not-string", mutate(setter("dataset.name", ["x"])), "$.dataset.name"),
    ("dataset-unknown-key", mutate(setter("dataset.url", "http://x")), "$.dataset.url"),
    ("dataset-sha256-not-hex", mutate(setter("dataset.sha256", "z" * 64)), "$.dataset.sha256"),
    ("dataset-sha256-short", mutate(setter("dataset.sha256", "ab" * 8)), "$.dataset.sha256"),
    ("experiment-missing-id", mutate(setter("experiment", {"group": "A"})), "$.experiment.id"),
    ("config_fingerprint-not-string", mutate(setter("config_fingerprint", 12)), "$.config_fingerprint"),
    ("environment-not-object", mutate(setter("environment", [])), "$.environment"),
    ("started_at-not-a-date", mutate(setter("started_at", "yesterday")), "$.started_at"),
    ("started_at-no-zone", mutate(setter("started_at", "2024-06-01T12:00:00")), "$.started_at"),
    ("started_at-number", mutate(setter("started_at", 1717243200)), "$.started_at"),
    ("finished-before-started", mutate(setter("finished_at", "2024-06-01T11:00:00Z")), "$.finished_at"),
    ("metrics-not-object", mutate(setter("metrics", [0.5])), "$.metrics"),
    ("metrics-value-string", mutate(setter("metrics.accuracy", "0.5")), "$.metrics.accuracy"),
    ("metrics-value-bool", mutate(setter("metrics.accuracy", True)), "$.metrics.accuracy"),
    ("metrics-NaN", raw_with("metrics", '{"accuracy": NaN}'), "NaN"),
    ("metrics-1e999", raw_with("metrics", '{"accuracy": 1e999}'), "$.metrics.accuracy"),
    ("tags-value-int", mutate(setter("tags.suite", 3)), "$.tags.suite"),
    ("tags-not-object", mutate(setter("tags", ["a"])), "$.tags"),
    ("items-not-list", mutate(setter("items", {"q0": 1})), "$.items"),
    ("item-not-object", mutate(setter("items.1", "q1")), "$.items[1]"),
    ("item-unknown-key", mutate(setter("items.1.grade", "A")), "$.items[1].grade"),
    ("item-missing-item_id", mutate(setter("items.2.item_id", DELETE)), "$.items[2].item_id"),
    ("item-empty-item_id", mutate(setter("items.2.item_id", "")), "$.items[2].item_id"),
    ("item-item_id-int", mutate(setter("items.2.item_id", 2)), "$.items[2].item_id"),
    ("duplicate-item-ids", mutate(setter("items.3.item_id", "q1")), "$.items[3].item_id"),
    ("score-above-1", mutate(setter("items.1.score", 1.5)), "$.items[1].score"),
    ("score-int-above-1", mutate(setter("items.1.score", 2)), "$.items[1].score"),
    ("score-below-0", mutate(setter("items.1.score", -0.01)), "$.items[1].score"),
    ("score-string", mutate(setter("items.1.score", "0.5")), "$.items[1].score"),
    ("score-bool", mutate(setter("items.1.score", True)), "$.items[1].score"),
    ("score-null", mutate(setter("items.1.score", None)), "$.items[1].score"),
    ("score-missing", mutate(setter("items.1.score", DELETE)), "$.items[1].score"),
    ("passed-missing", mutate(setter("items.0.passed", DELETE)), "$.items[0].passed"),
    ("passed-as-0", mutate(setter("items.0.passed", 0)), "$.items[0].passed"),
    ("passed-as-string", mutate(setter("items.0.passed", "true")), "$.items[0].passed"),
    ("tokens-negative", mutate(setter("items.2.tokens", -1)), "$.items[2].tokens"),
    ("tokens-float", mutate(setter("items.2.tokens", 1.5)), "$.items[2].tokens"),
    ("latency-negative", mutate(setter("items.2.latency_ms", -3)), "$.items[2].latency_ms"),
    ("error-not-string", mutate(setter("items.2.error", {"code": 1})), "$.items[2].error"),
    ("extra-not-object", mutate(setter("items.2.extra", "x")), "$.items[2].extra"),
    ("int-too-large-in-config", mutate(setter("config", {"seed": 2**60})), "$.config.seed"),
    # beyond a float's range: math.isfinite raised OverflowError, a traceback (new-user review 3)
    ("score-int-of-400-digits", mutate(setter("items.1.score", 10**400)), "$.items[1].score"),
    ("metric-int-of-400-digits", mutate(setter("metrics.accuracy", -10**400)), "$.metrics.accuracy"),
    ("latency-int-of-400-digits", mutate(setter("items.2.latency_ms", 10**400)), "$.items[2].latency_ms"),
    ("scoped-metric-int-of-400-digits", mutate(setter("metric_scopes", {"eval": {"status": "valid",
                                                                                 "metrics": {"acc": 10**400}}})),
     "$.metric_scopes.eval.metrics.acc"),
    # more digits than Python reads (4,300): a ValueError, a traceback
    ("int-of-5000-digits", raw_with("config", '{"seed": 1' + "0" * 5000 + "}"), "4300 digits"),
    ("NaN-literal-in-score", json.dumps({**BASE_RUN, "run_id": "m"}).replace('"score": 0.7', '"score": NaN').encode(),
     "NaN"),
    ("Infinity-literal", raw_with("config", '{"t": Infinity}'), "Infinity"),
    ("negative-Infinity-literal", raw_with("config", '{"t": -Infinity}'), "Infinity"),
    ("duplicate-keys", b'{"project_id": "p", "model_id": "m", "project_id": "q"}', "duplicate key 'project_id'"),
    ("broken-json", b'{"project_id": "p",\n  "model_id": }', "line 2 column"),
    ("trailing-garbage", json.dumps(BASE_RUN).encode() + b" x", "line 1 column"),
    ("truncated-json", json.dumps(BASE_RUN).encode()[:-10], "line 1 column"),
    ("single-quotes", b"{'project_id': 'p'}", "line 1 column 2"),
    ("empty-file", b"", "empty"),
    ("whitespace-only", b" \n\t \r\n", "empty"),
    ("top-level-array", json.dumps([BASE_RUN]).encode(), "$: "),
    ("top-level-string", b'"run"', "$: "),
    ("top-level-null", b"null", "$: "),
    ("non-utf8", b'{"project_id": "p\xe9", "model_id": "m"}', "not UTF-8 at byte 17"),
    ("utf16", json.dumps(BASE_RUN).encode("utf-16"), "not UTF-8"),
    ("lone-surrogate", b'{"project_id": "p", "model_id": "m", "tags": {"a": "\\ud800"}}', "$.tags"),
    ("deeply-nested", b"[" * 100_000, "nested too deeply"),
    ("deeply-nested-config", b'{"project_id": "p", "model_id": "m", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "nested too deeply"),
]

VERDICT_CASES: list[tuple[str, bytes, str]] = [
    ("verdict-bad-value", json.dumps(s.verdict_doc("base-run", "base-run", verdict="MAYBE")).encode(), "$.verdict"),
    ("verdict-lowercase", json.dumps(s.verdict_doc("base-run", "base-run", verdict="allow")).encode(), "$.verdict"),
    ("verdict-p_value-2", json.dumps(s.verdict_doc("base-run", "base-run", p_value=2)).encode(), "$.p_value"),
    ("verdict-p_value-string", json.dumps(s.verdict_doc("base-run", "base-run", p_value="0.01")).encode(), "$.p_value"),
    ("verdict-ci_low-above-ci_high", json.dumps(s.verdict_doc("base-run", "base-run", ci_low=0.5, ci_high=0.1)).encode(),
     "$.ci_low"),
    ("verdict-delta-NaN", json.dumps(s.verdict_doc("base-run", "base-run")).replace('"delta": 0.0125', '"delta": NaN')
     .encode(), "NaN"),
    ("verdict-missing-metric", json.dumps({k: v for k, v in s.verdict_doc("base-run", "base-run").items()
                                           if k != "metric"}).encode(), "$.metric"),
    ("verdict-unknown-key", json.dumps(s.verdict_doc("base-run", "base-run", gate="x")).encode(), "$.gate"),
    ("verdict-policy-not-object", json.dumps(s.verdict_doc("base-run", "base-run", policy="strict")).encode(),
     "$.policy"),
    ("verdict-empty-run_id", json.dumps(s.verdict_doc("", "base-run")).encode(), "$.run_id"),
    ("verdict-top-level-array", b"[]", "$: "),
]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("malformed")
    db = d / "evals.db"
    s.ok("append", "run", s.write_json(d / "base.json", BASE_RUN), "--log", db)
    return db


def _assert_refused(db: Path, args: list[Any], expected: str, *, code: int = 2, input: bytes | None = None,
                    timeout: float = s.TIMEOUT) -> s.Result:
    before = s.fingerprint(db)
    assert before["db"] is not None
    result = s.cli(*args, "--log", db, input=input, timeout=timeout)
    assert result.code == code, str(result)
    assert "Traceback" not in result.err, str(result)
    lines = result.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr:\n{result.err[:3000]}"
    assert lines[0].startswith("auditlog: error: "), lines[0]
    assert expected in lines[0], f"{expected!r} not named in: {lines[0]}"
    assert len(lines[0]) < 2100, "the message is one readable line, not the document"
    assert result.stdout == b""
    assert s.fingerprint(db) == before, "a refused document changed the log"
    return result


def test_enough_cases() -> None:
    assert len(RUN_CASES) + len(VERDICT_CASES) >= 30
    assert len({c[0] for c in RUN_CASES + VERDICT_CASES}) == len(RUN_CASES) + len(VERDICT_CASES)


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_malformed_run(log: Path, tmp_path: Path, raw: bytes, expected: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(raw)
    result = _assert_refused(log, ["append", "run", path], expected)
    if "$" not in expected:  # refused while reading: the file is named
        assert str(path) in result.err


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in VERDICT_CASES], ids=[c[0] for c in VERDICT_CASES])
def test_malformed_verdict(log: Path, tmp_path: Path, raw: bytes, expected: str) -> None:
    path = tmp_path / "verdict.json"
    path.write_bytes(raw)
    _assert_refused(log, ["append", "verdict", path], expected)


@pytest.mark.parametrize("case", ["broken-json", "missing-model_id", "non-utf8"])
def test_malformed_on_stdin(log: Path, case: str) -> None:
    _, raw, expected = next(c for c in RUN_CASES if c[0] == case)
    result = _assert_refused(log, ["append", "run", "-"], expected, input=raw)
    if "$" not in expected:
        assert "<stdin>" in result.err


def test_fifty_megabytes_of_junk(log: Path, tmp_path: Path) -> None:
    """Junk that looks like a run until 50 MB in: refused quickly, with the position, nothing written."""
    path = tmp_path / "junk.json"
    item = b'{"item_id": "q%d", "score": 0.5, "passed": true},'
    with path.open("wb") as f:
        f.write(b'{"project_id": "p", "model_id": "m", "items": [')
        chunk = b"".join(item % i for i in range(10_000))
        while f.tell() < 50 * 1024 * 1024:
            f.write(chunk)
        f.write(b" @junk@ ]}")
    started = time.monotonic()
    _assert_refused(log, ["append", "run", path], "invalid JSON at line 1 column", timeout=30)
    assert time.monotonic() - started < 15


def test_fifty_megabytes_of_random_bytes(log: Path, tmp_path: Path) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(b"\xff\xfe\x00" * (50 * 1024 * 1024 // 3))
    _assert_refused(log, ["append", "run", path], "not UTF-8 at byte 0", timeout=30)


def test_a_directory(log: Path, tmp_path: Path) -> None:
    _assert_refused(log, ["append", "run", tmp_path], "is a directory")


def test_a_missing_file(log: Path, tmp_path: Path) -> None:
    _assert_refused(log, ["append", "run", tmp_path / "nope.json"], "nope.json: no such file", code=3)


def test_invalid_document_does_not_create_a_log(tmp_path: Path) -> None:
    """Bad input never writes anything: not even the log it would have gone to."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(mutate(setter("model_id", DELETE)))
    db = tmp_path / "new.db"
    result = s.cli("append", "run", bad, "--log", db)
    assert result.code == 2 and "$.model_id" in result.err, str(result)
    assert not db.exists()


def test_the_valid_run_is_still_alone(log: Path) -> None:
    """After every refusal above, the log still holds exactly its genesis and the one valid run."""
    report = s.ok("verify", "--log", log, "-o", "json").json()
    assert report["ok"] and report["size"] == 2
    assert [r["run_id"] for r in s.ok("history", "--log", log, "-o", "json").json()] == ["base-run"]
