"""The same import and drop-in on a PostgreSQL log."""

from __future__ import annotations

import evalsig.store as theirs

import auditlog.evalsig as ours
from auditlog.services.log import AuditLog
from tests.support.cli import cli


def test_import_then_again_and_the_drop_in_on_postgres(store, pg_url, tmp_path):
    first = cli("import", "evalsig", store, "--log", pg_url, "--output", "json")
    assert first.code == 0, first
    with AuditLog.open(pg_url, create=False) as log:
        size = log.head().size
    again = cli("import", "evalsig", store, "--log", pg_url, "--output", "json")
    assert again.code == 0 and {r["status"] for r in again.json()["runs"]} == {"unchanged"}
    with AuditLog.open(pg_url, create=False) as log:
        assert log.head().size == size
    assert [h.record for h in ours.list_runs(pg_url, "proj")] == [
        ours.RunRecord(**h.record.to_dict()) for h in theirs.list_runs(store, "proj")]
