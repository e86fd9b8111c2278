"""Helpers for the PostgreSQL tests: the CLI (tests.support.cli, re-exported), documents, raw SQL access.

Not a conftest: plain functions, imported by the test modules of this directory. The
server fixtures (`pg_admin`, `pg_url`: a fresh schema per test) are in tests/conftest.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditlog.store.postgres.location import parse_location
from tests.support import cli as support
from tests.support.cli import TIMEOUT, Result, clean_env, cli, ok, run_process  # noqa: F401 - re-exported

COLUMNS = "seq, hash, ts, type, project, subject, body"


def one_line_error(result: Result, code: int) -> str:
    """The CLI failed the documented way: exit `code`, one line on stderr, nothing on stdout."""
    line = support.one_line_error(result, code)
    assert result.out == "", str(result)
    return line


def run_doc(run_id: str, project: str = "mmlu-pro", *, seed: int = 0, n_items: int = 4) -> dict[str, Any]:
    items = [{"item_id": f"q{i}", "score": ((i * 7 + seed * 3) % 10) / 10, "passed": (i + seed) % 2 == 0}
             for i in range(n_items)]
    return {"run_id": run_id, "project_id": project, "model_id": "acme-7b", "model_version": "1.0",
            "environment": {"host": "test"}, "metrics": {"accuracy": 0.5 + seed / 1000}, "items": items}


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def schema_of(url: str) -> str:
    schema = parse_location(url).schema
    assert schema, url
    return schema


def as_role(url: str, role: str) -> str:
    """The same location, connecting as another role (the test server trusts every role)."""
    parts = parse_location(url)
    user_at = parts.display.split("://", 1)[1].split("@", 1)
    assert len(user_at) == 2, "the test server's URL names its user"
    return f"{url.split('://', 1)[0]}://{role}@{user_at[1]}"


@contextmanager
def tampering(admin: Any, url: str, *tables: str) -> Iterator[Any]:
    """The superuser behind the library's back: the triggers of `tables` disabled, one transaction."""
    schema = schema_of(url)
    tables = tables or ("events",)
    with admin.transaction():
        for table in tables:
            admin.execute(f'ALTER TABLE "{schema}".{table} DISABLE TRIGGER ALL')
        yield admin
        for table in tables:
            admin.execute(f'ALTER TABLE "{schema}".{table} ENABLE TRIGGER ALL')


def closed_port() -> int:
    """A local TCP port nothing listens on (bound and released: refused when connected to)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
