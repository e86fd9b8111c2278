"""The run and verdict documents: their fields, their validation, their fingerprints.

Validation is strict because the log is forever: an unknown key, a score out of
range or a NaN is refused with the JSON path of the offending field, before
anything is written. Normalisation (generated run id, config fingerprint) is pure;
what must be captured from the machine (environment) is passed in.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

from auditlog.core.encoding import MAX_SAFE_INT, canonical_bytes
from auditlog.errors import InvalidInput
from auditlog.evals.canonical import canonical_items, canonical_object, canonical_plain, canonical_scalar, jcs_ready_item
from auditlog.evals.fields import check_object, field_path, kind_of, number_problem
from auditlog.evals.items import checked_optionals
from auditlog.evals.scopes import check_scopes

Verdict = Literal["ALLOW", "BLOCK", "NEEDS_REVIEW"]
VERDICTS: tuple[Verdict, ...] = ("ALLOW", "BLOCK", "NEEDS_REVIEW")
MAX_ID_LENGTH = 512

RUN_KEYS = frozenset({
    "run_id", "project_id", "model_id", "model_version", "dataset", "experiment", "config",
    "config_fingerprint", "environment", "started_at", "finished_at", "metrics", "metric_scopes", "items", "tags",
})
ITEM_KEYS = frozenset({"item_id", "score", "passed", "latency_ms", "tokens", "cost_usd", "error", "extra"})
DATASET_KEYS = frozenset({"name", "version", "sha256"})
EXPERIMENT_KEYS = frozenset({"id", "group", "version"})
VERDICT_KEYS = frozenset({
    "run_id", "baseline_run_id", "metric", "delta", "p_value", "ci_low", "ci_high",
    "verdict", "policy", "reason", "computed_by",
})

# Refused in identifiers: C0, DEL and C1 controls, what reorders text (bidi embeddings, overrides,
# isolates; LRM, RLM, ALM) and what prints nothing (zero-width spaces and joiners, word joiner, soft
# hyphen, BOM, Hangul fillers, tag characters...): with them an id displays as another ("cand\u200b"
# as "cand"). Keep in step with auditlog.render, which shows the same characters escaped.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = ("\u00ad\u115f\u1160\u180e\u200b-\u200d\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
              "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069" + _INVISIBLE + "]")
_DIRECTION_MARKS = frozenset("\u061c\u200e\u200f")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
# RFC 3339 section 5.6 date-time with its offset: "T" or, as its note allows, a space (upper-case T and Z only)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def document_sha256(doc: Mapping[str, Any]) -> str:
    """SHA-256 of the document as submitted (canonical form): the key of idempotent retries."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


FILLED_IN = ("environment", "config_fingerprint")  # what the writer may fill in on each append (run_id: the key)


