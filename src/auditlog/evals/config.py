"""A project's configuration: which experiment groups it has, which metrics are better when lower,
and the bounds a metric must stay within.

It is history too: each `project.configured` event carries the WHOLE configuration in force from
then on, so one event tells the state. This module is pure: it parses the CLI's options, reads
and writes the event's `data`, and checks a run against it (the Writer refuses a run that fails).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.evals.fields import field_path
from auditlog.evals.runs import check_identifier

KEYS = ("groups", "lower_is_better", "metric_bounds")
# How auditlog names an lm-eval metric (ingest/lm_eval.py): "<task>/<metric>,<filter>". The only
# metric names with a comma that the options read whole: one comma, after a `/`, none after it.
LM_EVAL_NAME = re.compile(r"[^,]+/[^,/]+,[^,/]+")


@dataclass(frozen=True)
class Bounds:
    """Inclusive bounds of a metric; None: that side is open."""

    min: float | None
    max: float | None

    def text(self) -> str:
        return f"{_number(self.min)}..{_number(self.max)}"

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class ProjectConfig:
    """The configuration in force: empty parts restrict nothing."""

    groups: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()
    metric_bounds: tuple[tuple[str, Bounds], ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.groups or self.lower_is_better or self.metric_bounds)

    def bounds(self) -> dict[str, Bounds]:
        return dict(self.metric_bounds)

    def to_data(self) -> dict[str, Any]:
        """The `data` of a project.configured event: names sorted, so equal configurations encode alike."""
        return {"groups": list(self.groups), "lower_is_better": list(self.lower_is_better),
                "metric_bounds": {name: {"max": b.max, "min": b.min} for name, b in self.metric_bounds}}

    def describe(self) -> str:
        """One line for people: `groups=a,b lower_is_better=x metric_bounds=acc=0..1`, or `(none)`."""
        parts = []
        if self.groups:
            parts.append("groups=" + ",".join(self.groups))
        if self.lower_is_better:
            parts.append("lower_is_better=" + ",".join(self.lower_is_better))
        if self.metric_bounds:
            parts.append("metric_bounds=" + ",".join(f"{n}={b.text()}" for n, b in self.metric_bounds))
        return " ".join(parts) or "(none)"

    def replaced(self, *, groups: Sequence[str] | None = None, lower_is_better: Sequence[str] | None = None,
                 metric_bounds: Mapping[str, Bounds] | None = None) -> ProjectConfig:
        """This configuration with the parts given replaced (None: kept as it is)."""
        return ProjectConfig(
            self.groups if groups is None else tuple(sorted(groups)),
            self.lower_is_better if lower_is_better is None else tuple(sorted(lower_is_better)),
            self.metric_bounds if metric_bounds is None else tuple(sorted(metric_bounds.items())))

    def check_run(self, run: Mapping[str, Any]) -> None:
        """InvalidInput naming the first field of `run` (a validated run document) that this
        configuration refuses: an experiment group it does not declare, a metric outside its bounds.
        A run without a group, or without a bounded metric, is not refused."""
        experiment = run.get("experiment") or {}
        group = experiment.get("group")
        if self.groups and group is not None and group not in self.groups:
            raise InvalidInput("$.experiment.group", f"{group!r} is not a group of project {run['project_id']!r} "
                                                     f"(configured: {', '.join(self.groups)})")
        for name, bounds in self.metric_bounds:
            path, value = _metric_at(run, name)
            if value is not None and not bounds.contains(value):
                raise InvalidInput(path, f"{value!r} is outside its bounds {bounds.text()} "
                                         f"(configured for project {run['project_id']!r})")


def violations(run: Mapping[str, Any], named: Any, in_force: tuple[int, ProjectConfig] | None) -> list[str]:
    """What is wrong with a recorded run against the configuration in force before it ((seq, config),
    or None): its event naming another configuration (`named`: its `config_seq`), and every field the
    configuration refuses. [] for every run auditlog's Writer recorded."""
    found = []
    if named != (None if in_force is None else in_force[0]):
        now = "none" if in_force is None else f"seq {in_force[0]}"
        names = "none" if named is None else repr(named)
        found.append(f"config_seq: the run names {names}; the configuration "
                     f"in force when it was recorded was {now}")
    if in_force is not None:
        try:
            in_force[1].check_run(run)
        except InvalidInput as exc:
            found.append(str(exc))
    return found


def from_data(data: Any) -> ProjectConfig:
    """The configuration a project.configured event's `data` carries; InvalidInput naming what is wrong."""
    if not isinstance(data, Mapping) or sorted(data) != list(KEYS):
        raise InvalidInput("data", f"a project configuration has exactly the keys {', '.join(KEYS)}")
    groups = _names(data["groups"], "data.groups")
    lower = _names(data["lower_is_better"], "data.lower_is_better")
    raw = data["metric_bounds"]
    if not isinstance(raw, Mapping):
        raise InvalidInput("data.metric_bounds", "must be an object")
    bounds = {}
    for name, value in raw.items():
        check_identifier(name, "data.metric_bounds")
        if not isinstance(value, Mapping) or sorted(value) != ["max", "min"]:
            raise InvalidInput(f"data.metric_bounds.{name}", "must be an object with min and max")
        bounds[name] = _bounds(value["min"], value["max"], f"data.metric_bounds.{name}")
    return ProjectConfig().replaced(groups=groups, lower_is_better=lower, metric_bounds=bounds)


