"""Benchmark: the SQLite and PostgreSQL stores side by side, each next to plain INSERTs on itself.

Usage, from the repository root:

    python scripts/bench/stores.py              # full sizes (a few minutes)
    python scripts/bench/stores.py --quick      # tiny sizes: a smoke test, figures meaningless
    python scripts/bench/stores.py --pg URL     # the server (default $AUDITLOG_TEST_PG, then the local one)

Measurements (every ratio is ours / baseline, measured in the same run on the same store):

- appends: W = 1, 4 and 16 writer processes released together from behind a barrier, each
  appending its share of N small runs with `log.record_run` (one call per run, as CI jobs
  do; on PostgreSQL the lock holder seals every queued run at once) into one fresh log.
  Throughput = N / (last finish - first start); p50/p99 of each call's latency. Repeated,
  auditlog and the baseline alternating (A B, B A, ...), each into a fresh log or table; the
  figure is the best run of each, the median beside it, with the load average.
  Baseline: the same W processes inserting the exact rows auditlog stored (read back
  afterwards) into an identically defined events table (same columns, keys and indexes),
  one row per transaction: SQLite with BEGIN IMMEDIATE, synchronous=FULL, WAL; PostgreSQL
  in autocommit. auditlog serialises writers on the head by design; plain INSERTs of rows
  whose seqs are already decided do not have to.
- verify: `AuditLog.verify()` of V events (chain, columns, Merkle subtrees) vs a loop that
  reads (seq, hash, body) and re-hashes with hashlib.
- copy: `auditlog copy` (verifying as it goes) SQLite -> PostgreSQL and back, events/s.

PostgreSQL logs go into fresh schemas named auditlog_bench_*, dropped at the end; where no
server answers, the PostgreSQL figures are skipped with the reason. Progress goes to
stderr, results to stdout. Nothing here asserts on timings: they depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

try:
    import auditlog  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from _ab import ratio_line as ab_ratio_line

from auditlog import AuditLog
from auditlog.services.copy import copy_log

WRITERS = [1, 4, 16]
FULL = {"appends": 1600, "verify": 100_000, "repetitions": 3}
QUICK = {"appends": 48, "verify": 2_000, "repetitions": 1}
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
_STARTED = time.perf_counter()
SUMMARY: list[tuple[str, str]] = []

# A writer process: open (the parent created the log or table), wait at the barrier, write its
# share, print its start and end (wall clock, comparable across processes).
WORKER = textwrap.dedent("""
    import json, os, pickle, sys, time
    kind, location, tmp, k, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    sys.path.insert(0, sys.argv[6])
    from bench_docs import make_run

    if kind == "auditlog":
        from auditlog import AuditLog
        log = AuditLog.open(location, create=False)
        docs = [make_run(k, i) for i in range(count)]
        write = log.record_run
    else:
        rows = pickle.loads(open(os.path.join(tmp, f"rows-{k}.pkl"), "rb").read())
        insert = "INSERT INTO events (seq, hash, ts, type, project, subject, body) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        if kind == "plain-sqlite":
            import sqlite3
            conn = sqlite3.connect(location, isolation_level=None, timeout=120)
            conn.execute("PRAGMA synchronous=FULL")
            def write(row):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(insert.replace("%s", "?"), row)
                conn.execute("COMMIT")
        else:
            import psycopg
            conn = psycopg.connect(location, autocommit=True)
            def write(row):
                conn.execute(insert, row)
        docs = rows
    open(os.path.join(tmp, f"ready-{k}"), "w").close()
    while not os.path.exists(os.path.join(tmp, "go")):
        time.sleep(0.001)
    start = time.time()
    latencies = []
    for doc in docs:
        began = time.perf_counter()
        write(doc)
        latencies.append(time.perf_counter() - began)
    print(json.dumps({"start": start, "end": time.time(), "latencies": latencies}))
