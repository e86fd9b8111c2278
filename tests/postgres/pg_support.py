"""Helpers for the PostgreSQL tests: the real CLI in a subprocess, documents, raw SQL access.

Not a conftest: plain functions, imported by the test modules of this directory. The
server fixtures (`pg_admin`, `pg_url`: a fresh schema per test) are in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditlog.store.pg_location import parse_location

TIMEOUT = 60
COLUMNS = "seq, hash, ts, type, project, subject, body"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[:3000]}\n--- stderr\n{self.err[:3000]}"


def cli(*args: Any, env: dict[str, str] | None = None, timeout: float = TIMEOUT) -> Result:
    """`python -m auditlog ARGS` in a fresh process, without $AUDITLOG_DB."""
    base = {k: v for k, v in os.environ.items() if k != "AUDITLOG_DB"}
    done = subprocess.run([sys.executable, "-m", "auditlog", *map(str, args)], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout, stdin=subprocess.DEVNULL)
    return Result(done.returncode, done.stdout, done.stderr)


def ok(*args: Any, **kwargs: Any) -> Result:
    result = cli(*args, **kwargs)
    assert result.code == 0 and "Traceback" not in result.err, str(result)
    return result


def one_line_error(result: Result, code: int) -> str:
    """The CLI failed the documented way: exit `code`, one line on stderr, nothing on stdout."""
    assert result.code == code, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlog: error: "), str(result)
    assert "Traceback" not in result.err and result.out == "", str(result)
    return lines[0]


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
