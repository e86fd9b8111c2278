"""State is a fold over events: what each event type means for the runs, items and verdicts tables.

`fold_events` reads a stretch of the log once, in seq order. Each run recorded in it
goes to a runs sink as its decoded document and a few envelope fields, so that runs and
items are turned into Arrow columns a chunk of runs at a time (columns.py), with no
per-run or per-item row built in Python, and a rebuild never holds them all. It
returns a `Batch`: the verdict and baseline rows, and the events that change rows already folded
(annotations, supersessions, verdicts, overrides), applied afterwards with
`apply_changes` and `apply_overrides`. Nothing here touches a file or a store.

Event bodies are decoded with orjson (json.loads without it). The fold checks the chain as it
goes, so that nothing it folds is unverified: seqs are contiguous, every body is hashed and
must give the stored hash, and each event's `prev` names the hash the fold computed for the
one before. It also grows the Merkle tree over the bodies it hashed, so the root the
projections record is one they computed, not one the store claims. (That the bodies are
canonical events is `verify`'s full check; the fold reads the envelope members it uses.)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from auditlog.core import events as ev
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import SealedEvent
from auditlog.core.merkle import TreeBuilder
from auditlog.errors import IntegrityError, InvalidInput
from auditlog.evals.config import ProjectConfig, from_data, violations

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_NO_NODES = 64  # TreeBuilder.extend returns no completed subtree this high: only the root is wanted
_UTC_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?(?:Z|\+00:00)\Z")
_loads: Callable[[bytes | str], Any]
try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency
    from json import loads as _loads


RecordedRun = tuple[dict[str, Any], int, str, str, "str | None", bool, "int | None", "list[str] | None"]
"""A run.recorded event the fold keeps: (run document as decoded, seq, event hash, the event's ts,
document_sha256, whether some item may carry `extra`, the config_seq its event names, its
violations: None when there can be none, its project never configured and no config_seq named).
A plain tuple: one is made per run."""


class RunSink(Protocol):
    def add(self, recorded: RecordedRun) -> None: ...


@dataclass(frozen=True)
class Change:
    """An event that changes rows folded before it: run.annotated, run.superseded, verdict.recorded
    (the run's latest verdict) or verdict.overridden."""

    seq: int
    type: str
    subject: str
    data: dict[str, Any]


@dataclass
class Batch:
    """What a stretch of events (after, last_seq] adds to the tables."""

    after: int
    last_seq: int
    last_hash: str
    log_id: str | None = None
    changes: list[Change] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)
    configs: list[dict[str, Any]] = field(default_factory=list)