""")

DOCS = textwrap.dedent('''
    def make_run(writer, i):
        """A small run: 3 metrics, 10 items, its own environment (no git subprocess)."""
        items = [{"item_id": f"q{j}", "score": ((i + j) % 5) / 4, "passed": (i + j) % 2 == 0} for j in range(10)]
        return {"run_id": f"w{writer}-r{i:06d}", "project_id": ("mmlu-pro", "gsm8k")[i % 2], "model_id": "m",
                "model_version": str(writer), "environment": {"runner": writer},
                "metrics": {"accuracy": (i % 100) / 100, "f1": 0.5, "n": i}, "items": items}
''')


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def ratio_line(label: str, ratio: float) -> None:
    print(f"  ratio {label}: {ratio:.2f}x")
    SUMMARY.append((label, f"{ratio:.2f}x"))


def run_writers(kind: str, location: str, tmp: Path, counts: list[int]) -> tuple[float, list[float]]:
    """Start one process per count, release them together; (total writes per second, each write's seconds)."""
    for stale in [*tmp.glob("ready-*"), tmp / "go"]:
        stale.unlink(missing_ok=True)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, kind, location, str(tmp), str(k), str(n), str(tmp)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, n in enumerate(counts)]
    deadline = time.monotonic() + 300
    while not all((tmp / f"ready-{k}").exists() for k in range(len(procs))):
        failed = [p for p in procs if p.poll() not in (None, 0)]
        if failed or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            raise SystemExit(f"a {kind} writer failed: {failed[0].communicate()[1] if failed else 'timeout'}")
        time.sleep(0.005)
    (tmp / "go").touch()
    spans = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"a {kind} writer exited {proc.returncode}: {err[-2000:]}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    rate = sum(counts) / (max(s["end"] for s in spans) - min(s["start"] for s in spans))
    return rate, [x for s in spans for x in s["latencies"]]


