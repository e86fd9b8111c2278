"""One run in full: its projection row and items, its event, its history, and a proof.

The header and items come from the projections (`projections.load_run`); the run's
event, environment, actor and history (verdicts, overrides, annotations, supersession)
come from the log itself, each event checked as `show` checks it (`verified_about`), the configuration it was recorded under from
`app.configs.run_config` (what `show` prints as `config:`), and the inclusion proof is recomputed from
the log's Merkle tree and checked against the latest stored checkpoint that covers it.
That checkpoint's signers are named as checked only when a trusted key (`--vkey`) checked
them; otherwise as what the note claims.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import projections
from auditlog.app.configs import RunConfig, run_config
from auditlog.app.verified import verified_about, view_tree
from auditlog.core import events as ev
from auditlog.core.checkpoint import parse_checkpoint
from auditlog.core.merkle import leaf_hash
from auditlog.core.note import unverified_note
from auditlog.core.verify_proof import verify_inclusion
from auditlog.errors import AuditLogError, IntegrityError
from auditlog.services.checkpoints import covering_checkpoint
from auditlog.services.log import AuditLog
from auditlog.services.verify import signed_by


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    ts: str
    type: str
    summary: str
    verdict: str | None = None  # ALLOW / BLOCK / NEEDS_REVIEW for verdicts and overrides


@dataclass(frozen=True)
class ProofCheck:
    """The run's event against the latest stored checkpoint that covers it."""

    status: str  # proven | uncovered | failed
    size: int | None = None
    signers: tuple[str, ...] = ()  # names whose signatures a trusted key checked
    root: str | None = None
    detail: str = ""
    claimed: tuple[str, ...] = ()  # names the note carries, signatures not checked

    def describe(self) -> str:
        if self.status == "proven" and self.signers:
            return f"proven in checkpoint of size {self.size} signed by {', '.join(self.signers)} (signature checked)"
        if self.status == "proven":
            return (f"proven in checkpoint of size {self.size}; its note names {', '.join(self.claimed) or 'no one'}, "
                    "signature not checked (start the TUI with --vkey KEY to check it)")
        if self.status == "uncovered":
            return f"no checkpoint covers this event yet{self.detail}"
        return f"inclusion proof FAILED against checkpoint of size {self.size}: {self.detail}"


@dataclass(frozen=True)
class RunDetail:
    header: dict[str, Any]  # the run's row in the runs projection
    items: list[dict[str, Any]]  # failed first, then document order
    seq: int
    event_hash: str
    environment: Any = None
    actor: Any = None
    history: list[HistoryEntry] = field(default_factory=list)
    proof: ProofCheck = ProofCheck("uncovered")
    config: RunConfig | None = None  # the configuration it was recorded under (None: its bytes did not check)

    @property
    def failed(self) -> int:
        return sum(not item["passed"] for item in self.items)


def load_detail(log: AuditLog, view: Any, run_id: str, verifiers: Sequence[Any] = ()) -> RunDetail:
    """The run and every event about it as `show` reads them (`verified_about`): each event's bytes
    hashed, canonical, its columns its envelope's, and included at its seq in the verified tree; the
    projections' row must be the run's event. IntegrityError otherwise: nothing unverified is shown."""
    view = view.using(log)
    frame = projections.load_run(view, run_id)
    header = frame.header
    items = sorted(frame.item_records(), key=lambda item: bool(item["passed"]))  # stable: document order kept
    tree = view_tree(view)
    sealed, about = verified_about(log, tree, run_id)
    if (header["seq"], header["event_hash"]) != (sealed.seq, sealed.hash):
        raise IntegrityError(sealed.seq, f"the projections place run {run_id!r} at seq {header['seq']}, but the log "
                                         f"records it at seq {sealed.seq}: rebuild them with `auditlog projections "
                                         "rebuild`")
    event = sealed.event
    environment = event.data.get("run", {}).get("environment") if isinstance(event.data, dict) else None
    history = [summarize(e) for e in about]
    return RunDetail(header, items, sealed.seq, sealed.hash, environment, event.actor, history,
                     check_inclusion(log, sealed.seq, verifiers), run_config(log, tree, sealed))


