"""Commands CI runs: ingest tool outputs, gate a run against its baseline, and the people's
side of verdicts (override, baseline pin).

Gate exit codes: 0 ALLOW, 10 BLOCK, 11 NEEDS_REVIEW (`--fail-on` chooses which fail).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import (
    ALL_EXIT_CODES,
    EXIT_CODES,
    cli,
    exit_after_output,
    lock_option,
    log_option,
    open_log,
    output_option,
    parse_excluded_tags,
    parse_tags,
)
from auditlog.cli.options import JSON_INT_MAX, RUN_ID, NonEmpty, SeveralValues, int64
from auditlog.cli.progress import progress
from auditlog.render import json_text, number, plural, safe_text

EXIT_BLOCK = 10
EXIT_NEEDS_REVIEW = 11
GATE_EXIT_CODES = ALL_EXIT_CODES  # 10 BLOCK, 11 NEEDS_REVIEW among them


# -- ingest ----------------------------------------------------------------------------


@cli.group(epilog=EXIT_CODES)
def ingest() -> None:
    """Record a run from the files an eval harness wrote (see docs/ingest.md)."""


FROM_FILE = "give one, or for lm-eval and inspect leave {} out to read it from the file"


def _ingest_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option("--project", "project_id", type=NonEmpty(FROM_FILE.format("--project")),
                     help="The project id (required for junit; lm-eval: defaults to the single task or group)."),
        click.option("--model", "model_id", type=NonEmpty(FROM_FILE.format("--model")),
                     help="The model id (default: read from the file; required for junit)."),
        click.option("--run-id", type=NonEmpty("give a run id, or leave --run-id out to derive one from the file"),
                     help="The run id (default: derived from the file, so a re-ingest is a retry)."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run (repeatable)."),
        click.option("--print", "print_only", is_flag=True, help="Print the run document instead of appending it."),
        log_option, lock_option, output_option("text", "json", default="text"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _record(kind: str, files: list[str], print_only: bool, log_path: str, lock_timeout: float, output: str,
            tags: tuple[str, ...], **options: Any) -> None:
    from auditlog.ingest import ingest as to_document
    from auditlog.ingest import source_provenance, split_environment

    with progress("reading", unit="bytes") as report:
        sources = _read_sources(files, report)
    with progress("parsing", unit="bytes") as report:
        doc = to_document(kind, sources, tags=parse_tags(tags) or None, progress=report,
                          **{k: v for k, v in options.items() if v not in (None, False, ())})
    if print_only:
        click.echo(json_text(doc, indent=2))
        return
    with open_log(log_path, create=True, lock_timeout=lock_timeout) as log:
        run, environment = split_environment(doc)  # the file's: recorded, not part of the submitted document
        try:
            receipt = log.record_run(run, source=source_provenance(sources), environment=environment)
        except errors.Conflict as exc:  # e.g. the results file ingested before without its --samples
            if options.get("run_id") is not None:
                raise
            import shlex
            raise errors.Conflict(f"{exc}; that run id was derived from the file: to record this reading of it, "
                                  f"give --run-id NEW, then `auditlog supersede {shlex.quote(run['run_id'])} "
                                  "--by NEW`") from None
    print_receipt(receipt, output, f", {plural(len(doc.get('items') or []), 'item')}, "
                                   f"{plural(len(doc.get('metrics') or {}), 'metric')}")


def _read_sources(files: list[str], report: Any) -> list[Any]:
    """The files' bytes, each a SourceFile; `report(done, total)` hears the bytes read (on a terminal)."""
    from auditlog.ingest import SourceFile
    from auditlog.services.documents import read_bytes

    total = sum(_size(name) for name in files) if report is not None else 0
    done = 0

    def count(n: int) -> None:
        nonlocal done
        done += n
        report(done, max(total, done))

    return [SourceFile(Path(name).name, read_bytes(name, limit=1 << 31, progress=count if report else None))
            for name in files]


def _size(name: str) -> int:
    try:
        return Path(name).stat().st_size if name != "-" else 0
    except OSError:
        return 0  # read_bytes says what is wrong with it