class Stores:
    """Fresh logs and plain tables on SQLite (files under tmp) and PostgreSQL (schemas)."""

    def __init__(self, tmp: Path, pg: str | None) -> None:
        self.tmp, self.pg = tmp, pg
        self.prefix = f"auditlog_bench_{uuid.uuid4().hex[:8]}"

    def log(self, kind: str, name: str) -> str:
        if kind == "sqlite":
            return str(self.tmp / f"{name}.db")
        return f"{self.pg}{'&' if '?' in self.pg else '?'}schema={self.prefix}_{name}"

    def plain(self, kind: str, name: str, like: str) -> str:
        """An events table defined as the log's (`like`), without auditlog's triggers; its location."""
        if kind == "sqlite":
            path = self.tmp / f"{name}-plain.db"
            with sqlite3.connect(like) as src:
                statements = [sql for (sql,) in src.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('table', 'index') "
                    "AND sql IS NOT NULL ORDER BY type = 'table' DESC")]
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            for sql in statements:
                conn.execute(sql)
            conn.close()
            return str(path)
        import psycopg

        from auditlog.store.postgres.location import parse_location
        schema = f"{self.prefix}_{name}_plain"
        with psycopg.connect(self.pg.split("?")[0], autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".events '
                         f'(LIKE "{parse_location(like).schema}".events INCLUDING ALL)')
        return f"{self.pg.split('?')[0]}?options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        if self.pg:
            import psycopg
            with psycopg.connect(self.pg.split("?")[0], autocommit=True) as conn:
                for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                              (self.prefix + "%",)).fetchall():
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def bench_appends(stores: Stores, kinds: list[str], total: int, repetitions: int) -> None:
    """Each configuration `repetitions` times, auditlog and plain INSERTs alternating (A B, B A, ...), each run
    into a fresh log or table; the ratio by the best run of each (min) and by the median run."""
    print(f"\n== appends: {total:,} runs per run, one transaction per append, writers released together, "
          f"{repetitions} interleaved repetitions ==")
    for kind in kinds:
        for writers in WRITERS:
            counts = [total // writers] * writers
            runs = iter(range(1000))

            def fresh_log(kind: str = kind, writers: int = writers, runs=runs) -> str:  # noqa: ANN001
                location = stores.log(kind, f"appends_{writers}_{next(runs)}")
                AuditLog.open(location, origin="bench.example.org/stores").close()
                return location

            progress(f"{kind}: {writers} auditlog writer(s), warm-up (the rows the plain writers insert)")
            first = fresh_log()
            run_writers("auditlog", first, stores.tmp, counts)
            with AuditLog.open(first, create=False) as log:
                rows = [tuple(r) for r in log.store.rows(after=0)]
                assert len(rows) == total and log.verify().ok, "the log does not hold every append"
            for k in range(writers):
                (stores.tmp / f"rows-{k}.pkl").write_bytes(pickle.dumps(rows[k::writers]))
            ours: list[tuple[float, list[float]]] = []
            plain: list[tuple[float, list[float]]] = []
            for rep in range(repetitions):
                for side in (("ours", "plain") if rep % 2 == 0 else ("plain", "ours")):
                    progress(f"{kind}: {writers} writer(s), repetition {rep + 1}: {side}")
                    if side == "ours":
                        location = fresh_log()
                        ours.append(run_writers("auditlog", location, stores.tmp, counts))
                        with AuditLog.open(location, create=False) as log:  # nothing lost
                            assert log.head().size == total + 1 and log.verify().ok, "an append was lost"
                    else:
                        plain.append(run_writers(f"plain-{kind}", stores.plain(kind, f"appends_{writers}_{next(runs)}",
                                                                               first), stores.tmp,
                                                 [len(rows[k::writers]) for k in range(writers)]))
            best_ours, best_plain = max(r for r, _ in ours), max(r for r, _ in plain)
            median_ours, median_plain = statistics.median(r for r, _ in ours), statistics.median(r for r, _ in plain)
            lat = sorted(x for _, xs in ours for x in xs)
            plat = sorted(x for _, xs in plain for x in xs)
            print(f"  {kind:<8} {writers:>2} writer(s): auditlog {best_ours:>8,.0f} appends/s (p50 "
                  f"{1e3 * percentile(lat, 0.5):.1f} ms, p99 {1e3 * percentile(lat, 0.99):.1f} ms)   plain INSERT "
                  f"{best_plain:>8,.0f} rows/s (p50 {1e3 * percentile(plat, 0.5):.1f} ms, p99 "
                  f"{1e3 * percentile(plat, 0.99):.1f} ms)")
            label = f"{kind} {writers:>2} writer(s) appends vs plain INSERTs"
            if kind == "postgres" and writers == 16:
                met = best_ours / best_plain >= 0.3
                print(ab_ratio_line(label, best_ours / best_plain, median_ours / median_plain, ">= 0.30x", met))
            else:
                print(ab_ratio_line(label, best_ours / best_plain, median_ours / median_plain))
            SUMMARY.append((label, f"{best_ours / best_plain:.2f}x (p50 {1e3 * percentile(lat, 0.5):.1f} ms, "
                                   f"p99 {1e3 * percentile(lat, 0.99):.1f} ms)"))


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def bench_verify(stores: Stores, kinds: list[str], size: int) -> None:
    print(f"\n== verify and copy: {size:,} events ==")
    sys.path.insert(0, str(stores.tmp))
    from bench_docs import make_run
    source = stores.log("sqlite", "verify")
    progress(f"building a SQLite log of {size:,} events")
    with AuditLog.open(source, origin="bench.example.org/verify") as log:
        for start in range(0, size - 1, 1000):
            with log.writer() as w:
                for i in range(start, min(start + 1000, size - 1)):
                    w.record_run(make_run(0, i))
    locations = {"sqlite": source}
    if "postgres" in kinds:
        locations["postgres"] = stores.log("postgres", "verify")
        start = time.perf_counter()
        copy_log(source, locations["postgres"])
        there = size / (time.perf_counter() - start)
        start = time.perf_counter()
        copy_log(locations["postgres"], stores.log("sqlite", "verify-back"))
        back = size / (time.perf_counter() - start)
        print(f"  copy SQLite -> PostgreSQL {there:>10,.0f} events/s   PostgreSQL -> SQLite {back:>10,.0f} events/s")
        SUMMARY.append(("copy SQLite -> PostgreSQL / PostgreSQL -> SQLite", f"{there:,.0f} / {back:,.0f} events/s"))
    rates = {}
    for kind, location in locations.items():
        progress(f"{kind}: verify")
        with AuditLog.open(location, create=False) as log:
            start = time.perf_counter()
            report = log.verify()
            ours = size / (time.perf_counter() - start)
            assert report.ok and report.size == size
        start = time.perf_counter()
        for seq, stored, body in plain_rows(kind, location):
            if hashlib.sha256(body).hexdigest() != stored:
                raise SystemExit(f"seq {seq} does not hash to its stored hash")
        plain = size / (time.perf_counter() - start)
        rates[kind] = ours
        print(f"  {kind:<8} verify {ours:>10,.0f} events/s   plain read-and-rehash {plain:>10,.0f} rows/s")
        ratio_line(f"{kind} verify vs plain read-and-rehash", ours / plain)
    if "postgres" in rates:
        ratio_line("postgres verify vs sqlite verify", rates["postgres"] / rates["sqlite"])


def plain_rows(kind: str, location: str):  # noqa: ANN201 - an iterator of (seq, hash, body)
    if kind == "sqlite":
        with sqlite3.connect(location) as conn:
            yield from conn.execute("SELECT seq, hash, body FROM events ORDER BY seq")
        return
    import psycopg

    from auditlog.store.postgres.location import parse_location
    where = parse_location(location)
    with psycopg.connect(where.conninfo) as conn, conn.cursor("plain", binary=True) as cursor:
        cursor.itersize = 2048
        cursor.execute(f'SELECT seq, hash, body FROM "{where.schema}".events ORDER BY seq')
        yield from cursor


def postgres_available(url: str) -> str | None:
    """None if the server answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    try:
        psycopg.connect(url.split("?")[0], connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {url}: {' '.join(str(exc).split())}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, figures meaningless")
    parser.add_argument("--pg", default=os.environ.get("AUDITLOG_TEST_PG") or DEFAULT_PG,
                        help="the PostgreSQL server (a libpq URI; logs go into fresh schemas, dropped at the end)")
    parser.add_argument("--writers", default=",".join(map(str, WRITERS)),
                        help="comma-separated writer counts for the appends (default: 1,4,16)")
    parser.add_argument("--only", choices=("appends", "verify"), help="one section only")
    parser.add_argument("--kinds", default="sqlite,postgres", help="stores to measure (default: sqlite,postgres)")
    args = parser.parse_args()
    WRITERS[:] = [int(w) for w in args.writers.split(",")]
    sizes = QUICK if args.quick else FULL
    kinds = ["sqlite"] if "sqlite" in args.kinds else []
    why_not = postgres_available(args.pg)
    if why_not:
        print(f"postgres: skipped: {why_not}")
    elif "postgres" in args.kinds:
        kinds.append("postgres")
    print(f"stores benchmark ({'quick' if args.quick else 'full'}): {', '.join(kinds)}; {os.cpu_count()} CPUs; "
          f"python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="auditlog-bench-stores-") as tmp:
        (Path(tmp) / "bench_docs.py").write_text(DOCS)
        stores = Stores(Path(tmp), None if why_not else args.pg.split("?")[0])
        if stores.pg:
            print(f"postgres schemas: {stores.prefix}_* (dropped at the end)")
        try:
            if args.only != "verify":
                bench_appends(stores, kinds, sizes["appends"], sizes["repetitions"])
            if args.only != "appends":
                bench_verify(stores, kinds, sizes["verify"])
        finally:
            stores.drop()
    print("\n== summary ==")
    for label, value in SUMMARY:
        print(f"  {label:<58} {value}")


if __name__ == "__main__":
    main()
