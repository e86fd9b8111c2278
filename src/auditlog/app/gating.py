"""Gate a run against its baseline, deciding only from what the verified chain holds.

Choosing the baseline (given, pinned, or the latest comparable run) reads the log's verified
events (app.baselines), not the projections; the gate itself reads both run documents through
`verified.verified_run`, after the catch-up has verified every event since the last verified point. A log that fails any of
that raises IntegrityError, and no verdict is recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from auditlog.app.verified import verified_run, view_tree
from auditlog.errors import InvalidInput, NotFound, VerificationError
from auditlog.services.log import AuditLog
from auditlog.services.writer import Receipt


@dataclass(frozen=True)
class Baseline:
    """The run a gate compares against, and how it was chosen (said in the output).

    `run_id` is None when there is none yet (a project's first run): `how` then says why."""

    run_id: str | None
    how: str


@dataclass(frozen=True)
class BaselineChoice:
    """What the user asked for: a run id or "pinned" (`given`), or the latest comparable run
    recorded before the candidate, with every tag of `tags` and none of `exclude_tags`
    ({key: the values that exclude a run}, e.g. {"inspect_status": ["cancelled", "error"]}).
    `option` is how the user gave `given`, named by a refusal (`append run` says --gate-against)."""

    given: str | None = None
    latest: bool = False
    tags: Mapping[str, str] | None = None
    option: str = "--baseline"
    exclude_tags: Mapping[str, Collection[str]] | None = None


def check_choice(run_id: str | None, choice: BaselineChoice) -> None:
    """What can be refused of `choice` before the log is read (`append run --gate-against` does so before
    the run is written): tags without the latest run to filter, and `run_id` itself as the baseline,
    since a run compared with itself is always "no change", a verdict about nothing (as `supersede`
    refuses a run superseding itself). "pinned" names the pin: resolve_baseline checks what it is.
    A tag both required and excluded would leave no run to choose: refused too."""
    for option, given in (("--baseline-tag", choice.tags), ("--baseline-exclude-tag", choice.exclude_tags)):
        if given and not choice.latest:
            raise InvalidInput(option, "goes with " + ("--baseline-latest" if choice.option == "--baseline"
                                                       else f"{choice.option} latest"))
    for key, values in (choice.exclude_tags or {}).items():
        if isinstance(values, str):
            raise InvalidInput("--baseline-exclude-tag", f"the values of {key!r} must be a collection of strings, "
                                                         f"not the string {values!r} (exclude_tags in Python)")
        required = (choice.tags or {}).get(key)
        if required is not None and required in values:
            raise InvalidInput("--baseline-exclude-tag", f"{key}={required} is also required by "
                                                         "--baseline-tag: no run could be chosen")
    if choice.given not in (None, "pinned") and choice.given == run_id:
        raise InvalidInput(choice.option, "a run cannot be its own baseline")


@dataclass(frozen=True)
class Gated:
    """What a gate decided and recorded. `result` is None when there was no baseline to compare
    with: the verdict is then the --no-baseline rule's (evals.gate.no_baseline_document)."""

    verdict: dict[str, Any]  # the verdict document recorded
    baseline: Baseline
    result: Any  # evals.gate.GateResult, or None without a baseline
    receipt: Receipt


def resolve_baseline(log: AuditLog, view: Any, candidate: Mapping[str, Any], run_id: str, choice: BaselineChoice,
                     seq: int) -> Baseline:
    """The baseline run for `candidate` (the run document of `run_id`, recorded at `seq`); run_id None, and
    why, when the project has none yet (nothing pinned, no earlier run). The pin and the latest run are
    read from the log's verified events (app.baselines), never from the projections, which whoever can
    write their directory could forge. The latest run is the newest active one recorded before the
    candidate (a lower seq), never one recorded after it (a retried gate, overlapping pipelines). A given
    run id is taken as given: a mistyped one is NotFound later, never "no baseline". The candidate itself,
    given or pinned, is InvalidInput: a run is never its own baseline."""
    import projections
    from auditlog.app import baselines

    if (choice.given is not None) == choice.latest:
        raise InvalidInput("--baseline", "give a baseline: --baseline RUN_ID, --baseline pinned "
                                         "or --baseline-latest (one of them)")
    check_choice(run_id, choice)
    if choice.given is not None and choice.given != "pinned":
        return Baseline(choice.given, "given")
    project, model = candidate["project_id"], candidate["model_id"]
    tree = view_tree(view)
    if choice.given == "pinned":
        pinned = _agreed(baselines.pinned_run(log, tree, project, model),
                         projections.pinned_baseline(view, project, model), "pinned baseline")
        if pinned is None:
            return Baseline(None, f"no baseline is pinned for project {project!r} "
                                  "(auditlog baseline pin RUN_ID --project ...)")
        if pinned == run_id:
            raise InvalidInput(f"{choice.option} pinned", f"the pinned baseline of project {project!r} is "
                                                          f"{run_id!r} itself: a run cannot be its own baseline "
                                                          "(pin another run to gate this one)")
        return Baseline(pinned, "pinned")
    wanted = dict(choice.tags or {})
    excluded = {k: sorted(v) for k, v in (choice.exclude_tags or {}).items() if v}

    def comparable(row: Mapping[str, Any]) -> bool:
        tags = row["tags"]
        return (all(tags.get(k) == v for k, v in wanted.items())
                and not any(tags.get(k) in values for k, values in excluded.items()))

    folded = projections.list_runs(view, project_id=project, model_id=model, tags=wanted or None,
                                   exclude_tags=excluded or None, before_seq=seq, limit=1)
    latest = _agreed(baselines.latest_run(log, tree, project, model, before=seq, accept=comparable),
                     folded[0]["run_id"] if folded else None, "latest run")
    where = "".join(f", {k}={v}" for k, v in wanted.items())
    where += "".join(f", not {k}={v}" for k, values in excluded.items() for v in values)
    if latest is not None:
        return Baseline(latest, f"latest active run of {project}/{model}{where}")
    superseded = projections.list_runs(view, project_id=project, model_id=model, tags=wanted or None,
                                       exclude_tags=excluded or None, before_seq=seq, include_superseded=True, limit=1)
    if superseded:  # not a first run: the rule for one (--no-baseline) would pass it unjudged
        row = superseded[0]
        raise NotFound(f"every earlier run of {project}/{model}{where} is superseded (the latest, "
                       f"{row['run_id']!r}, by {row['superseded_by']!r}): choose the baseline with --baseline "
                       "RUN_ID (the --no-baseline rule is for a project's first run)")
    return Baseline(None, f"no earlier active run of project {project!r} and model {model!r}"
                          f"{' with those tags' if wanted or excluded else ''} to gate against")


def _agreed(from_log: str | None, from_projections: str | None, what: str) -> str | None:
    """The choice the log's index and the projections' fold agree on. They are two reads of the same
    events (the index's columns; the fold of the bytes): a run hidden from one by a changed column or a
    rewritten Parquet file makes them differ, and the gate fails loudly rather than choose."""
    if from_log != from_projections:
        raise VerificationError(f"the log's index gives {from_log!r} as the {what}, the projections "
                                f"{from_projections!r}: one of them was altered; check the log with `auditlog "
                                "verify`, then rebuild the projections with `auditlog projections rebuild`")
    return from_log


def gate(log: AuditLog, view: Any, run_id: str, choice: BaselineChoice, policy: Any = None,
         no_baseline: str | None = None) -> Gated:
    """Gate `run_id` (auditlog.evals.gate) and record the verdict.

    `view` is the log's projections, caught up (auditlog.app.verified.open_view). When the
    project has no baseline yet, `no_baseline` ("allow", "review" or "block") decides the verdict
    recorded; None raises NotFound instead. A candidate without items is InvalidInput either way,
    and so is a baseline that is the candidate itself (resolve_baseline): nothing is recorded."""
    from auditlog.evals.gate import check_items, no_baseline_document, verdict_document
    from auditlog.evals.gate import gate as decide

    sealed, candidate = verified_run(log, view, run_id)
    baseline = resolve_baseline(log, view, candidate, run_id, choice, sealed.seq)
    if baseline.run_id is None:
        check_items(candidate)  # what the comparison would refuse, refused without one too
        if no_baseline is None:
            raise NotFound(baseline.how)
        document = no_baseline_document(run_id, no_baseline, baseline.how, policy)
        return Gated(document, baseline, None, log.record_verdict(document))
    _, base = verified_run(log, view, baseline.run_id)
    result = decide(candidate, base, policy)
    document = verdict_document(result, run_id=run_id, baseline_run_id=baseline.run_id)
    return Gated(document, baseline, result, log.record_verdict(document))