def parse_names(texts: str | Sequence[str], option: str) -> list[str]:
    """Names from an option given once or repeated (`--groups a,b --groups c`): a comma separates
    names; "" adds none. Each name is an id (check_identifier's rules); a name given twice is refused."""
    values = [texts] if isinstance(texts, str) else list(texts)
    names = [part.strip() for text in values if text.strip() for part in text.split(",")]
    for name in names:
        check_identifier(name, option)
    return _names(names, option)


def parse_metric_names(texts: str | Sequence[str], option: str) -> list[str]:
    """Metric names from an option given once or repeated. lm-eval's metrics are named with a comma
    (`task/acc,none`), so a value is one name when it has that form (LM_EVAL_NAME: a single comma,
    after a `/`, and none after it), a comma-separated list when no part has a `/` (`latency_ms,cost_usd`),
    and refused as ambiguous otherwise (`judge/a,judge/b`: the option repeated says it). "" adds none."""
    values = [texts] if isinstance(texts, str) else list(texts)
    names: list[str] = []
    for text in (value.strip() for value in values):
        if "," not in text or LM_EVAL_NAME.fullmatch(text):
            names.extend([text] if text else [])
        elif "/" not in text:
            names.extend(part.strip() for part in text.split(","))
        else:
            raise InvalidInput(option, f"{text!r} is ambiguous: only a name of lm-eval's form TASK/METRIC,FILTER "
                                       f"is read whole; give each metric its own {option}")
    for name in names:
        check_identifier(name, option)
    return _names(names, option)


def parse_bounds(texts: Sequence[str], option: str = "--metric-bounds") -> dict[str, Bounds]:
    """`NAME=LO..HI` terms, comma-separated or repeated; either side may be left out (`latency_ms=0..`),
    not both. Numbers are finite, LO <= HI, and each metric is bounded once. A name may hold lm-eval's
    comma (`task/acc,none=0..1`): a term runs to its `=`, the name is what comes before its last `=`,
    and a name with a comma must have lm-eval's form (else a bound was left out, and it is refused)."""
    bounds: dict[str, Bounds] = {}
    terms = [term for text in texts if text.strip() for term in _bound_terms(text)]
    for term in terms:
        name, eq, spec = term.rpartition("=")
        name = name.strip()
        if not eq:
            raise InvalidInput(option, f"{term!r} is not NAME=LO..HI (e.g. accuracy=0..1)")
        if "," in name and not LM_EVAL_NAME.fullmatch(name):
            missing = name.split(",")[0].strip()
            raise InvalidInput(option, f"{term!r}: {missing!r} has no =LO..HI (a name with a comma must be "
                                       "lm-eval's TASK/METRIC,FILTER)")
        check_identifier(name, option)
        if name in bounds:
            raise InvalidInput(option, f"{name!r} is bounded twice")
        lo, dots, hi = spec.partition("..")
        if not dots or ".." in hi:
            raise InvalidInput(option, f"{term!r}: the bounds are LO..HI (either side may be left out), not {spec!r}")
        bounds[name] = _bounds(_parse_number(lo, option, term), _parse_number(hi, option, term), option, term)
    return bounds


def _bound_terms(text: str) -> list[str]:
    """The terms of one --metric-bounds value: split at commas, where a piece without `=` is the start
    of a name with a comma and is joined to the next (`task/acc,none=0..1` is one term)."""
    terms: list[str] = []
    pending: list[str] = []
    for piece in text.split(","):
        pending.append(piece)
        if "=" in piece:
            terms.append(",".join(pending).strip())
            pending = []
    if pending:  # no `=` to end it: refused by parse_bounds as not NAME=LO..HI
        terms.append(",".join(pending).strip())
    return terms


def _parse_number(text: str, option: str, term: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(option, f"{term!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidInput(option, f"{term!r}: {text!r} is not a finite number")
    return value


def _finite(value: int | float) -> bool:
    """math.isfinite, but False (not OverflowError) for an integer beyond a float's range."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _bounds(lo: Any, hi: Any, path: str, term: str | None = None) -> Bounds:
    where = f"{term!r}: " if term else ""
    for value in (lo, hi):
        if value is not None and (type(value) not in (int, float) or not _finite(value)):
            raise InvalidInput(path, f"{where}a bound must be a finite number or null, not {value!r}")
    if lo is None and hi is None:
        raise InvalidInput(path, f"{where}give at least one bound (LO.. or ..HI)")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput(path, f"{where}the lower bound {_number(lo)} is above the upper bound {_number(hi)}")
    return Bounds(None if lo is None else float(lo), None if hi is None else float(hi))


def _names(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(path, "must be a list of names")
    seen: set[str] = set()
    for name in value:
        check_identifier(name, path)
        if name in seen:
            raise InvalidInput(path, f"{name!r} is given twice")
        seen.add(name)
    return list(value)


def _metric_at(run: Mapping[str, Any], name: str) -> tuple[str, Any]:
    """The path and value of metric `name` in a run: a top-level metric, else a scoped one by its
    address `scope/metric` (docs/documents.md, metric scopes), in whatever status its scope is."""
    metrics = run.get("metrics") or {}
    if name in metrics or "/" not in name:
        return field_path("$.metrics", name), metrics.get(name)
    scope, _, metric = name.partition("/")
    block = (run.get("metric_scopes") or {}).get(scope) or {}
    return field_path(field_path("$.metric_scopes", scope) + ".metrics", metric), (block.get("metrics") or {}).get(metric)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    value = float(value)  # an int read back from an event's JSON
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