def print_receipt(receipt: Any, output: str, extra: str = "") -> None:
    if output == "json":
        click.echo(json.dumps({"seq": receipt.seq, "hash": receipt.hash, "type": receipt.type,
                               "subject": receipt.subject, "new": receipt.new}))
    else:
        click.echo(safe_text(receipt.describe() + extra, limit=1000))


@ingest.command(name="lm-eval", epilog=EXIT_CODES)
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--samples", "samples", cls=SeveralValues, what="file", type=click.Path(dir_okay=False), metavar="FILE...",
              help="Per-sample files (samples_<task>_<date>.jsonl, or the legacy <model>_<task>.jsonl): several "
                   "after one --samples (a shell glob), or --samples repeated.")
@click.option("--primary-metric", "primary_metrics", multiple=True, metavar="[TASK=]METRIC",
              help="The per-sample metric used as item score (default: the first in [0, 1]): METRIC for every "
                   "task, or TASK=METRIC for one task (repeatable, one per task).")
@click.option("--samples-task", "sample_tasks", multiple=True, metavar="FILE=TASK",
              help="The task a --samples file holds, when its name does not say it (repeatable).")
@_ingest_options
def ingest_lm_eval(results: str, samples: tuple[str, ...], primary_metrics: tuple[str, ...],
                   sample_tasks: tuple[str, ...], **kwargs: Any) -> None:
    """An lm-evaluation-harness results JSON (0.4.x), with its per-sample files as items."""
    if not samples and (primary_metrics or sample_tasks):
        option = "--primary-metric" if primary_metrics else "--samples-task"
        raise errors.InvalidInput(option, "is about the per-sample files: give them with --samples")
    _record("lm-eval", [results, *samples], primary_metric=_primary_metric(primary_metrics),
            sample_tasks=_pairs(sample_tasks, "--samples-task", "FILE=TASK", key=lambda file: Path(file).name),
            **kwargs)


def _primary_metric(values: tuple[str, ...]) -> str | dict[str, str] | None:
    """--primary-metric: one METRIC for every task, or TASK=METRIC for each task named; not both."""
    per_task = [v for v in values if "=" in v]
    if per_task and len(per_task) < len(values):
        raise errors.InvalidInput("--primary-metric", "give one METRIC for every task, or TASK=METRIC per task, "
                                                      "not both")
    if per_task:
        return _pairs(values, "--primary-metric", "TASK=METRIC")
    if len(values) > 1:
        raise errors.InvalidInput("--primary-metric", f"is given {len(values)} times: one METRIC is for every "
                                                      "task (TASK=METRIC chooses one per task)")
    return values[0] if values else None


def _pairs(values: tuple[str, ...], option: str, form: str,
           key: Callable[[str], str] = lambda name: name) -> dict[str, str] | None:
    """`A=B` values as {A: B}, split at the last `=`; each A once."""
    pairs: dict[str, str] = {}
    for value in values:
        left, eq, right = value.rpartition("=")
        if not (eq and left.strip() and right.strip()):
            raise errors.InvalidInput(option, f"{value!r} is not {form}")
        name = key(left.strip())
        if name in pairs:
            raise errors.InvalidInput(option, f"{name!r} is given twice")
        pairs[name] = right.strip()
    return pairs or None


@ingest.command(name="inspect", epilog=EXIT_CODES)
@click.argument("eval_log", type=click.Path(dir_okay=False))
@click.option("--scorer", help="Which scorer's values are the item scores (default: the first usable one).")
@click.option("--allow-incomplete", is_flag=True, help="Record a cancelled or errored log too (tagged as such).")
@_ingest_options
def ingest_inspect(eval_log: str, scorer: str | None, allow_incomplete: bool, **kwargs: Any) -> None:
    """An inspect_ai eval log: .json, or .eval (zip; DEFLATE or zstd)."""
    _record("inspect", [eval_log], scorer=scorer, allow_incomplete=allow_incomplete, **kwargs)


