"""The `auditlog` command: parse arguments, make one service call, render the result.

Every AuditLogError becomes one line on stderr and its documented exit code:
0 ok, 1 integrity failure, 2 invalid input or usage, 3 not found,
4 lock timeout or I/O error, 5 conflict. Heavy libraries are imported inside the
commands that need them, so `append` and `verify` start fast.
"""

from auditlog.cli import (  # noqa: F401 - importing registers their commands
    ci,
    database,
    experiments,
    imports,
    integrity,
    project,
    projections_group,
    publish,
    queries,
    report,
    runs,
    show,
    tui,
)
from auditlog.cli.base import cli, main

__all__ = ["cli", "main"]
