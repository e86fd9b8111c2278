"""Commands that write runs and read raw events: init, append, events, supersede, annotate, demo, migrate.

history, show and the other queries on the projections are in queries.py."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, FORMATS, cli, lock_option, log_option, open_log, output_option
from auditlog.cli.queries import projections_dir
from auditlog.render import render, safe_text


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--origin", help="The log's name in checkpoints, e.g. example.org/evals (default: derived from the log id).")
def init(log_path: str, origin: str | None) -> None:
    """Create a log with its genesis event (append also creates one on first use)."""
    from pathlib import Path

    from auditlog.store.pg_location import is_postgres
    existed = Path(log_path).exists()
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
    click.echo(f"log {log_path} {state}: log id {info['log_id']}, origin {info['origin']}")


@cli.group(epilog=EXIT_CODES)
def append() -> None:
    """Append a run or a verdict document (JSON) to the log."""


def _append_command(kind: str) -> Callable[..., Any]:
    @append.command(name=kind, epilog=EXIT_CODES,
                    help=f"Append a {kind} document from DOCUMENT (a JSON file, or - for stdin). "
                         f"See docs/documents.md for its fields.")
    @click.argument("document", type=click.Path(allow_dash=True))  # a directory: one clear line, exit 2
    @log_option
    @lock_option
    @output_option("text", "json", default="text")
    def command(document: str, log_path: str, lock_timeout: float, output: str) -> None:
        from auditlog.core.runs import normalize_run, normalize_verdict
        from auditlog.services.documents import read_json_document
        doc = read_json_document(document)
        # Bad input never writes anything, not even a new log; a verdict names runs, so its log must exist.
        normalize_run(doc) if kind == "run" else normalize_verdict(doc)
        with open_log(log_path, create=kind == "run", lock_timeout=lock_timeout) as log:
            receipt = log.record_run(doc) if kind == "run" else log.record_verdict(doc)
        _print_receipt(receipt, output)

    return command


_append_command("run")
_append_command("verdict")


def _print_receipt(receipt: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps({"seq": receipt.seq, "hash": receipt.hash, "type": receipt.type,
                               "subject": receipt.subject, "new": receipt.new}))
    else:
        click.echo(safe_text(receipt.describe(), limit=1000))


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--after", type=int, default=-1, show_default=True, help="Only events with seq greater than this.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many events.")
@output_option("jsonl", "table", default="jsonl")
def events(log_path: str, after: int, limit: int | None, output: str) -> None:
    """Print raw events with their hashes: {"seq", "hash", "event": <the exact canonical bytes>}."""
    with open_log(log_path) as log:
        until = after + 1 + limit if limit is not None else None
        out = sys.stdout.buffer
        rows = []
        for sealed in log.events(after=after, until=until):
            if output == "jsonl":
                out.write(b'{"seq":%d,"hash":"%s","event":%s}\n' % (sealed.seq, sealed.hash.encode(), sealed.body))
            else:
                e = sealed.event
                rows.append({"seq": sealed.seq, "ts": e.ts, "type": e.type, "project": e.project,
                             "subject": e.subject, "hash": sealed.hash[:16], "prev": e.prev[:16]})
        if output == "table":
            click.echo(render(rows, "table"), nl=False)
        out.flush()


@cli.command(epilog=EXIT_CODES)
@click.argument("old_run_id")
@click.option("--by", "new_run_id", required=True, help="The run that replaces it (already recorded).")
@click.option("--reason", required=True, help="Why: kept in the log forever.")
@log_option
@lock_option
def supersede(old_run_id: str, new_run_id: str, reason: str, log_path: str, lock_timeout: float) -> None:
    """Record that OLD_RUN_ID is replaced by another run (nothing is rewritten)."""
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        click.echo(safe_text(log.supersede(old_run_id, new_run_id, reason).describe(), limit=1000))


@cli.command(epilog=EXIT_CODES)
@click.argument("run_id")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Set a tag (repeatable).")
@click.option("--note", help="A free-text note.")
@log_option
@lock_option
def annotate(run_id: str, tags: tuple[str, ...], note: str | None, log_path: str, lock_timeout: float) -> None:
    """Add tags or a note to a recorded run."""
    parsed = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise errors.InvalidInput("--tag", f"{tag!r} is not KEY=VALUE")
        parsed[key] = value
    with open_log(log_path, lock_timeout=lock_timeout) as log:
        click.echo(safe_text(log.annotate(run_id, tags=parsed, note=note).describe(), limit=1000))


@cli.command(epilog=EXIT_CODES)
@click.option("--log", "log_path", default="auditlog-demo.db", show_default=True, help="Where to build the demo log.")
def demo(log_path: str) -> None:
    """Build a small realistic log (projects, models, versions, a verdict), verify it, print history."""
    import projections
    from auditlog.services.demo import build_demo
    with open_log(log_path, create=True, origin="demo.auditlog.local/evals") as log:
        receipts = build_demo(log)
        report = log.verify()
        view = projections.open(log, projections_dir(log, log_path, None))
        runs = projections.list_runs(view, include_superseded=True)
    added = sum(r.new for r in receipts)
    click.echo(f"demo log {log_path}: {added} events appended ({len(receipts) - added} already there)")
    click.echo(f"verify: {'ok' if report.ok else 'FAILED'}: {report.size} events, head {report.head}")
    columns = ["run_id", "model_version", "n_items", "pass_rate", "mean_score", "verdict", "status"]
    click.echo(render(runs, "table", columns), nl=False)
    click.echo(f"\nnext: auditlog history --log {log_path} --project mmlu-pro; "
               f"auditlog show <run_id> --log {log_path}; auditlog events --log {log_path} --limit 3")
    if not report.ok:
        sys.exit(errors.EXIT_INTEGRITY)


@cli.command(epilog=EXIT_CODES)
@log_option
def migrate(log_path: str) -> None:
    """Migrate the log's schema forward to this version of auditlog (explicit, never automatic)."""
    from auditlog.store.sqlite import SQLiteStore
    store = SQLiteStore.for_migration(log_path)
    applied = store.migrate()
    store.close()
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


