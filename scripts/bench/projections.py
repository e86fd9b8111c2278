"""Benchmark: building and querying the Parquet projections, each figure next to a baseline from the same run.

Usage, from the repository root:

    python scripts/bench/projections.py            # full size: 100,000 runs x 10 items = 1M items (a few minutes)
    python scripts/bench/projections.py --quick    # tiny sizes: a smoke test, figures meaningless
    python scripts/bench/projections.py --runs 20000 --items 50

Measurements:

- rebuild: `projections.rebuild(log, dir)` of the whole log (read every event from SQLite,
  decode, fold, write runs, items, verdicts, manifest and state), best of 3 in fresh
  directories; vs the plain pyarrow write of the same rows: the three tables' rows as
  Python dicts (read back from the rebuilt files, before timing) turned into tables with
  `pa.Table.from_pylist(rows, schema)` and written with `pq.write_table` (pyarrow's
  defaults), what a user would write by hand. Target: rebuild within 2x of it. A stricter
  baseline (the same rows as Python column lists, `pa.array` per column) is printed too,
  and the floor any rebuild from this log pays before writing anything: reading every
  event and json.loads of its bytes; the last ratio is rebuild vs floor + plain write.
- catch-up: append one run, then `projections.catch_up` (reads the one new event, writes
  one items part, patches runs/verdicts/manifest), vs the same plain write of just the runs
  table (what any refresh of runs.parquet costs at least). Target: well under a second.
- history: `projections.open` + `list_runs(limit=50)` when up to date (API), and the CLI
  `auditlog history --limit 50 -o json` in a fresh process vs `python -c "import pyarrow.parquet"`
  (the floor of any process that reads Parquet), median of 5.

The log is written under a temporary directory, removed at the end. Progress goes to
stderr, results to stdout. Nothing here asserts on timings: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import projections  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import pyarrow as pa
import pyarrow.parquet as pq

import projections
from auditlog import AuditLog
from projections.schema import arrow_schema

REPO = Path(__file__).resolve().parents[2]
PROJECTS = ("mmlu-pro", "gsm8k", "humaneval", "safety", "arc")
MODELS = ("claude-x", "gpt-y", "llama-z")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_doc(i: int, n_items: int, rng: random.Random) -> dict:
    project, model = PROJECTS[i % len(PROJECTS)], MODELS[(i // len(PROJECTS)) % len(MODELS)]
    items = []
    for k in range(n_items):
        score = round(rng.random(), 4)
        items.append({"item_id": f"{project}/{k:05d}", "score": score, "passed": score >= 0.5,
                      "latency_ms": round(rng.uniform(100, 3000), 1), "tokens": rng.randint(10, 900)})
    return {
        "run_id": f"{model}::{project}::{i:07d}", "project_id": project, "model_id": model,
        "model_version": f"1.{i % 7}", "dataset": {"name": project, "version": "2025.1"},
        "experiment": {"id": f"exp-{i % 11}", "group": "AB"[i % 2], "version": str(i % 5)},
        "started_at": f"2026-01-{1 + i % 28:02d}T09:00:00Z",
        "metrics": {"accuracy": sum(it["passed"] for it in items) / n_items, "latency": 1.5},
        "items": items, "tags": {"suite": "nightly"}, "environment": {"python": "3.11", "platform": "bench"},
    }


def build_log(path: Path, n_runs: int, n_items: int) -> None:
    rng = random.Random(7)
    with AuditLog.open(path, synchronous="OFF") as opened:
        for start in range(0, n_runs, 5000):
            with opened.writer() as w:
                for i in range(start, min(start + 5000, n_runs)):
                    w.record_run(run_doc(i, n_items, rng))
                    if i % 50 == 49:
                        w.record_verdict({"run_id": f"{MODELS[(i // 5) % 3]}::{PROJECTS[i % 5]}::{i:07d}",
                                          "baseline_run_id": f"{MODELS[((i - 5) // 5) % 3]}::{PROJECTS[i % 5]}::{i - 5:07d}",
                                          "metric": "accuracy", "delta": 0.01, "verdict": "ALLOW"})
            log(f"  log: {min(start + 5000, n_runs)}/{n_runs} runs")


def timed(func, repeat: int = 1) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def ratio_line(label: str, ours: float, base: float, target: float | None = None, unit: str = "s") -> str:
    ratio = ours / base if base else float("inf")
    verdict = ""
    if target is not None:
        verdict = f"  (target <= {target:g}x: {'met' if ratio <= target else 'MISSED'})"
    return f"ratio {label}: {ratio:.2f}x  ({ours:.3f}{unit} vs {base:.3f}{unit}){verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--items", type=int, default=None, help="items per run")
    args = parser.parse_args()
    n_runs = args.runs or (300 if args.quick else 100_000)
    n_items = args.items or 10
    repeat = 1 if args.quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="auditlog-bench-projections-"))
    results: list[str] = []
    try:
        db = tmp / "evals.db"
        log(f"building a log of {n_runs} runs x {n_items} items ...")
        t0 = time.perf_counter()
        build_log(db, n_runs, n_items)
        log(f"  built in {time.perf_counter() - t0:.1f}s")

        with AuditLog.open(db, create=False) as opened:
            size = opened.head().size
            out = tmp / "rebuild"
            dirs = iter(range(100))

            def rebuild() -> None:
                shutil.rmtree(out, ignore_errors=True)
                projections.rebuild(opened, out)

            log("rebuild ...")
            t_rebuild = timed(rebuild, repeat)
            state = projections.catch_up(opened, out)
            counts = state.counts
            results.append(f"log: {size} events, {counts['runs']} runs, {counts['items']} items, "
                           f"{counts['verdicts']} verdicts")
            results.append(f"rebuild: {t_rebuild:.3f}s ({counts['items'] / t_rebuild:,.0f} items/s)")

            view = projections.open_built(out)
            tables = {"runs": view.runs, "items": view.items(), "verdicts": view.verdicts}
            rows = {name: t.to_pylist() for name, t in tables.items()}
            columns = {name: {c: t.column(c).to_pylist() for c in t.column_names} for name, t in tables.items()}

            def plain_rows() -> None:
                for name, r in rows.items():
                    pq.write_table(pa.Table.from_pylist(r, schema=arrow_schema(name)), tmp / f"plain-{next(dirs)}.parquet")

            def plain_columns() -> None:
                for name, cols in columns.items():
                    schema = arrow_schema(name)
                    arrays = [pa.array(cols[f.name], type=f.type) for f in schema]
                    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp / f"plain-{next(dirs)}.parquet")

            def floor() -> None:
                loads = json.loads
                for sealed in opened.events():
                    loads(sealed.body)

            log("plain pyarrow writes ...")
            t_rows = timed(plain_rows, repeat)
            t_cols = timed(plain_columns, repeat)
            t_floor = timed(floor, repeat)
            results.append(ratio_line("rebuild vs plain pyarrow write of the same rows (from_pylist)", t_rebuild, t_rows, 2))
            results.append(ratio_line("rebuild vs plain pyarrow write from column lists (stricter)", t_rebuild, t_cols))
            results.append(f"floor: read every event + json.loads: {t_floor:.3f}s")
            results.append(ratio_line("rebuild vs floor + plain write (from_pylist)", t_rebuild, t_floor + t_rows))
            rows = columns = tables = None  # free them (the closures above ran already)

            log("incremental catch-up of one run ...")
            rng = random.Random(99)
            opened.record_run(run_doc(n_runs, n_items, rng))
            t_catch = timed(lambda: projections.catch_up(opened, out))
            state = projections.catch_up(opened, out)
            runs_rows = projections.open_built(out).runs.to_pylist()
            t_runs = timed(lambda: pq.write_table(pa.Table.from_pylist(runs_rows, schema=arrow_schema("runs")),
                                                  tmp / f"plain-{next(dirs)}.parquet"))
            results.append(f"catch-up of one run: {t_catch:.3f}s (now {len(state.items)} item parts)")
            results.append(ratio_line("catch-up of one run vs plain write of the runs table", t_catch, t_runs))

            def history_api() -> None:
                projections.list_runs(projections.open(opened, out), limit=50)

            t_history = timed(history_api, 5)
            results.append(f"history (API, up to date, limit 50): {t_history * 1000:.1f}ms")

        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        env.pop("AUDITLOG_DB", None)

        def cli_history() -> None:
            done = subprocess.run([sys.executable, "-m", "auditlog", "history", "--log", str(db), "--projections",
                                   str(out), "--limit", "50", "-o", "json"], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"auditlog history failed: {done.stderr}")

        def floor() -> None:
            subprocess.run([sys.executable, "-c", "import pyarrow.parquet"], check=True, capture_output=True, env=env)

        cli = statistics.median(timed(cli_history) for _ in range(5))
        base = statistics.median(timed(floor) for _ in range(5))
        results.append(f"history (CLI, fresh process, limit 50): {cli * 1000:.0f}ms")
        results.append(ratio_line('history CLI vs python -c "import pyarrow.parquet"', cli, base))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("== summary ==")
    for line in results:
        print(("  " if line.startswith("ratio") else "") + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
