"""Where the projections stand against the log: position, lag, files, staleness. Read-only.

Staleness is told from the log itself (the time of the first event not yet applied),
never from a clock kept in the projections: state.json holds no wall-clock time, so
that two rebuilds of one log are byte-identical.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from auditlog.errors import AuditLogError
from projections import build
from projections.disk import verified_bytes
from projections.state import read_state

COMPACT_AFTER = 32  # parts of a table beyond which status suggests `projections compact` (merges keep fewer)


@dataclass(frozen=True)
class Status:
    directory: str
    built: bool
    log_size: int  # events in the log
    log_head: str
    position: int | None  # last seq applied
    position_hash: str | None
    behind: int  # events in the log not yet applied
    stale_since: str | None  # ts of the first event not yet applied
    schema_version: int | None
    counts: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)  # path, kind, rows, bytes
    problem: str | None = None  # the log was rewritten, a file is missing...
    advice: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.built and self.behind == 0 and self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "up_to_date": self.up_to_date}


def status(log: build.EventLog, directory: str | Path) -> Status:
    directory = Path(directory)
    head = log.head()
    state = read_state(directory)
    if state is None:
        return Status(str(directory), False, head.size, head.hash, None, None, head.size, _ts(log, 0), None,
                      advice="not built yet: any query builds them, or `auditlog projections rebuild`")
    problem = None
    try:
        build.check_position(log, state)
    except AuditLogError as error:
        problem = str(error)
    listing = [*((p.path, "runs", p.rows) for p in state.runs),
               *((p.manifest, "manifest", p.rows) for p in state.runs if p.manifest is not None),
               *((p.path, "verdicts", p.rows) for p in state.verdicts),
               (state.baselines, "baselines", state.counts.get("baselines")),
               *(((state.configs, "configs", state.counts.get("configs")),) if state.configs else ()),
               *((p.path, "items", p.rows) for p in state.items)]
    found = []
    for path, kind, rows in listing:
        try:
            size = (directory / path).stat().st_size
            verified_bytes(directory / path)
        except FileNotFoundError:
            size = None
            problem = problem or f"{directory / path} is missing: rebuild with `auditlog projections rebuild`"
        except AuditLogError as error:
            problem = problem or str(error)
        found.append({"path": path, "kind": kind, "rows": rows, "bytes": size})
    behind = max(head.size - 1 - state.seq, 0) if problem is None else 0
    advice = None
    if problem:
        advice = "check the log with `auditlog verify`, then `auditlog projections rebuild`"
    elif max(len(state.items), len(state.runs), len(state.verdicts)) > COMPACT_AFTER:
        parts = len(state.items) + len(state.runs) + len(state.verdicts)
        advice = f"{parts} part files: `auditlog projections compact` merges each table's into one"
    return Status(str(directory), True, head.size, head.hash, state.seq, state.hash, behind,
                  _ts(log, state.seq + 1) if behind else None, state.schema_version, dict(state.counts), found,
                  problem, advice)


def _ts(log: build.EventLog, seq: int) -> str | None:
    event = build.event_at(log, seq)
    return None if event is None else json.loads(event.body).get("ts")
