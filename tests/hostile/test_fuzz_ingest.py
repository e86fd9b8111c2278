"""Every ingest parser, on mutated real tool outputs and on random bytes: a run document or
InvalidInput, never another exception.

The real files are in ../shared/data/eval-outputs/ beside the repository (skipped, saying
so, where they are absent). Mutations are at three levels: bytes (flip, cut, insert,
truncate), JSON structure (replace or delete one value anywhere in the tree, then
re-serialise), and for inspect `.eval` archives one member rewritten inside a valid zip.
What a parser returns must itself be a valid run document (the parsers promise that).
Derandomized: the same examples on every run.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog import InvalidInput
from auditlog.evals.runs import normalize_run
from auditlog.ingest import SourceFile, parse_inspect, parse_junit, parse_lm_eval

from .hostile_support import EVAL_OUTPUTS, NASTY, json_value

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CORPUS = {
    "lm-eval": ["lm-eval/results_2024-06-17T15-44-37.867068.json", "lm-eval/results_2025-06-30T19-40-09.461247.json",
                "lm-eval/results_2024-08-21T03-44-09.494230.json",
                "lm-eval/legacy/v0.4.2-dev_pr1668_gpt-3.5-turbo-0125_wmdp/results.json"],
    "lm-eval+samples": [("lm-eval/results_2025-06-30T19-40-09.461247.json",
                         "lm-eval/samples_polymer_tg_prediction_2025-06-30T19-40-09.461247.jsonl")],
    "inspect": ["inspect/log_formats.json", "inspect/log_formats.eval", "inspect/log_streaming.eval",
                "inspect/2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"],
    "junit": ["junit/report.xml", "junit/TEST-action.surefire.report.calc.CalcUtilsTest.xml",
              "junit/junit.gloo.elastic.spark.tf.xml"],
}


def _outputs() -> Path:
    if not EVAL_OUTPUTS.is_dir():
        pytest.skip(f"the real eval outputs are not at {EVAL_OUTPUTS} (shared/ beside the repository)")
    return EVAL_OUTPUTS


def _parse(kind: str, data: bytes, name: str, samples: bytes | None = None, sample_name: str = "") -> Any:
    source = SourceFile(name, data)
    if kind.startswith("lm-eval"):
        extra = [SourceFile(sample_name, samples)] if samples is not None else []
        return parse_lm_eval(source, extra)
    if kind == "inspect":
        return parse_inspect(source)
    return parse_junit(source, project_id="fuzz", model_id="fuzz-model")


def _only_invalid_input(call: Callable[[], Any]) -> str:
    """Run a parser: a valid run document ("ok") or InvalidInput ("refused"); anything else fails the test."""
    try:
        doc = call()
    except InvalidInput as exc:
        assert str(exc).strip(), "an InvalidInput must say what is wrong"
        return "refused"
    normalize_run(doc)  # what a parser returns is a valid run document
    json.dumps(doc, allow_nan=False)
    return "ok"


# -- mutations ----------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "cut", "insert", "truncate", "duplicate", "nasty"))
        at = rng.randrange(max(1, len(buf)))
        if op == "flip" and buf:
            buf[at] ^= 1 << rng.randrange(8)
        elif op == "cut":
            del buf[at:at + rng.randint(1, 64)]
        elif op == "insert":
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == "truncate":
            del buf[at:]
        elif op == "duplicate":
            buf[at:at] = buf[at:at + rng.randint(1, 256)]
        else:
            buf[at:at] = rng.choice(NASTY).encode("utf-8", "surrogatepass")
    return bytes(buf)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:20]):
            out += _paths(v, (*prefix, i))
    return out


def mutate_json(obj: Any, rng: random.Random, replacement: Any) -> Any:
    """Replace (or delete) the value at one random path of the tree."""
    paths = _paths(obj)[1:] or [()]
    depth = rng.choice(sorted({len(p) for p in paths}))  # shallow paths as likely as deep ones
    path = rng.choice([p for p in paths if len(p) == depth])
    if not path:
        return replacement
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    if rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return obj


def _dump(obj: Any, rng: random.Random) -> bytes:
    return json.dumps(obj, ensure_ascii=rng.random() < 0.5, allow_nan=True).encode("utf-8", "surrogatepass")


def mutate_structure(kind: str, name: str, data: bytes, rng: random.Random, replacement: Any) -> bytes:
    if name.endswith(".eval"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [(info, archive.read(info)) for info in archive.infolist()]
        target = rng.randrange(len(members))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, (info, raw) in enumerate(members):
                if index == target:
                    if rng.random() < 0.15:
                        continue  # a member missing
                    raw = _dump(mutate_json(json.loads(raw), rng, replacement), rng)
                archive.writestr(info.filename, raw)
        return out.getvalue()
    if name.endswith(".xml"):
        text = data.decode("utf-8")
        spots = [i for i, c in enumerate(text) if c == '"']
        if len(spots) >= 2:
            start = rng.choice(spots[:-1])
            end = text.index('"', start + 1)
            value = str(replacement).replace('"', "&quot;").replace("<", "&lt;").replace("&", "&amp;")
            text = text[:start + 1] + value + text[end:]
        return text.encode("utf-8", "surrogatepass")
    if name.endswith(".jsonl"):
        lines = data.splitlines()
        at = rng.randrange(len(lines))
        lines[at] = _dump(mutate_json(json.loads(lines[at]), rng, replacement), rng)
        return b"\n".join(lines)
    return _dump(mutate_json(json.loads(data), rng, replacement), rng)


# -- the tests ----------------------------------------------------------------------------------


def _cases(kind: str) -> list[tuple[str, str | None]]:
    return [(c, None) if isinstance(c, str) else c for c in CORPUS[kind]]


@pytest.mark.parametrize("kind", list(CORPUS))
def test_the_unmutated_files_parse(kind: str) -> None:
    root = _outputs()
    for main, samples in _cases(kind):
        sample_bytes = (root / samples).read_bytes() if samples else None
        doc = _parse(kind, (root / main).read_bytes(), main, sample_bytes, samples or "")
        normalize_run(doc)


@pytest.mark.parametrize("kind", list(CORPUS))
def test_mutated_bytes_give_a_document_or_invalid_input(kind: str) -> None:
    root = _outputs()
    cases = _cases(kind)
    files = {name: (root / name).read_bytes() for case in cases for name in case if name}
    seen: dict[str, int] = {}

    @FUZZ
    @given(case=st.sampled_from(cases), seed=st.integers(0, 2**32 - 1), in_samples=st.booleans())
    def check(case: tuple[str, str | None], seed: int, in_samples: bool) -> None:
        main, samples = case
        rng = random.Random(seed)
        data, sample_data = files[main], files[samples] if samples else None
        if samples and in_samples:
            sample_data = mutate_bytes(sample_data, rng)
        else:
            data = mutate_bytes(data, rng)
        outcome = _only_invalid_input(lambda: _parse(kind, data, main, sample_data, samples or ""))
        seen[outcome] = seen.get(outcome, 0) + 1

    check()
    print(f"{kind} byte mutations: {seen}")


@pytest.mark.parametrize("kind", list(CORPUS))
def test_mutated_structure_gives_a_document_or_invalid_input(kind: str) -> None:
    root = _outputs()
    cases = _cases(kind)
    files = {name: (root / name).read_bytes() for case in cases for name in case if name}
    seen: dict[str, int] = {}

    @FUZZ
    @given(case=st.sampled_from(cases), seed=st.integers(0, 2**32 - 1), replacement=json_value, in_samples=st.booleans())
    def check(case: tuple[str, str | None], seed: int, replacement: Any, in_samples: bool) -> None:
        main, samples = case
        rng = random.Random(seed)
        data, sample_data = files[main], files[samples] if samples else None
        if samples and in_samples:
            sample_data = mutate_structure(kind, samples, sample_data, rng, replacement)
        else:
            data = mutate_structure(kind, main, data, rng, replacement)
        outcome = _only_invalid_input(lambda: _parse(kind, data, main, sample_data, samples or ""))
        seen[outcome] = seen.get(outcome, 0) + 1

    check()
    print(f"{kind} structural mutations: {seen}")
    assert seen.get("refused", 0) + seen.get("ok", 0) == sum(seen.values())


@pytest.mark.parametrize("kind", ["lm-eval", "inspect", "junit"])
@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), st.binary(max_size=64).map(lambda b: b"PK\x03\x04" + b),
                      st.binary(max_size=64).map(lambda b: b"<?xml version='1.0'?><testsuite>" + b),
                      json_value.map(lambda v: json.dumps(v, allow_nan=True).encode())),
       name=st.sampled_from(["results.json", "log.eval", "log.json", "report.xml", "x"]))
def test_random_bytes_give_invalid_input(kind: str, data: bytes, name: str) -> None:
    _only_invalid_input(lambda: _parse(kind, data, name))


@pytest.mark.parametrize("payload, needle", [
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite>&x;</testsuite>', ""),
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
     b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
     b'<testsuite name="&d;"><testcase name="t"/></testsuite>', ""),
    (b"<testsuite>" * 100_000, ""),
])
def test_hostile_xml_is_refused(payload: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_junit(SourceFile("evil.xml", payload), project_id="p", model_id="m")
    assert "root:" not in str(caught.value)  # /etc/passwd never read


def test_deeply_nested_json_is_refused() -> None:
    for kind, name in (("lm-eval", "results.json"), ("inspect", "log.json")):
        with pytest.raises(InvalidInput):
            _parse(kind, b"[" * 200_000 + b"]" * 200_000, name)
        with pytest.raises(InvalidInput):
            _parse(kind, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, name)
