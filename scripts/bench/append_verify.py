"""Benchmark: appending and verifying, each figure next to a baseline measured in the same run.

Usage, from the repository root:

    python scripts/bench/append_verify.py            # full sizes (a few minutes)
    python scripts/bench/append_verify.py --quick    # tiny sizes: a smoke test, figures meaningless
    python scripts/bench/append_verify.py --only batched,verify
    python scripts/bench/append_verify.py --only verify --verify-events 300000   # verify at another size

Measurements (a ratio is ours / baseline for throughputs, ours / baseline for times where
lower is better; each is printed with its target):

- batched: runs (5 metrics, 10 items, their own `environment` so no git subprocess)
  through `Writer.record_runs` in transactions of 1,000, vs the loop a user would write:
  json.dumps(doc, sort_keys=True, separators=(",", ":")) + hashlib.sha256 chained to the
  previous hash + one executemany per transaction, into a copy of auditlog's events table
  (its CREATE statements from sqlite_master), synchronous=FULL, WAL; and the same loop with
  orjson. Interleaved transaction by transaction (_ab.py); the documents of each are made
  before its clock starts.
- single: one transaction per append (synchronous=FULL) vs one-row INSERT transactions of
  the same bytes, interleaved one for one so both see the same disk.
- concurrent: 8 writer processes released together, each timing its own appends, vs 1.
- verify: `AuditLog.verify()` of 1M small events vs a loop that reads (seq, hash, body)
  and re-hashes with hashlib; peak RSS growth of verify (fresh process) at 100k and 1M.
- cold start: `auditlog append run` and `auditlog verify` in fresh processes vs
  `python -c pass` (median of 20).
- show: `auditlog show RUN` in a fresh process on a 100k-run log whose projections were
  built before (the common case: a catch-up ran since), vs `python -c pass`, interleaved
  (scripts/bench/_ab.py); the run is an old one and a new one appended after the catch-up.

Logs are written under a temporary directory, removed at the end. Progress goes to
stderr, results to stdout. Nothing here asserts on timings: they depend on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

try:
    import auditlog  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from _ab import interleaved
from _ab import ratio_line as ab_ratio_line

from auditlog import AuditLog

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("batched", "single", "concurrent", "verify", "cold", "show")


@dataclass(frozen=True)
class Sizes:
    batched_runs: int
    batch_size: int
    single_appends: int
    writers: int
    appends_per_writer: int
    verify_small: int
    verify_large: int
    verify_repeats: int
    cold_repeats: int
    show_runs: int = 100_000


FULL = Sizes(batched_runs=100_000, batch_size=1_000, single_appends=300, writers=8, appends_per_writer=100,
             verify_small=100_000, verify_large=1_000_000, verify_repeats=3, cold_repeats=20)
QUICK = Sizes(batched_runs=1_000, batch_size=100, single_appends=10, writers=8, appends_per_writer=5,
              verify_small=2_000, verify_large=10_000, verify_repeats=1, cold_repeats=3, show_runs=300)

_STARTED = time.perf_counter()
SUMMARY: list[tuple[str, str, str, str]] = []  # (what, measured, target, verdict)


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def ratio_line(label: str, ratio: float, target: str | None, met: bool | None) -> None:
    """One `ratio` line; the smoke test looks for these."""
    verdict = "" if met is None else ("met" if met else "MISSED")
    target_text = f"target {target}" if target else "no target"
    print(f"  ratio {label}: {ratio:.2f}x   ({target_text}{': ' + verdict if verdict else ''})")
    SUMMARY.append((label, f"{ratio:.2f}x", target or "-", verdict or "-"))


def figure(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def fmt_rate(per_second: float, unit: str) -> str:
    return f"{per_second:>12,.0f} {unit}/s"


# -- documents ----------------------------------------------------------------------

PROJECTS = ("mmlu-pro", "gsm8k", "humaneval", "truthfulqa")
MODELS = ("gpt-4o-mini", "llama-3.1-8b-instruct", "qwen2.5-7b")


def make_run(number: int, rng: random.Random) -> dict:
    """A small, typical run document: 5 metrics, 10 items, its own environment."""
    items = []
    for j in range(10):
        score = rng.choice((0.0, 1.0, 1.0, round(rng.random(), 4)))
        items.append({"item_id": f"q-{j:03d}", "score": score, "passed": score >= 0.5,
                      "latency_ms": round(rng.uniform(5, 2_000), 3)})
    return {
        "run_id": f"bench-{number:07d}",
        "project_id": PROJECTS[number % len(PROJECTS)],
        "model_id": MODELS[number % len(MODELS)],
        "model_version": f"2024-0{number % 9 + 1}-01",
        "dataset": {"name": "bench", "version": "1.0"},
        "started_at": "2024-05-01T12:00:00.000000Z",
        "finished_at": "2024-05-01T12:34:56.789012Z",
        "environment": {"python": "3.11.7", "platform": "Linux-x86_64", "ci": {"job": f"job-{number % 16}"}},
        "metrics": {"accuracy": rng.random(), "f1": rng.random(), "exact_match": rng.random(),
                    "mean_latency_ms": rng.uniform(5, 2_000), "cost_usd": round(rng.uniform(0, 10), 4)},
        "items": items,
    }


def make_chunk(index: int, size: int) -> list[dict]:
    rng = random.Random(index)
    return [make_run(index * size + k, rng) for k in range(size)]


# -- helpers ------------------------------------------------------------------------

COLUMNS = "seq, hash, ts, type, project, subject, body"


def clone_events_table(source: Path, target: Path) -> sqlite3.Connection:
    """A fresh database whose events table is defined exactly as auditlog's (table, indexes,
    triggers, copied from sqlite_master), in WAL mode with synchronous=FULL, holding the
    source's genesis row: the schema takes events at the head only, so baselines start at seq 1."""
    with sqlite3.connect(source) as src:
        statements = [sql for (sql,) in src.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL "
            "ORDER BY type = 'table' DESC, rowid")]
        genesis = stored_rows(src, 0, 0)
    src.close()
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for sql in statements:
        conn.execute(sql)
    conn.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", genesis)
    return conn


