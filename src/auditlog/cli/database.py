"""Commands between stores and for PostgreSQL: copy, db setup-roles; the PostgreSQL half of migrate."""

from __future__ import annotations

import json

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, expect_log_id_option, expected_log_id, lock_option, log_option, output_option
from auditlog.cli.progress import progress
from auditlog.render import safe_text


@cli.command(epilog=EXIT_CODES)
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@lock_option
@output_option("text", "json", default="text")
@expect_log_id_option
def copy(source: str, destination: str, lock_timeout: float, output: str) -> None:
    """Copy the log at SRC into DST, verifying it on the way (SQLite file or postgresql:// URL, either way).

    DST must hold no log yet. The copy has the same event bytes, hashes, Merkle subtrees,
    meta and signed checkpoints, so the same root. If SRC fails verification nothing is
    copied (exit 1, naming its first bad seq).
    """
    from auditlog.services.copy import copy_log

    with progress("copying") as report_progress:
        report = copy_log(source, destination, lock_timeout=lock_timeout, progress=report_progress,
                          expect_log_id=expected_log_id())
    if output == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(safe_text(report.describe(), limit=2000))


@cli.group(epilog=EXIT_CODES)
def db() -> None:
    """Administer a PostgreSQL log (see docs/postgres.md)."""


@db.command(name="setup-roles", epilog=EXIT_CODES)
@log_option
@click.option("--writer-role", default="auditlog_writer", show_default=True,
              help="The role CI runners append as: SELECT and INSERT only.")
@click.option("--reader-role", default="auditlog_reader", show_default=True,
              help="The role auditors and dashboards read as: SELECT only.")
@click.option("--schema", help="The log's schema (default: the --log URL's ?schema=, else public).")
@click.option("--print", "print_only", is_flag=True,
              help="Print the SQL (for psql or a DBA) instead of running it; connects to nothing.")
def setup_roles(log_path: str, writer_role: str, reader_role: str, schema: str | None, print_only: bool) -> None:
    """Make a writer role that can only append and a reader role that can only read the log.

    Creates the roles if missing, then GRANTs and REVOKEs; run it as the owner of the log's
    tables (who ran `auditlog init`). Neither role can UPDATE, DELETE or TRUNCATE.
    """
    from auditlog.store.postgres.location import is_postgres, parse_location
    from auditlog.store.postgres.schema import role_script

    if writer_role == reader_role:
        raise errors.InvalidInput("--reader-role", "the reader and the writer must be different roles")
    for option, name in (("--writer-role", writer_role), ("--reader-role", reader_role), ("--schema", schema)):
        if name is not None and (not name or "\x00" in name):
            raise errors.InvalidInput(option, "must be a non-empty name")
    postgres = is_postgres(log_path)
    if print_only:
        click.echo(role_script(schema or (parse_location(log_path).schema if postgres else None) or "public",
                               writer_role, reader_role), nl=False)
        return
    if not postgres:
        raise errors.InvalidInput("--log", "roles are PostgreSQL's: give a postgresql:// location "
                                           "(or --print the SQL)")
    if schema is not None:
        raise errors.InvalidInput("--schema", "only with --print: the --log URL's ?schema= names the log's schema")
    from auditlog.cli.base import open_log
    from auditlog.store.postgres.store import PostgresStore
    with open_log(log_path) as log:
        store = log.store
        assert isinstance(store, PostgresStore)  # a postgresql:// location, checked above
        store.setup_roles(writer_role, reader_role)
        click.echo(f"roles {writer_role} (append) and {reader_role} (read) set up for {store.location}")
