"""Commands that write runs and read raw events: init, append, events, supersede, annotate, demo, migrate.

history, show and the other queries on the projections are in queries.py."""

from __future__ import annotations

import sys
from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import (
    EXIT_CODES,
    cli,
    expect_log_id_option,
    lock_option,
    log_option,
    open_log,
    output_option,
    parse_excluded_tags,
    parse_tags,
    records_output,
    table_width,
)
from auditlog.cli.ci import BASELINE_EXCLUDE_TAG, GATE_EXIT_CODES, gate_options, print_receipt, run_gate
from auditlog.cli.options import INT64_MAX, RUN_ID, int64
from auditlog.cli.queries import projections_dir
from auditlog.render import escape_json_bytes, json_text, plural, render, safe_text

EVENT_COLUMNS = ["seq", "ts", "type", "project", "subject", "hash", "prev"]


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--origin", help="The log's name in checkpoints, e.g. example.org/evals (default: derived from the log id).")
def init(log_path: str, origin: str | None) -> None:
    """Create a log with its genesis event (append also creates one on first use)."""
    from pathlib import Path

    from auditlog.store.postgres.location import is_postgres
    path = Path(log_path)
    existed = path.exists() and not (path.is_file() and path.stat().st_size == 0)  # an empty file: made a log now
    if is_postgres(log_path):  # a schema, not a file: ask the server
        try:
            with open_log(log_path):
                existed = True
        except errors.NotFound:
            pass
    with open_log(log_path, create=True, origin=origin) as log:
        info = log.info()
    if existed and origin and info.get("origin") != origin:
        raise errors.Conflict(f"{log_path} already exists with origin {info.get('origin')!r}")
    state = "already exists" if existed else "created"
    click.echo(safe_text(f"log {log_path} {state}: log id {info['log_id']}, origin {info['origin']}", limit=2000))


@cli.group(epilog=EXIT_CODES)
def append() -> None:
    """Append a run or a verdict document (JSON) to the log."""


def _read_document(document: str, kind: str) -> Any:
    """Parse and check a document before any log is opened: bad input never writes anything,
    not even a new log."""
    from auditlog.evals.runs import normalize_run, normalize_verdict
    from auditlog.services.documents import read_json_document
    try:
        doc = read_json_document(document)
        normalize_run(doc) if kind == "run" else normalize_verdict(doc)
    except errors.InvalidInput as exc:
        raise _naming_ingest(exc, document) from None
    return doc


def _naming_ingest(exc: errors.InvalidInput, document: str) -> errors.InvalidInput:
    """A harness's own file given to append (`append run results_*.json`) was refused for its first field
    ("$.chat_template: unknown field ..."): the refusal says which `auditlog ingest` reads it."""
    from pathlib import Path

    from auditlog.ingest.common import SourceFile, read_by
    if document == "-" or not Path(document).is_file():
        return exc  # stdin, a pipe (read already: nothing to look at again), no file at all
    try:
        with open(document, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return exc
    hint = read_by(SourceFile(Path(document).name, head))
    return errors.InvalidInput(exc.field, exc.reason + hint) if hint else exc


@append.command(name="run", epilog=GATE_EXIT_CODES)
@click.argument("document", type=click.Path(allow_dash=True))  # a directory: one clear line, exit 2
@log_option
@lock_option
@output_option("text", "json", default="text")
@click.option("--gate-against", type=RUN_ID, metavar="latest|pinned|RUN_ID",
              help="Then gate the run: against the latest active run of its project and model recorded before "
                   "it, the pinned baseline, or a run id (see auditlog gate); exits by the verdict.")
@click.option("--baseline-tag", "baseline_tags", multiple=True, metavar="KEY=VALUE",
              help="With --gate-against latest: only baselines with this tag (repeatable).")
@BASELINE_EXCLUDE_TAG
@gate_options
def append_run(document: str, log_path: str, lock_timeout: float, output: str, gate_against: str | None,
               baseline_tags: tuple[str, ...], baseline_exclude_tags: tuple[str, ...], fail_on: str,
               no_baseline: str, **policy: Any) -> None:
    """Append a run document from DOCUMENT (a JSON file, or - for stdin). See docs/documents.md for its fields.

    A document without `environment` gets this machine's (Python, platform, git, CI, and the versions
    of the packages that decide a result: $AUDITLOG_CAPTURE_PACKAGES names them, "+name" adds to the
    default list, "none" records none; see docs/environment.md)."""
    doc = _read_document(document, "run")
    latest = gate_against == "latest"
    if gate_against:  # what the gate would refuse, refused before the run is written
        from auditlog.app.gating import BaselineChoice, check_choice
        from auditlog.evals.gate import check_items
        check_items(doc)
        run_id = doc.get("run_id")
        check_choice(run_id if isinstance(run_id, str) else None,
                     BaselineChoice(None if latest else gate_against, latest,
                                    parse_tags(baseline_tags, "--baseline-tag"), "--gate-against",
                                    parse_excluded_tags(baseline_exclude_tags)))
    with open_log(log_path, create=True, lock_timeout=lock_timeout) as log:
        receipt = log.record_run(doc)
        print_receipt(receipt, output)
        if gate_against:
            run_gate(log, log_path, receipt.subject, baseline=None if latest else gate_against,
                     baseline_latest=latest, baseline_tags=baseline_tags, directory=None, output=output,
                     fail_on=fail_on, no_baseline=no_baseline, baseline_option="--gate-against",
                     baseline_exclude_tags=baseline_exclude_tags, **policy)


@append.command(name="verdict", epilog=EXIT_CODES)
@click.argument("document", type=click.Path(allow_dash=True))
@log_option
@lock_option
@output_option("text", "json", default="text")
def append_verdict(document: str, log_path: str, lock_timeout: float, output: str) -> None:
    """Append a verdict document from DOCUMENT (a JSON file, or - for stdin). See docs/documents.md for its fields."""
    doc = _read_document(document, "verdict")
    with open_log(log_path, lock_timeout=lock_timeout) as log:  # a verdict names runs: its log must exist
        print_receipt(log.record_verdict(doc), output)


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--after", type=int64(min=-1), default=-1, show_default=True,
              help="Only events with seq greater than this (-1: from the first).")