def same_submission(recorded: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    """Whether a recorded run and ours (both as recorded: prepare_run's `run`) come from the same submitted
    document, as their equal document hashes claim: equal in every member but those a retry may fill in
    again otherwise (the environment it captures). A writer cannot verify a hash it did not compute, so
    an idempotent retry compares the content too: a run recorded by another writer under a copied
    document hash is not "already recorded"."""
    def submitted(run: Mapping[str, Any]) -> bytes:
        return canonical_bytes({k: v for k, v in run.items() if k not in FILLED_IN})
    try:
        return submitted(recorded) == submitted(ours)
    except InvalidInput:
        return False


def config_fingerprint(config: Any) -> str:
    """SHA-256 of the canonical config, so equal configs compare equal whatever their key order."""
    return hashlib.sha256(canonical_bytes(config)).hexdigest()


def new_run_id(model_id: str, project_id: str) -> str:
    return f"{model_id}::{project_id}::{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class PreparedRun:
    """A validated run: the document as recorded, its canonical bytes, and the submitted document's SHA-256."""

    run: dict[str, Any]
    canonical: bytes
    document_sha256: str


def normalize_run(doc: Any, *, environment: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Validate a run document; return the copy that is recorded and the submitted document's SHA-256."""
    prepared = prepare_run(doc, environment=environment)
    return prepared.run, prepared.document_sha256


def prepare_run(doc: Any, *, environment: Mapping[str, Any] | None = None) -> PreparedRun:
    """Validate a run document and encode it, once.

    Fills in what is generated when absent: run_id, config_fingerprint and, when
    `environment` is given, the captured environment. Each top-level value is encoded
    once: the submitted document's hash and the recorded run's bytes are joined from
    the same pieces. Raises InvalidInput("$.field", reason).
    """
    if not isinstance(doc, Mapping):
        raise InvalidInput("$", f"a run document is a JSON object, not {kind_of(doc)}")
    if not RUN_KEYS.issuperset(doc):
        unknown = sorted(set(doc) - RUN_KEYS)
        raise InvalidInput(field_path("$", unknown[0]), f"unknown field (allowed: {', '.join(sorted(RUN_KEYS))})")
    run = dict(doc)
    _identifier(run, "project_id", "$", required=True)
    _identifier(run, "model_id", "$", required=True)
    _identifier(run, "run_id", "$")
    _string(run, "model_version", "$")
    if "dataset" in run:
        check_object(run["dataset"], "$.dataset", DATASET_KEYS, required=("name",))
        _string(run["dataset"], "name", "$.dataset")
        _string(run["dataset"], "version", "$.dataset")
        sha = run["dataset"].get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha)):
            raise InvalidInput("$.dataset.sha256", "must be 64 lower-case hex digits")
    if "experiment" in run:
        check_object(run["experiment"], "$.experiment", EXPERIMENT_KEYS, required=("id",))
        _identifier(run["experiment"], "id", "$.experiment", required=True)
        _string(run["experiment"], "group", "$.experiment")
        _string(run["experiment"], "version", "$.experiment")
    _string(run, "config_fingerprint", "$")
    if "environment" in run and not isinstance(run["environment"], Mapping):
        raise InvalidInput("$.environment", f"must be an object, not {kind_of(run['environment'])}")
    started = _timestamp(run, "started_at")
    finished = _timestamp(run, "finished_at")
    if started and finished and finished < started:
        raise InvalidInput("$.finished_at", "is before started_at")
    plain_metrics = False
    if "metrics" in run:
        metrics = run["metrics"]
        if not isinstance(metrics, Mapping):
            raise InvalidInput("$.metrics", f"must be an object of numbers, not {kind_of(metrics)}")
        plain_metrics = type(metrics) is dict and _ascii_keys(metrics)  # as orjson writes them (see below)
        for name, value in metrics.items():
            kind = type(value)
            if kind is float and (1e-4 <= value < math.inf or -math.inf < value <= -1e-4) and not value.is_integer():
                continue  # finite, written alike by repr() and ECMAScript
            if kind is int and -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
                continue
            _finite(value, field_path("$.metrics", name))
            plain_metrics = False  # an integral or tiny float: the core's encoder writes it
    if "metric_scopes" in run:  # optional: a run without it is recorded exactly as before
        check_scopes(run["metric_scopes"], run.get("metrics"))
    ready = _items(run["items"]) if "items" in run else None
    if "tags" in run:
        _tags(run["tags"], "$.tags")

    # Canonical encoding also refuses NaN, Infinity and lone surrogates anywhere
    # (config, environment, extra), naming the path.
    members = {key: _encode_member(key, value) for key, value in run.items()
               if key != "items" and (key != "metrics" or not plain_metrics)}
    if "metrics" in run and plain_metrics:  # ASCII keys, safe ints, ordinary floats: one orjson call is JCS
        members["metrics"] = canonical_plain(run["metrics"])
    if "items" in run:
        items = run["items"]
        members["items"] = _encode_member("items", items, None if ready is None else partial(canonical_items, ready))
    document = canonical_object(members)
    submitted = hashlib.sha256(document).hexdigest()
    if "run_id" not in run:
        run["run_id"] = new_run_id(run["model_id"], run["project_id"])
    if "config_fingerprint" not in run and "config" in run:
        run["config_fingerprint"] = hashlib.sha256(members["config"]).hexdigest()
    if "environment" not in run and environment is not None:
        run["environment"] = dict(environment)
    added = run.keys() - members.keys()
    if not added:  # the document as submitted is the run as recorded: its bytes serve both
        return PreparedRun(run, document, submitted)
    for key in added:
        members[key] = _encode_member(key, run[key])
    return PreparedRun(run, canonical_object(members), submitted)


def _ascii_keys(value: dict[Any, Any]) -> bool:
    try:
        return "".join(value).isascii()
    except TypeError:  # a key that is not a string: the core's encoder names it
        return False


def _encode_member(key: str, value: Any, encode: Callable[[Any], bytes] | None = None) -> bytes:
    """canonical_bytes of one top-level value (by `encode`, if given), with error paths relative to the document."""
    try:
        return (encode or canonical_scalar)(value)
    except InvalidInput as exc:
        raise InvalidInput(field_path("$", key) + exc.field[1:], exc.reason) from None