def stored_rows(conn: sqlite3.Connection, first: int, last: int) -> list[tuple]:
    return conn.execute(f"SELECT {COLUMNS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)).fetchall()


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- batched append -------------------------------------------------------------------

def naive_writer(conn: sqlite3.Connection, dumps) -> object:  # noqa: ANN001 - a json encoder
    """The loop a user would write: encode each document, chain its hash to the previous one,
    one executemany per transaction. Returns a function of one transaction's documents."""
    state = {"prev": "0" * 64, "seq": 1}
    sha256, insert = hashlib.sha256, f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"

    def write(docs: list[dict]) -> None:
        prev, seq = state["prev"], state["seq"]
        conn.execute("BEGIN IMMEDIATE")
        rows = []
        for doc in docs:
            body = dumps(doc)
            prev = sha256(prev.encode() + body).hexdigest()
            rows.append((seq, prev, utc_now(), "run.recorded", doc["project_id"], doc["run_id"], body))
            seq += 1
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        state["prev"], state["seq"] = prev, seq
    return write


def bench_batched(tmp: Path, sizes: Sizes) -> None:
    """auditlog's batched append (`Writer.record_runs`, a transaction of `batch_size` runs) against the
    naive loop in the same run, interleaved transaction by transaction (scripts/bench/_ab.py)."""
    n, batch = sizes.batched_runs, sizes.batch_size
    reps = max(2, n // batch // 2)  # per comparison: the naive loops with json and with orjson
    print(f"\n== batched append: {2 * reps * batch:,} runs (5 metrics, 10 items), transactions of {batch:,}, "
          "synchronous=FULL, WAL ==")
    import orjson

    ours_path = tmp / "batched.db"
    log = AuditLog.open(ours_path)
    numbers = iter(range(1_000_000))
    ready: list[list[dict]] = []

    def make_next() -> None:  # untimed, before every timed transaction: the documents a CI job has in hand
        ready[:] = [make_chunk(next(numbers), batch)]

    def ours() -> None:
        with log.writer() as w:
            w.record_runs(ready[0])

    plain_json = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    baselines = {
        "json, compact": naive_writer(clone_events_table(ours_path, tmp / "batched-json.db"),
                                      lambda doc: plain_json(doc).encode()),
        "orjson": naive_writer(clone_events_table(ours_path, tmp / "batched-orjson.db"),
                               lambda doc: orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)),
    }
    results = {}
    for name, write in baselines.items():
        results[name] = interleaved(ours, lambda write=write: write(ready[0]), reps, before=make_next)
        progress(f"batched: ours vs the naive {name} loop done")
    log.close()
    for name, ab in results.items():
        figure(f"auditlog record_runs / naive {name} loop",
               f"{1e6 * ab.ours.min / batch:7.1f} / {1e6 * ab.base.min / batch:7.1f} us/run (min over transactions)")
    targets = {"json, compact": ">= 0.60x", "orjson": None}
    for name, ab in results.items():
        by_min, by_median = ab.speed()
        target = targets[name]
        print(ab_ratio_line(f"batched append vs the naive loop ({name})", by_min, by_median, target,
                            None if target is None else by_min >= 0.6))
        SUMMARY.append((f"batched append vs the naive loop ({name})", f"{by_min:.2f}x", target or "-",
                        "-" if target is None else ("met" if by_min >= 0.6 else "MISSED")))

    # For the verify section, whose events are tiny: the same comparison on these run events.
    with AuditLog.open(ours_path, create=False) as log:
        plain_rehash(ours_path)  # warm the page cache
        start = time.perf_counter()
        plain_rehash(ours_path)
        t_base = time.perf_counter() - start
        start = time.perf_counter()
        report = log.verify()
        t_ours = time.perf_counter() - start
    if not report.ok:
        raise RuntimeError(f"the batched log does not verify: {report.first}")
    figure("verify() of this log / plain read-and-rehash", f"{t_ours:.2f} s / {t_base:.2f} s")
    ratio_line("verify vs plain read-and-rehash, run-sized events", t_base / t_ours, None, None)


# -- single appends -------------------------------------------------------------------

def bench_single(tmp: Path, sizes: Sizes) -> None:
    n = sizes.single_appends
    print(f"\n== single appends: {n} transactions of one run each, synchronous=FULL ==")
    path = tmp / "single.db"
    log = AuditLog.open(path)
    reader = sqlite3.connect(path)
    plain = clone_events_table(path, tmp / "single-plain.db")
    docs = make_chunk(0, n)
    ours, base = [], []
    for i, doc in enumerate(docs):
        start = time.perf_counter()
        receipt = log.record_run(doc)
        ours.append(time.perf_counter() - start)
        row = stored_rows(reader, receipt.seq, receipt.seq)[0]
        start = time.perf_counter()
        plain.execute("BEGIN IMMEDIATE")
        plain.execute(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        plain.execute("COMMIT")
        base.append(time.perf_counter() - start)
        if i % max(1, n // 5) == 0:
            progress(f"single: {i}/{n}")
    log.close()
    reader.close()
    plain.close()
    figure("auditlog record_run (one transaction)",
           f"{fmt_rate(n / sum(ours), 'appends')}  (median {1e3 * statistics.median(ours):.2f} ms)")
    figure("plain one-row transaction, same bytes",
           f"{fmt_rate(n / sum(base), 'appends')}  (median {1e3 * statistics.median(base):.2f} ms)")
    ratio_line("single appends vs plain one-row transactions", sum(base) / sum(ours), None, None)


# -- concurrent writers --------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import json, os, sys, time
    from auditlog import AuditLog
    path, tmp, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    log = AuditLog.open(path, create=False, lock_timeout=120)
    docs = [{"run_id": f"w{worker}-{i}", "project_id": "concurrent", "model_id": f"m{worker}",
             "environment": {"worker": worker}, "metrics": {"accuracy": 0.5, "f1": 0.5},
             "items": [{"item_id": f"q{j}", "score": 1.0, "passed": True} for j in range(10)]}
            for i in range(count)]
    open(os.path.join(tmp, f"ready-{worker}"), "w").close()
    while not os.path.exists(os.path.join(tmp, "go")):
        time.sleep(0.0005)
    latencies = []
    first = time.monotonic()
    for doc in docs:
        start = time.perf_counter()
        log.record_run(doc)
        latencies.append(time.perf_counter() - start)
    last = time.monotonic()
    log.close()
    print(json.dumps({"first": first, "last": last, "latencies": latencies}))
""")


def run_writers(tmp: Path, writers: int, count: int) -> tuple[float, list[float]]:
    """`writers` processes of `count` appends each into one log; (appends/s, latencies)."""
    work = tmp / f"writers-{writers}"
    work.mkdir()
    path = work / "log.db"
    AuditLog.open(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(work), str(k), str(count)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(writers)]
    deadline = time.monotonic() + 120
    while not all((work / f"ready-{k}").exists() for k in range(writers)):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            raise RuntimeError("a writer process died before the start: "
                               + "".join(p.communicate()[1] for p in procs))
        time.sleep(0.005)
    (work / "go").touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"a writer process failed: {err}")
        results.append(json.loads(out))
    with AuditLog.open(path, create=False) as log:
        report = log.verify()
        if not report.ok or report.size != 1 + writers * count:
            raise RuntimeError(f"concurrent writers damaged the log: {report.to_json()}")
    span = max(r["last"] for r in results) - min(r["first"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    return writers * count / span, latencies


def bench_concurrent(tmp: Path, sizes: Sizes) -> None:
    k, n = sizes.writers, sizes.appends_per_writer
    print(f"\n== concurrent writers: {k} processes x {n} single appends, vs 1 process x {n} ==")
    progress("concurrent: 1 writer")
    one_rate, one_lat = run_writers(tmp, 1, n)
    progress(f"concurrent: {k} writers")
    many_rate, lat = run_writers(tmp, k, n)
    p50, p99, worst = statistics.median(lat), percentile(lat, 0.99), max(lat)
    figure("1 writer", f"{fmt_rate(one_rate, 'appends')}  (p50 {1e3 * statistics.median(one_lat):.2f} ms)")
    figure(f"{k} writers, total", fmt_rate(many_rate, "appends"))
    figure(f"{k} writers, latency p50 / p99 / max",
           f"{1e3 * p50:.2f} / {1e3 * p99:.2f} / {1e3 * worst:.2f} ms")
    ratio_line(f"{k} writers total throughput vs 1 writer", many_rate / one_rate, None, None)
    ratio_line(f"{k} writers max latency / p50 latency", worst / p50, "<= 20x (fair queueing)", worst / p50 <= 20)


# -- verify -----------------------------------------------------------------------------

def grow_log(path: Path, until: int) -> None:
    """Append small events until the log holds `until`, through the writer's own sealing,
    linking and Merkle bookkeeping but without validating run documents (too slow for 1M)."""
    from auditlog.core.events import RUN_ANNOTATED
    with AuditLog.open(path, synchronous="OFF") as log:
        size = log.head().size
        while size < until:
            step = min(100_000, until - size)
            with log.writer() as w:
                subject = f"bench-{size}"
                for i in range(size, size + step):
                    w._append(RUN_ANNOTATED, "bench", subject, {"n": i}, "")
            size += step
            progress(f"verify: log grown to {size:,} events")


VERIFY_MEMORY = textwrap.dedent("""
    import json, resource, sys
    from auditlog import AuditLog
    import auditlog.services.verify  # what verify imports lazily is start-up, not verify's memory
    log = AuditLog.open(sys.argv[1], create=False)
    log.head()
    def status_kib(field):  # VmHWM, not ru_maxrss: that one keeps the parent's peak across fork + exec
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
    before = status_kib("VmRSS")
    report = log.verify(processes=int(sys.argv[2]))
    peak = status_kib("VmHWM")
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker's peak (KiB), if any
    print(json.dumps({"ok": report.ok, "size": report.size, "before_kib": before, "peak_kib": peak,
                      "workers_peak_kib": workers}))
""")


def verify_memory(path: Path) -> dict:
    """Peak memory of verify on two processes (segments), in a fresh process: the parent's growth
    and the largest worker's peak, which must not grow with the log."""
    done = subprocess.run([sys.executable, "-c", VERIFY_MEMORY, str(path), "2"], capture_output=True, text=True,
                          timeout=1800, check=True)
    return json.loads(done.stdout)


def plain_rehash(path: Path) -> int:
    conn = sqlite3.connect(path)
    sha256 = hashlib.sha256
    bad = 0
    for _seq, stored, body in conn.execute("SELECT seq, hash, body FROM events ORDER BY seq"):
        if sha256(body).hexdigest() != stored:
            bad += 1
    conn.close()
    return bad


def bench_verify(tmp: Path, sizes: Sizes) -> None:
    small, large = sizes.verify_small, sizes.verify_large
    print(f"\n== verify: {large:,} small events vs a plain read-and-rehash loop; peak memory at {small:,} and {large:,} ==")
    path = tmp / "verify.db"
    grow_log(path, small)
    mem_small = verify_memory(path)
    progress(f"verify: memory at {small:,} measured")
    grow_log(path, large)
    mem_large = verify_memory(path)
    progress(f"verify: memory at {large:,} measured")

    from _ab import interleaved
    from _ab import ratio_line as ab_ratio_line
    log = AuditLog.open(path, create=False)
    plain_rehash(path)  # warm the page cache for both
    reports = []
    ab = interleaved(lambda: reports.append(log.verify()), lambda: plain_rehash(path), sizes.verify_repeats)
    one = interleaved(lambda: reports.append(log.verify(processes=1)), lambda: plain_rehash(path),
                      sizes.verify_repeats)
    log.close()
    if not all(r.ok for r in reports):
        raise RuntimeError("the benchmark log does not verify")
    size = mem_large["size"]
    t_ours, t_base = ab.ours.min, ab.base.min
    db_mb = path.stat().st_size / 1e6
    figure("auditlog verify()", f"{fmt_rate(size / t_ours, 'events')}  ({t_ours:.2f} s for {size:,}; {db_mb:,.0f} MB file)")
    figure("plain SELECT + sha256 loop", f"{fmt_rate(size / t_base, 'events')}  ({t_base:.2f} s)")
    by_min, by_median = ab.speed()
    print("  " + ab_ratio_line("verify vs plain read-and-rehash", by_min, by_median, ">= 0.5x", by_min >= 0.5))
    SUMMARY.append(("verify vs plain read-and-rehash", f"{by_min:.2f}x", ">= 0.5x", "met" if by_min >= 0.5 else "MISSED"))
    print("  " + ab_ratio_line("verify on one process vs plain read-and-rehash", *one.speed()))
    growth_small = (mem_small["peak_kib"] - mem_small["before_kib"]) / 1024
    growth_large = (mem_large["peak_kib"] - mem_large["before_kib"]) / 1024
    figure(f"verify peak RSS growth at {mem_small['size']:,} events",
           f"{growth_small:8.1f} MiB (process peak {mem_small['peak_kib'] / 1024:.1f} MiB)")
    figure(f"verify peak RSS growth at {mem_large['size']:,} events",
           f"{growth_large:8.1f} MiB (process peak {mem_large['peak_kib'] / 1024:.1f} MiB)")
    figure("largest verify worker's peak RSS", f"{mem_small['workers_peak_kib'] / 1024:.1f} MiB at "
           f"{mem_small['size']:,} events, {mem_large['workers_peak_kib'] / 1024:.1f} MiB at {mem_large['size']:,}")
    flat = growth_large <= max(1.5 * growth_small, growth_small + 4)
    ratio_line(f"verify memory growth {large:,} / {small:,} events", growth_large / max(growth_small, 0.1),
               "flat: <= 1.5x or within 4 MiB", flat)


# -- cold start ---------------------------------------------------------------------------

def auditlog_command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "auditlog", shutil.which("auditlog")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return [sys.executable, "-m", "auditlog"]


def bench_cold(tmp: Path, sizes: Sizes) -> None:
    reps = sizes.cold_repeats
    print(f"\n== cold start: fresh processes, median of {reps} ==")
    path = tmp / "cold.db"
    AuditLog.open(path).close()
    doc = tmp / "run.json"
    doc.write_text(json.dumps(make_run(1, random.Random(1))).replace('"bench-0000001"', '"cold"'))
    bare = tmp / "bare-run.json"  # without environment: captured, git included (run in the checkout)
    bare.write_text(json.dumps({"project_id": "cold", "model_id": "m", "metrics": {"accuracy": 0.5}}))
    cli = auditlog_command()
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "python -c 'import sqlite3'": ([sys.executable, "-c", "import sqlite3"], None),
        "auditlog append run": ([*cli, "append", "run", str(doc), "--log", str(path)], None),
        "auditlog verify": ([*cli, "verify", "--log", str(path)], None),
        "auditlog append run (captures git environment)": ([*cli, "append", "run", str(bare), "--log", str(path)], REPO),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for r in range(reps):
        for name, (cmd, cwd) in commands.items():
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, cwd=cwd, check=False)
            times[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stderr.decode()}")
        if r % max(1, reps // 4) == 0:
            progress(f"cold start: {r + 1}/{reps}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        figure(name, f"{1e3 * median:8.1f} ms")
    base = medians["python -c pass"]
    for name in ("auditlog append run", "auditlog verify"):
        ratio_line(f"cold start {name} / python -c pass", medians[name] / base, "<= 5x", medians[name] / base <= 5)
        ratio_line(f"cold start {name} / python -c 'import sqlite3'", medians[name] / medians["python -c 'import sqlite3'"],
                   None, None)
    ratio_line("cold start auditlog append run, git captured / python -c pass",
               medians["auditlog append run (captures git environment)"] / base, None, None)


# -- show -----------------------------------------------------------------------------------

def bench_show(tmp: Path, sizes: Sizes) -> None:
    """`auditlog show` of one run on a large log, in a fresh process, over `python -c pass`."""
    from _ab import interleaved
    from _ab import ratio_line as ab_ratio_line
    runs = sizes.show_runs
    print(f"\n== show: one run of a {runs:,}-run log in a fresh process vs python -c pass ==")
    path = tmp / "show.db"
    with AuditLog.open(path, synchronous="OFF") as log:
        for first in range(0, runs, 1_000):
            with log.writer() as w:
                for n in range(first, min(runs, first + 1_000)):
                    w.record_run(make_run(n, random.Random(n)))
            if first % 20_000 == 0:
                progress(f"show: {first + 1_000:,} runs")
        subprocess.run([*auditlog_command(), "projections", "rebuild", "--log", str(path)], capture_output=True,
                       check=True)  # (this directory's projections.py shadows the package here)
        log.record_run(make_run(runs, random.Random(runs)))  # after the catch-up: show walks to it
        old_run, new_run = make_run(runs // 2, random.Random(0))["run_id"], make_run(runs, random.Random(0))["run_id"]
    cli = auditlog_command()
    reps = max(3, sizes.cold_repeats)
    for which, run_id in (("an old run", old_run), ("a run appended since the catch-up", new_run)):
        def show(run_id: str = run_id) -> None:
            subprocess.run([*cli, "show", run_id, "--log", str(path)], capture_output=True, check=True)
        ab = interleaved(show, lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), reps)
        by_min, by_median = ab.slowdown()
        figure(f"auditlog show ({which})", f"{1e3 * ab.ours.min:8.1f} ms (python -c pass {1e3 * ab.base.min:.1f} ms)")
        label = f"show of {which} on a {runs:,}-run log / python -c pass"
        print("  " + ab_ratio_line(label, by_min, by_median, "<= 8x", by_min <= 8))
        SUMMARY.append((label, f"{by_min:.2f}x", "<= 8x", "met" if by_min <= 8 else "MISSED"))


# -- main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, the figures mean nothing")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--verify-events", type=int, metavar="N",
                        help="verify a log of N events (memory compared with N / 10) instead of the mode's size")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.verify_events:
        sizes = dataclasses.replace(sizes, verify_large=args.verify_events, verify_small=max(args.verify_events // 10, 100))
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    print(f"auditlog append/verify benchmark ({'quick' if args.quick else 'full'}); python {sys.version.split()[0]}, "
          f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    benches = {"batched": bench_batched, "single": bench_single, "concurrent": bench_concurrent,
               "verify": bench_verify, "cold": bench_cold, "show": bench_show}
    with tempfile.TemporaryDirectory(prefix="auditlog-bench-") as tmp:
        for name in SECTIONS:
            if name in chosen:
                benches[name](Path(tmp), sizes)
                sys.stdout.flush()

    print("\n== summary ==")
    for what, measured, target, verdict in SUMMARY:
        print(f"  {what:<64} {measured:>9}  {target:<32} {verdict}")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