@click.option("--limit", type=int64(), default=None, help="At most this many events.")
@records_output(default="jsonl")
def events(log_path: str, after: int, limit: int | None, output: str) -> None:
    """Print raw events with their hashes: {"seq", "hash", "event": <the exact canonical bytes>}.

    jsonl writes each event's bytes as stored; json one array of the same records (each event
    parsed); table and csv the envelope's columns (seq, ts, type, project, subject, hash, prev:
    the table shortens the hashes, CSV keeps them whole).

    Each event is checked as it is printed (its bytes hash to its hash and link to the event
    before it): at the first that does not, the command stops with exit 1 naming its seq.

    C1, DEL, bidirectional control and invisible characters in an event are written as JSON \\u escapes
    (the same JSON value: parse and re-canonicalise to hash it); the table escapes them too."""
    with open_log(log_path) as log:
        until = after + 1 + limit if limit is not None else None
        if until is not None and until > INT64_MAX:
            until = None  # beyond any seq the store can hold: the rest of the log (and no OverflowError)
        out = sys.stdout.buffer
        rows = []
        short = 16 if output == "table" else None
        for sealed in log.linked_events(after=after, until=until):
            if output == "jsonl":
                out.write(b'{"seq":%d,"hash":"%s","event":%s}\n' % (sealed.seq, sealed.hash.encode(),
                                                                      escape_json_bytes(sealed.body)))
            elif output == "json":
                rows.append({"seq": sealed.seq, "hash": sealed.hash, "event": sealed.event.to_json()})
            else:
                e = sealed.event
                rows.append({"seq": sealed.seq, "ts": e.ts, "type": e.type, "project": e.project,
                             "subject": e.subject, "hash": sealed.hash[:short], "prev": e.prev[:short]})
        if output == "json":
            click.echo(json_text(rows, indent=2))
        elif output != "jsonl":
            click.echo(render(rows, output, EVENT_COLUMNS, width=table_width()), nl=False)
        out.flush()


@cli.command(epilog=EXIT_CODES)
@click.argument("old_run_id", type=RUN_ID)
@click.option("--by", "new_run_id", type=RUN_ID, required=True, help="The run that replaces it (already recorded).")
@click.option("--reason", required=True, help="Why: kept in the log forever.")
@log_option
@lock_option
def supersede(old_run_id: str, new_run_id: str, reason: str, log_path: str, lock_timeout: float) -> None:
    """Record that OLD_RUN_ID is replaced by another run (nothing is rewritten)."""
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        click.echo(safe_text(log.supersede(old_run_id, new_run_id, reason).describe(), limit=1000))


@cli.command(epilog=EXIT_CODES)
@click.argument("run_id", type=RUN_ID)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Set a tag (repeatable).")
@click.option("--note", help="A free-text note.")
@log_option
@lock_option
def annotate(run_id: str, tags: tuple[str, ...], note: str | None, log_path: str, lock_timeout: float) -> None:
    """Add tags or a note to a recorded run."""
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        click.echo(safe_text(log.annotate(run_id, tags=parse_tags(tags), note=note).describe(), limit=1000))


@cli.command(epilog=EXIT_CODES)
@click.option("--log", "log_path", default="auditlog-demo.db", show_default=True,
              help="Where to build the demo log: a new log, or one the demo built (any other is refused, exit 2).")
@expect_log_id_option
def demo(log_path: str) -> None:
    """Build a small realistic log (projects, models, versions, a verdict), verify it, print history."""
    import projections
    from auditlog.services.demo import DEMO_ORIGIN, build_demo, check_demo_log
    with open_log(log_path, create=True, origin=DEMO_ORIGIN) as log:
        check_demo_log(log, log_path)
        receipts = build_demo(log)
        report = log.verify()
        view = projections.open(log, projections_dir(log, log_path, None))
        runs = projections.list_runs(view, include_superseded=True)
    added = sum(r.new for r in receipts)
    click.echo(f"demo log {log_path}: {plural(added, 'event')} appended ({len(receipts) - added} already there)")
    click.echo(f"verify: {'ok' if report.ok else 'FAILED'}: {plural(report.size, 'event')}, head {report.head}")
    columns = ["run_id", "model_version", "n_items", "pass_rate", "mean_score", "verdict", "status"]
    click.echo(render(runs, "table", columns, width=table_width()), nl=False)
    click.echo(f"\nnext: auditlog history --log {log_path} --project mmlu-pro; "
               f"auditlog show <run_id> --log {log_path}; auditlog events --log {log_path} --limit 3")
    if not report.ok:
        sys.exit(errors.EXIT_INTEGRITY)


@cli.command(epilog=EXIT_CODES)
@log_option
def migrate(log_path: str) -> None:
    """Migrate the log's schema forward to this version of auditlog (explicit, never automatic)."""
    from auditlog.cli.base import expected_log_id
    from auditlog.services.log import migrate as migrate_log
    applied = migrate_log(log_path, expect_log_id=expected_log_id())
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