def normalize_verdict(doc: Any) -> tuple[dict[str, Any], str]:
    """Validate a verdict document; return it and its SHA-256. The caller checks the runs it names exist."""
    if not isinstance(doc, Mapping):
        raise InvalidInput("$", f"a verdict document is a JSON object, not {kind_of(doc)}")
    check_object(doc, "$", VERDICT_KEYS, required=("run_id", "baseline_run_id", "metric", "verdict"))
    verdict = dict(doc)
    _identifier(verdict, "run_id", "$", required=True)
    _identifier(verdict, "computed_by", "$")
    if verdict["baseline_run_id"] is None:
        if "computed_by" not in verdict:  # else computed elsewhere: the other tool's figures, kept as given
            _no_baseline(verdict)
    else:
        _identifier(verdict, "baseline_run_id", "$", required=True)
    _identifier(verdict, "metric", "$", required=True)
    if verdict["verdict"] not in VERDICTS:
        raise InvalidInput("$.verdict", f"must be one of {', '.join(VERDICTS)}, not {verdict['verdict']!r}")
    for name in ("delta", "p_value", "ci_low", "ci_high"):
        if verdict.get(name) is not None:
            _finite(verdict[name], f"$.{name}")
    p_value = verdict.get("p_value")
    if p_value is not None and not 0.0 <= p_value <= 1.0:
        raise InvalidInput("$.p_value", f"must be in [0, 1], not {p_value!r}")
    low, high = verdict.get("ci_low"), verdict.get("ci_high")
    if low is not None and high is not None and low > high:
        raise InvalidInput("$.ci_low", f"{low!r} is above ci_high {high!r}")
    if "policy" in verdict and not isinstance(verdict["policy"], Mapping):
        raise InvalidInput("$.policy", f"must be an object, not {kind_of(verdict['policy'])}")
    _string(verdict, "reason", "$")
    if verdict["baseline_run_id"] == verdict["run_id"]:  # a comparison with itself says nothing (gate refuses it)
        raise InvalidInput("$.baseline_run_id", "names the run itself: a run cannot be its own baseline")
    return verdict, document_sha256(verdict)


def _no_baseline(verdict: Mapping[str, Any]) -> None:
    """A verdict with `"baseline_run_id": null` (a project's first run, nothing to compare with)
    compares nothing, so it has no figures, and it says why. Not so a verdict with `computed_by`:
    another tool (evalsig) compared against a run this log may not hold, and its figures are kept."""
    for name in ("delta", "p_value", "ci_low", "ci_high"):
        if verdict.get(name) is not None:
            raise InvalidInput(f"$.{name}", "must be null or absent in a verdict without a baseline")
    reason = verdict.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("$.reason", "is required in a verdict without a baseline: say why there is none")


def check_identifier(value: Any, path: str) -> str:
    """Ids are non-empty strings of at most MAX_ID_LENGTH characters, without control characters
    (C0, DEL, C1), bidirectional controls and direction marks, or characters that print nothing."""
    if not isinstance(value, str):
        raise InvalidInput(path, f"must be a string, not {kind_of(value)}")
    if not value.strip():
        raise InvalidInput(path, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(path, f"is {len(value)} characters long; at most {MAX_ID_LENGTH}")
    found = _CONTROL.search(value)
    if found:
        raise InvalidInput(path, _refused_character(found.group()))
    return value


def _refused_character(char: str) -> str:
    """Why an id cannot hold `char`: its code point, its Unicode name when it has one, its kind."""
    import unicodedata  # only on the error path
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}" + (f" ({name})" if name else "")
    if char in _DIRECTION_MARKS:
        return (f"contains {code}, an invisible direction mark: it changes how the text around it is shown, "
                "so ids must not contain it")
    if _BIDI.match(char):
        return (f"contains {code}, a bidirectional control: it makes an id display as another, "
                "so ids must not contain it")
    if ord(char) > 0x9F:
        return (f"contains {code}, an invisible character: it prints nothing, so an id holding it displays "
                "as another; ids must not contain it")
    kind = "a C1 control character" if 0x80 <= ord(char) <= 0x9F else "a control character"
    return f"contains {code}, {kind}: ids must not contain control characters"


def check_tags(tags: Any, path: str) -> dict[str, str]:
    _tags(tags, path)
    return dict(tags)