def parse_ts(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (validated on append) as an aware UTC datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def format_ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(TS_FORMAT)


def normalize_ts(value: str | None) -> str | None:
    """A timestamp as UTC text with microseconds and Z (the events' own `ts` form).

    Rows carry timestamps as this text: it sorts like the time, the manifest prints it
    as is, and Arrow casts it to timestamp[us, UTC] in C. UTC text (Z or +00:00) is
    rewritten without parsing a datetime; other offsets are converted.
    """
    if value is None:
        return None
    utc = _UTC_TS.match(value)
    if utc is None:
        return format_ts(parse_ts(value))
    return f"{utc[1]}.{(utc[2] or '')[1:7]:0<6}Z"


def canonical_text(value: Any) -> str | None:
    return None if value is None else canonical_bytes(value).decode("utf-8")


def fold_events(events: Iterable[SealedEvent], *, after: int, prev_hash: str, tree: TreeBuilder,
                is_recorded: Callable[[str], bool], runs: RunSink,
                configs: dict[str, tuple[int, ProjectConfig]] | None = None) -> Batch:
    """Fold the events after seq `after` (whose hash is `prev_hash`): the runs they record (with
    their items) to `runs`, the rest into the returned Batch; `tree` (at size after + 1) grows
    by their leaf hashes.

    `is_recorded(run_id)` says whether a run is already in the tables: a run id is
    recorded once (the first event counts; the writer refuses a second one anyway).
    `configs` holds the configuration in force per project ((seq, config), from the configs
    table) and is updated by the project.configured events folded: each run's violations are
    found against it. Raises IntegrityError when the events do not continue the chain, or a
    body does not hash to its stored hash.
    """
    configs = {} if configs is None else configs
    if tree.size != after + 1:
        raise ValueError(f"the tree has {tree.size} leaves; the fold starts after seq {after}")
    batch = Batch(after=after, last_seq=after, last_hash=prev_hash)
    seen: set[str] = set()
    expected = after + 1
    last_hash = prev_hash
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    add_run, run_recorded = runs.add, ev.RUN_RECORDED
    for sealed in events:
        seq = sealed.seq
        body = sealed.body
        computed = sha256(body).hexdigest()
        if computed != sealed.hash:
            raise IntegrityError(seq, f"the event's bytes hash to {computed}, not to its stored hash "
                                      f"{sealed.hash}: the log was altered; check it with `auditlog verify`")
        leaves.append(sha256(b"\x00" + body).digest())
        if len(leaves) >= 4096:
            tree.extend(leaves, _NO_NODES)
            leaves = []
        try:
            obj = _loads(body)  # orjson: the same values as json.loads, about 3x faster
            type_, prev, data = obj["type"], obj["prev"], obj["data"]
        except (ValueError, KeyError, TypeError, StopIteration):
            raise IntegrityError(seq, "the stored bytes are not an event: check the log with `auditlog verify`") from None
        if seq != expected or obj.get("seq") != seq:
            raise IntegrityError(expected, f"the log returned seq {seq} where seq {expected} was expected")
        if prev != last_hash:
            raise IntegrityError(seq, "the event does not link to the one before it (its prev is not that "
                                      "event's hash): check the log with `auditlog verify`")
        try:
            if type_ == run_recorded:
                run = data["run"]
                run_id = run["run_id"]
                if run_id not in seen and not is_recorded(run_id):
                    seen.add(run_id)
                    named, project = data.get("config_seq"), obj["project"]
                    found = violations(run, named, configs.get(project)) \
                        if named is not None or project in configs else None
                    add_run((run, seq, computed, obj["ts"], data.get("document_sha256"), b'"extra":' in body,
                             named, found))
            elif type_ == ev.VERDICT_RECORDED:
                batch.verdicts.append(_verdict_row(data, obj, seq=seq, event_hash=sealed.hash))
                batch.changes.append(Change(seq, type_, obj["subject"], data))
            elif type_ in (ev.RUN_ANNOTATED, ev.RUN_SUPERSEDED, ev.VERDICT_OVERRIDDEN):
                batch.changes.append(Change(seq, type_, obj["subject"], data))
            elif type_ == ev.BASELINE_PINNED:
                batch.baselines.append({"seq": seq, "ts": obj["ts"], "project_id": obj["project"],
                                        "model_id": data.get("model_id"), "run_id": data["run_id"],
                                        "reason": data.get("reason"), "actor": canonical_text(obj["actor"]),
                                        "event_hash": sealed.hash})
            elif type_ == ev.PROJECT_CONFIGURED:
                config = from_data(data)
                configs[obj["project"]] = (seq, config)
                batch.configs.append(config_row(config, seq=seq, ts=obj["ts"], project=obj["project"],
                                                actor=obj["actor"], event_hash=sealed.hash))
            elif type_ == ev.LOG_CREATED:
                batch.log_id = data.get("log_id", "")
        except (KeyError, TypeError, AttributeError, ValueError, InvalidInput) as exc:
            raise IntegrityError(seq, f"not a valid {type_} event ({type(exc).__name__}: {exc}): check the log "
                                      "with `auditlog verify`") from None
        last_hash = computed
        expected += 1
    batch.last_seq, batch.last_hash = expected - 1, last_hash
    tree.extend(leaves, _NO_NODES)
    return batch


def apply_changes(rows: dict[str, dict[str, Any]], changes: Iterable[Change]) -> set[str]:
    """Apply annotations, supersessions, verdicts and overrides, in seq order, to the run rows they name.

    `rows` holds every run the changes name (read back from the tables); changes about
    runs not there are facts about nothing and are skipped, and so is an override of a
    verdict that is no longer the run's latest. Returns the run ids changed.
    """
    changed = set()
    for change in changes:
        row = rows.get(change.subject)
        if row is None:
            continue
        if change.type == ev.RUN_ANNOTATED:
            tags = {**row["tags"], **change.data.get("tags", {})}
            row["tags"] = dict(sorted(tags.items(), key=_jcs_order))
            if "note" in change.data:
                row["notes"] = [*row["notes"], change.data["note"]]
        elif change.type == ev.RUN_SUPERSEDED:
            row.update(status="superseded", superseded_by=change.data.get("by"),
                       superseded_reason=change.data.get("reason"))
        elif change.type == ev.VERDICT_RECORDED:
            row.update(verdict=change.data["verdict"]["verdict"], verdict_seq=change.seq, override_seq=None,
                       verdict_computed_by=change.data["verdict"].get("computed_by"))
        elif change.type == ev.VERDICT_OVERRIDDEN and change.data.get("verdict_seq") == row["verdict_seq"]:
            row.update(verdict=change.data["to"], override_seq=change.seq)
        else:
            continue
        changed.add(change.subject)
    return changed


def apply_overrides(rows: dict[int, dict[str, Any]], changes: Iterable[Change]) -> set[int]:
    """Apply verdict.overridden events, in seq order, to the verdict rows (by seq) they name.

    Returns the seqs of the verdict rows changed."""
    changed = set()
    for change in changes:
        verdict_seq: Any = change.data.get("verdict_seq")  # an int in a valid event; anything else finds no row
        row = rows.get(verdict_seq) if change.type == ev.VERDICT_OVERRIDDEN else None
        if row is not None:
            row.update(overridden_to=change.data["to"], override_reason=change.data.get("reason"),
                       override_seq=change.seq)
            changed.add(row["seq"])
    return changed


def _jcs_order(item: tuple[str, Any]) -> bytes:
    """RFC 8785 orders keys by UTF-16 code units, as the log's bytes do; keep that order everywhere."""
    return item[0].encode("utf-16-be", "surrogatepass")


def config_row(config: ProjectConfig, *, seq: int, ts: str, project: str, actor: Any,
               event_hash: str) -> dict[str, Any]:
    """A row of the configs table (schema.CONFIGS)."""
    data = config.to_data()
    return {"seq": seq, "ts": ts, "project_id": project, "groups": data["groups"],
            "lower_is_better": data["lower_is_better"], "metric_bounds": canonical_text(data["metric_bounds"]),
            "actor": canonical_text(actor), "event_hash": event_hash}


def in_force(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[int, ProjectConfig]]:
    """The configuration in force per project after these configs rows (in seq order)."""
    import json
    found = {}
    for row in rows:
        found[row["project_id"]] = (row["seq"], from_data({"groups": list(row["groups"]),
                                                           "lower_is_better": list(row["lower_is_better"]),
                                                           "metric_bounds": json.loads(row["metric_bounds"])}))
    return found


def _verdict_row(data: dict[str, Any], obj: dict[str, Any], *, seq: int, event_hash: str) -> dict[str, Any]:
    v = data["verdict"]
    floats = {k: None if v.get(k) is None else float(v[k]) for k in ("delta", "p_value", "ci_low", "ci_high")}
    return {
        "seq": seq, "ts": obj["ts"], "project_id": obj["project"], "run_id": v["run_id"],
        "baseline_run_id": v["baseline_run_id"], "metric": v["metric"], **floats,
        "verdict": v["verdict"], "policy": canonical_text(v.get("policy")), "reason": v.get("reason"),
        "computed_by": v.get("computed_by"), "actor": canonical_text(obj["actor"]), "document_sha256": data.get("document_sha256"),
        "event_hash": event_hash, "overridden_to": None, "override_reason": None, "override_seq": None,
    }
