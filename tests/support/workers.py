"""The programs the kill, crash and concurrency tests run as real processes, for either store.

Run as `python -m tests.support.workers PROGRAM ARGS...` (use `command(...)` and `ENV`, which
put this repository first on the path). LOCATION is a SQLite path or a postgresql:// URL.

    batch LOCATION TAG SIZE ITEMS MODE ARG MARKER [PROJECT]
        One `with log.writer() as w:` over SIZE runs of ITEMS items each. MODE says where it
        stops and waits to be killed: `at-run` (before recording run ARG), `before-commit`
        (the rows are in the open transaction), or `complete`/`random` (never). Touches
        MARKER when it stops, MARKER.started inside the transaction, MARKER.committed after it.
        Run ids are TAG-NNNN, in PROJECT (default `kill`).
    appender LOCATION TMP WORKER COUNT STAGGER ORIGIN
        Barriers `open` and `append` (files in TMP), then COUNT appends, one transaction each.
        Waits WORKER * STAGGER seconds before opening; ORIGIN "" means the default.
    holder PATH store|sqlite
        Holds the SQLite log's write lock (the store's transaction, or only SQLite's) until killed.
    stop-at N PROGRAM...
        Runs `batch ...` or `cli ARGS...` (the auditlog command) and counts its progress points:
        each call into auditlog or projections code, and each SQLite or OS call before and after
        it. At point N it prints `stopped N` and stops itself (SIGSTOP), for the test to kill;
        N = 0 runs to the end and prints `points TOTAL`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def command(*args: object) -> list[str]:
    """The argv that runs one of these programs in a fresh Python."""
    return [sys.executable, "-m", "tests.support.workers", *map(str, args)]


def _is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def batch_run(tag: str, i: int, items: int, project: str = "kill") -> dict:
    return {
        "run_id": f"{tag}-{i:04d}", "project_id": project, "model_id": "m", "model_version": tag,
        "environment": {"host": "test"}, "config": {"i": i},
        "metrics": {"accuracy": 0.5, "f1": 0.25, "n": i},
        "items": [{"item_id": f"q{j:03d}", "score": ((i * j) % 7) / 7, "passed": (i + j) % 2 == 0,
                   "latency_ms": 10.5 + j, "tokens": 100 + j} for j in range(items)],
    }


def batch(location: str, tag: str, size: int, items: int, mode: str, arg: int, marker: str,
          project: str = "kill") -> None:
    from auditlog import AuditLog

    def signal_and_wait() -> None:
        open(marker, "w").close()
        time.sleep(120)  # the test kills us here

    if mode == "before-commit":  # the rows are in the open transaction, the COMMIT has not run
        if _is_postgres(location):
            from auditlog.store.postgres.transaction import PgTransaction as transaction
        else:
            from auditlog.store.sqlite import store
            transaction = store._SQLiteTransaction
        append = transaction.append

        def append_then_wait(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            head = append(self, *args, **kwargs)
            signal_and_wait()
            return head
        transaction.append = append_then_wait

    with AuditLog.open(location) as log:
        with log.writer() as w:
            open(marker + ".started", "w").close()
            for i in range(size):
                if mode == "at-run" and i == arg:
                    signal_and_wait()
                w.record_run(batch_run(tag, i, items, project))
        open(marker + ".committed", "w").close()


def appender(location: str, tmp: str, worker: int, count: int, stagger: float, origin: str) -> None:
    from auditlog import AuditLog

    def barrier(name: str) -> None:
        open(os.path.join(tmp, f"{name}-{worker}"), "w").close()
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(tmp, name)):
            if time.monotonic() > deadline:
                sys.exit(f"barrier {name} never opened")
            time.sleep(0.001)

    barrier("open")
    time.sleep(worker * stagger)
    log = AuditLog.open(location, origin=origin or None)
    barrier("append")
    for i in range(count):
        log.record_run({
            "run_id": f"w{worker}-r{i}", "project_id": "concurrency", "model_id": f"model-{worker}",
            "environment": {"worker": worker}, "metrics": {"accuracy": i / count},
            "items": [{"item_id": f"q{j}", "score": (i + j) % 2 * 1.0, "passed": (i + j) % 2 == 1} for j in range(5)],
        })
    log.close()


def sealer(location: str, run_id: str, marker: str) -> None:
    """Record one run; as the lock holder sealing the queue, stop once the group's rows, outcomes and
    confirmation reached the server (the COMMIT not sent), touch `marker` and wait to be killed."""
    from auditlog import AuditLog
    from auditlog.services.writer import Writer

    confirm = Writer.confirm

    def confirm_then_wait(self):  # noqa: ANN001, ANN202
        confirm(self)
        open(marker, "w").close()
        time.sleep(120)  # the test kills us here
    Writer.confirm = confirm_then_wait  # type: ignore[method-assign]
    with AuditLog.open(location, create=False) as log:
        log.record_run(batch_run(run_id, 0, 3))


def holder(path: str, how: str) -> None:
    import sqlite3

    from auditlog import AuditLog
    if how == "store":
        log = AuditLog.open(path)
        with log.store.transaction():
            print("holding", flush=True)
            time.sleep(300)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        print("holding", flush=True)
        time.sleep(300)


def stop_at(n: int, program: list[str]) -> None:
    """Run `program` under a profiler that counts progress points and stops the process at point `n`."""
    import sqlite3

    ours = tuple(str(ROOT / package) + os.sep for package in ("auditlog", "projections"))
    io_types = (sqlite3.Connection, sqlite3.Cursor)
    count = 0

    def is_io(fn: object) -> bool:
        return getattr(fn, "__module__", None) == "posix" or isinstance(getattr(fn, "__self__", None), io_types)

    def hook(frame, event: str, arg: object) -> None:  # noqa: ANN001
        nonlocal count
        if event == "call":
            if not frame.f_code.co_filename.startswith(ours):
                return
        elif event not in ("c_call", "c_return") or not is_io(arg):
            return
        count += 1
        if count == n:
            sys.setprofile(None)
            print(f"stopped {n}", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)  # the test kills us here

    code = 0
    sys.setprofile(hook)
    try:
        if program[0] == "cli":
            from auditlog.cli import cli
            cli.main(program[1:], prog_name="auditlog")
        else:
            main(program)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.setprofile(None)
    print(f"points {count}", flush=True)
    sys.exit(code)


def main(argv: list[str]) -> None:
    program, args = argv[0], argv[1:]
    if program == "batch":
        location, tag, size, items, mode, arg, marker, *project = args
        batch(location, tag, int(size), int(items), mode, int(arg), marker, *project)
    elif program == "appender":
        location, tmp, worker, count, stagger, origin = args
        appender(location, tmp, int(worker), int(count), float(stagger), origin)
    elif program == "sealer":
        sealer(*args)
    elif program == "holder":
        holder(*args)
    elif program == "stop-at":
        stop_at(int(args[0]), args[1:])
    else:
        sys.exit(f"unknown program {program!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