def _items(items: Any) -> list[dict[str, Any]] | None:
    """Check every item; the common case is a few type checks per item, paths only on error.

    Returns the items ready for orjson's one-call RFC 8785 encoding (evals.canonical.jcs_ready_item),
    or None when one of them needs the core's encoder."""
    if not isinstance(items, list):
        raise InvalidInput("$.items", f"must be a list, not {kind_of(items)}")
    seen: set[str] = set()
    control, known, fields = _CONTROL.search, seen.add, ITEM_KEYS.issuperset
    ready: list[dict[str, Any]] | None = []
    for i, item in enumerate(items):
        if type(item) is dict and fields(item):
            item_id, score = item.get("item_id"), item.get("score")
            score_: Any = score
            kind = type(score_)
            if (type(item_id) is str and 0 < len(item_id) <= MAX_ID_LENGTH and item_id not in seen
                    and not control(item_id) and item_id.strip()
                    and (kind is float or kind is int) and 0 <= score_ <= 1
                    and type(item.get("passed")) is bool):
                if len(item) == 3:  # item_id, score, passed
                    known(item_id)
                    if ready is not None:
                        if kind is int or not (score_ < 1e-4 or score_.is_integer()):
                            ready.append(item)  # as orjson writes it already
                        elif (prepared := jcs_ready_item(item)) is None:
                            ready = None
                        else:
                            ready.append(prepared)
                    continue
                prepared = checked_optionals(item)
                if prepared is not False:
                    known(item_id)
                    if prepared is None:
                        ready = None
                    elif ready is not None:
                        ready.append(prepared)
                    continue
        _item_error(item, f"$.items[{i}]", seen)
    return ready


def _item_error(item: Any, where: str, seen: set[str]) -> None:
    """Name what is wrong with an item that failed the fast checks."""
    if type(item) is not dict:
        raise InvalidInput(where, f"must be an object, not {kind_of(item)}")
    unknown = sorted(set(item) - ITEM_KEYS)
    if unknown:
        raise InvalidInput(field_path(where, unknown[0]), f"unknown item field (allowed: {', '.join(sorted(ITEM_KEYS))})")
    item_id = check_identifier(item.get("item_id"), f"{where}.item_id")
    if item_id in seen:
        raise InvalidInput(f"{where}.item_id", f"duplicate item id {item_id!r}")
    if "score" not in item:
        raise InvalidInput(f"{where}.score", "is required")
    score = _finite(item["score"], f"{where}.score")
    if not 0 <= score <= 1:
        raise InvalidInput(f"{where}.score", f"must be in [0, 1], not {score!r}")
    if type(item.get("passed")) is not bool:
        raise InvalidInput(f"{where}.passed", "is required and must be true or false")
    for name in ("latency_ms", "cost_usd"):
        if item.get(name) is not None and _finite(item[name], f"{where}.{name}") < 0:
            raise InvalidInput(f"{where}.{name}", "must not be negative")
    tokens = item.get("tokens")
    if tokens is not None and (type(tokens) is not int or tokens < 0):
        raise InvalidInput(f"{where}.tokens", "must be a non-negative integer")
    if item.get("error") is not None and not isinstance(item["error"], str):
        raise InvalidInput(f"{where}.error", "must be a string or null")
    if item.get("extra") is not None and not isinstance(item["extra"], dict):
        raise InvalidInput(f"{where}.extra", "must be an object")
    raise AssertionError(f"{where} failed a fast check but no rule names it")  # a bug, never user error


def _tags(tags: Any, path: str) -> None:
    if not isinstance(tags, Mapping):
        raise InvalidInput(path, f"must be an object of strings, not {kind_of(tags)}")
    for key, value in tags.items():
        check_identifier(key, f"{path} key {key!r}")
        if not isinstance(value, str):
            raise InvalidInput(field_path(path, key), f"must be a string, not {kind_of(value)}")


def _identifier(doc: Mapping[str, Any], name: str, parent: str, *, required: bool = False) -> None:
    if name in doc:
        value = doc[name]
        if type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.strip() and not _CONTROL.search(value):
            return  # check_identifier's rules, without building the path it names on error
        check_identifier(value, field_path(parent, name))
    elif required:
        raise InvalidInput(field_path(parent, name), "is required")


def _string(doc: Mapping[str, Any], name: str, parent: str) -> None:
    if name in doc and not isinstance(doc[name], str):
        raise InvalidInput(field_path(parent, name), f"must be a string, not {kind_of(doc[name])}")


def _timestamp(doc: Mapping[str, Any], name: str) -> datetime | None:
    if name not in doc:
        return None
    value = doc[name]
    try:  # fromisoformat alone also takes ISO 8601 forms RFC 3339 has not (20260101T10Z, 2026-W01-1T10:00Z)
        parsed = (datetime.fromisoformat(value.replace("Z", "+00:00"))
                  if isinstance(value, str) and _RFC3339.match(value) else None)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(f"$.{name}", f"must be an RFC 3339 timestamp with a time zone, not {value!r}")
    return parsed


def _finite(value: Any, path: str) -> float:
    if type(value) not in (int, float):
        raise InvalidInput(path, f"must be a number, not {kind_of(value)}")
    problem = number_problem(value)
    if problem:
        raise InvalidInput(path, problem)
    return value