@ingest.command(name="junit", epilog=EXIT_CODES)
@click.argument("report", type=click.Path(dir_okay=False))
@_ingest_options
def ingest_junit(report: str, **kwargs: Any) -> None:
    """A JUnit XML report (pytest, Maven Surefire, ...): each testcase an item."""
    _record("junit", [report], **kwargs)


# -- gate ------------------------------------------------------------------------------


def gate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The policy options `gate` and `append run --gate-against` share."""
    from auditlog.evals.gate import MODES, NO_BASELINE
    for option in reversed([
        click.option("--metric", type=click.Choice(["score", "passed"]), default="score", show_default=True,
                     help="Compare item scores, or pass/fail as 0/1."),
        click.option("--tolerance", type=click.FloatRange(min=0), default=0.01, show_default=True,
                     help="How much worse than the baseline still counts as no regression."),
        click.option("--alpha", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.05,
                     show_default=True, help="1 - the confidence level of the interval."),
        click.option("--mode", type=click.Choice(MODES), default="non-inferiority", show_default=True,
                     help="non-inferiority: ALLOW unless a regression beyond the tolerance is plausible; "
                          "superiority: ALLOW only a clear improvement."),
        click.option("--min-items", type=click.IntRange(min=2, max=JSON_INT_MAX), default=10, show_default=True,
                     help="Fewer paired items than this: NEEDS_REVIEW."),
        click.option("--cluster-key", help="An item extra field whose equal values form a cluster (clustered SE)."),
        click.option("--fail-on", type=click.Choice(["review", "block", "never"]), default="review", show_default=True,
                     help="review: exit 10 on BLOCK and 11 on NEEDS_REVIEW; block: only BLOCK fails; never: exit 0."),
        click.option("--no-baseline", type=click.Choice(list(NO_BASELINE)), default="allow", show_default=True,
                     help="When the project has no baseline yet (nothing pinned, no earlier run: its first run), "
                          "record a verdict that says so: allow (ALLOW), review (NEEDS_REVIEW) or block (BLOCK); "
                          "exit by it as for any verdict. A --baseline RUN_ID that is not in the log is still exit 3."),
    ]):
        func = option(func)
    return func


BASELINE_EXCLUDE_TAG = click.option(
    "--baseline-exclude-tag", "baseline_exclude_tags", multiple=True, metavar="KEY=VALUE",
    help="With the latest run as baseline: never a run with this tag, e.g. inspect_status=cancelled "
         "(repeatable; a key may be given with several values).")


def baseline_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--baseline", type=RUN_ID, help="The baseline run id, or 'pinned' for the project's pinned baseline."),
        click.option("--baseline-latest", is_flag=True,
                     help="The latest active run of the same project and model recorded before this one."),
        click.option("--baseline-tag", "baseline_tags", multiple=True, metavar="KEY=VALUE",
                     help="With --baseline-latest: only runs with this tag, e.g. branch=main (repeatable)."),
        BASELINE_EXCLUDE_TAG,
        click.option("--projections", "directory", metavar="DIR", help="The projections directory (default: beside the log)."),
    ]):
        func = option(func)
    return func


def run_gate(log: Any, log_path: str, run_id: str, *, baseline: str | None, baseline_latest: bool,
             baseline_tags: tuple[str, ...], directory: str | None, output: str, fail_on: str, no_baseline: str,
             baseline_option: str = "--baseline", baseline_exclude_tags: tuple[str, ...] = (),
             **policy_options: Any) -> None:
    """Gate (auditlog.app.gating), print the verdict, exit with the verdict's code. `baseline_option` is
    the option that gave `baseline`, named when it is refused."""
    from auditlog.app.gating import BaselineChoice, gate
    from auditlog.app.verified import open_view
    from auditlog.evals.gate import GatePolicy

    choice = BaselineChoice(baseline, baseline_latest, parse_tags(baseline_tags, "--baseline-tag"), baseline_option,
                            parse_excluded_tags(baseline_exclude_tags))
    gated = gate(log, open_view(log, log_path, directory), run_id, choice, GatePolicy(**policy_options),
                 no_baseline=no_baseline)
    doc, result, receipt = gated.verdict, gated.result, gated.receipt
    code = {"BLOCK": EXIT_BLOCK, "NEEDS_REVIEW": EXIT_NEEDS_REVIEW}.get(doc["verdict"], 0)
    if fail_on == "never" or (fail_on == "block" and code == EXIT_NEEDS_REVIEW):
        code = 0
    exit_after_output(code)  # a reader that goes away early does not turn a recorded BLOCK into exit 0
    if output == "json":
        click.echo(json.dumps({"verdict": doc["verdict"], "run_id": run_id, "baseline_run_id": gated.baseline.run_id,
                               "baseline_chosen_by": gated.baseline.how, "delta": doc["delta"],
                               "ci_low": doc["ci_low"], "ci_high": doc["ci_high"], "p_value": doc["p_value"],
                               "n_paired": result.n_paired if result else 0, "reason": doc["reason"],
                               "seq": receipt.seq, "new": receipt.new}, indent=2))
    elif result is None:
        click.echo(safe_text(f"baseline: none ({gated.baseline.how})", limit=1000))
        click.echo(safe_text(f"{doc['verdict']}: {doc['reason']}", limit=2000))
        click.echo(safe_text(receipt.describe(), limit=1000))
    else:
        def fmt(value: float | None) -> str:  # signed, to the same significant digits as every table
            return "n/a" if value is None else ("+" if value >= 0 else "") + number(value)
        click.echo(safe_text(f"baseline: {gated.baseline.run_id} ({gated.baseline.how})", limit=1000))
        click.echo(f"delta {fmt(result.delta)}  CI [{fmt(result.ci_low)}, {fmt(result.ci_high)}]  "
                   f"p {'n/a' if result.p_value is None else number(result.p_value)}  n {result.n_paired}"
                   + (f"  (+{len(result.only_in_candidate)} only in candidate, "
                      f"{len(result.only_in_baseline)} only in baseline)"
                      if result.only_in_candidate or result.only_in_baseline else ""))
        click.echo(safe_text(f"{result.verdict}: {result.reason}", limit=2000))
        click.echo(safe_text(receipt.describe(), limit=1000))
    if code:
        sys.exit(code)


@cli.command(epilog=GATE_EXIT_CODES)
@click.argument("run_id", type=RUN_ID)
@baseline_options
@gate_options
@log_option
@lock_option
@output_option("text", "json", default="text")
def gate(run_id: str, log_path: str, lock_timeout: float, **options: Any) -> None:
    """Compare RUN_ID with a baseline on their shared items, record the verdict, exit by it.

    Prints the delta, its confidence interval, the p-value, n, the verdict and why.
    """
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        run_gate(log, log_path, run_id, **options)


@cli.command(epilog=EXIT_CODES)
@click.argument("verdict_seq", type=int64())
@click.option("--to", "to", required=True, type=click.Choice(["ALLOW", "BLOCK", "NEEDS_REVIEW"]),
              help="The verdict people decided on.")
@click.option("--reason", required=True, help="Why: kept in the log forever.")
@log_option
@lock_option
def override(verdict_seq: int, to: str, reason: str, log_path: str, lock_timeout: float) -> None:
    """Overrule the verdict recorded at VERDICT_SEQ (a new event; the original stays)."""
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        click.echo(safe_text(log.override_verdict(verdict_seq, to, reason).describe(), limit=1000))


@cli.group(epilog=EXIT_CODES)
def baseline() -> None:
    """Pin the run that `gate --baseline pinned` compares against."""


@baseline.command(name="pin", epilog=EXIT_CODES)
@click.argument("run_id", type=RUN_ID)
@click.option("--project", required=True, help="The project the pin is for (the run must belong to it).")
@click.option("--model", help="Pin for this model only (default: for every model of the project).")
@click.option("--reason", help="Why this run is the baseline.")
@log_option
@lock_option
def baseline_pin(run_id: str, project: str, model: str | None, reason: str | None, log_path: str,
                 lock_timeout: float) -> None:
    """Make RUN_ID the pinned baseline of a project (and model)."""
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        click.echo(safe_text(log.pin_baseline(run_id, project=project, model=model, reason=reason).describe(),
                             limit=1000))