def check_inclusion(log: AuditLog, seq: int, verifiers: Sequence[Any] = ()) -> ProofCheck:
    """Recompute event `seq`'s inclusion proof and check it against the checkpoint's root;
    the checkpoint's signatures are checked with `verifiers` (trusted keys), when given."""
    stored = covering_checkpoint(log, seq)
    if stored is None:
        return ProofCheck("uncovered", detail=" (sign one with `auditlog checkpoint --key KEY`)")
    try:
        body, signatures = unverified_note(stored.note)
        checkpoint = parse_checkpoint(body)
        claimed = tuple(s.name for s in signatures)
        proof = log.inclusion_proof(seq, checkpoint.size)
        verify_inclusion(leaf_hash(log.event(seq).body), seq, checkpoint.size, proof, checkpoint.root)
    except AuditLogError as exc:
        return ProofCheck("failed", stored.size, detail=str(exc))
    signers = tuple(signed_by(stored.note, verifiers)) if verifiers else ()
    return ProofCheck("proven", checkpoint.size, signers, checkpoint.root.hex(), claimed=claimed)


def summarize(sealed: Any) -> HistoryEntry:
    """One event about a run, in words (the event's own fields; nothing is trusted but shown)."""
    try:
        envelope = json.loads(sealed.body)
        kind, data, ts = envelope["type"], envelope.get("data") or {}, envelope.get("ts", "")
    except (ValueError, KeyError, TypeError):
        return HistoryEntry(sealed.seq, "", "?", "the event's bytes are not a readable event (verify the log)")
    if kind == ev.RUN_RECORDED:
        return HistoryEntry(sealed.seq, ts, kind, "recorded")
    if kind == ev.VERDICT_RECORDED:
        v = data.get("verdict") or {}
        figures = [f"{v.get('metric', '?')} Δ {_num(v.get('delta'), '+.4f')}"]
        if v.get("p_value") is not None:
            figures.append(f"p={_num(v.get('p_value'), '.3g')}")
        if v.get("ci_low") is not None and v.get("ci_high") is not None:
            figures.append(f"CI [{_num(v['ci_low'], '.4f')}, {_num(v['ci_high'], '.4f')}]")
        reason = f": {v['reason']}" if v.get("reason") else ""
        by = f" (computed by {v['computed_by']})" if v.get("computed_by") else ""
        return HistoryEntry(sealed.seq, ts, kind, f"{v.get('verdict', '?')} {_against(v)}, "
                                                  f"{', '.join(figures)}{by}{reason}", v.get("verdict"))
    if kind == ev.VERDICT_OVERRIDDEN:
        return HistoryEntry(sealed.seq, ts, kind, f"override of the verdict at seq {data.get('verdict_seq')}: "
                                                  f"{data.get('from')} → {data.get('to')}: {data.get('reason', '')}",
                            data.get("to"))
    if kind == ev.RUN_ANNOTATED:
        parts = [f"{k}={v}" for k, v in sorted((data.get("tags") or {}).items())]
        if data.get("note"):
            parts.append(f"note: {data['note']}")
        return HistoryEntry(sealed.seq, ts, kind, "annotated " + "; ".join(parts))
    if kind == ev.RUN_SUPERSEDED:
        return HistoryEntry(sealed.seq, ts, kind, f"superseded by {data.get('by')}: {data.get('reason', '')}")
    if kind == ev.BASELINE_PINNED:
        return HistoryEntry(sealed.seq, ts, kind, f"pinned as the baseline of {envelope.get('project', '')}"
                                                  + (f" / {data['model_id']}" if data.get("model_id") else ""))
    return HistoryEntry(sealed.seq, ts, kind, json.dumps(data, ensure_ascii=False, sort_keys=True)[:200])


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "?"


def _against(verdict: dict[str, Any]) -> str:
    """What a verdict compared with: "against RUN", or "with no baseline" (a project's first run)."""
    if "baseline_run_id" in verdict and verdict["baseline_run_id"] is None:
        return "with no baseline"
    return f"against {verdict.get('baseline_run_id', '?')}"
