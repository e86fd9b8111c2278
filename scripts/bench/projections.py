"""Benchmark: building and querying the Parquet projections, each figure a ratio measured side by side in one run.

Usage, from the repository root:

    python scripts/bench/projections.py            # full size: 100,000 runs x 10 items = 1M items (minutes)
    python scripts/bench/projections.py --quick    # tiny sizes: a smoke test, figures meaningless
    python scripts/bench/projections.py --runs 20000 --items 50

Figures (issue 15), each from interleaved A/B repetitions (scripts/bench/_ab.py: min and median,
the load average beside each ratio):

- rebuild: `projections.rebuild(log, dir)` of the whole log (read every event from SQLite, hash
  and link it, decode, fold, write runs, items, verdicts, baselines, manifest and state) in a
  fresh directory, over a plain pyarrow write of the same item rows from column lists (the items
  table read back from the rebuilt files, as Python lists per column before timing; `pa.array`
  per column, `pq.write_table` with pyarrow's defaults). Target <= 3x.
- catch-up: append one run, then `projections.catch_up`: on the big log (`--runs`) over the
  same on a log of 1% of its runs (at least 30). Target <= 1.5x: the cost must not grow with
  the history (the parts merge by size; nothing is rewritten whole).
- history and trend, as CLI processes: `auditlog history --project P --model M --limit 50 -o json`
  and `auditlog trend --project P --metric accuracy -o json` on the big log over the same on the
  small one. Targets <= 1.5x (history) and <= 2x (trend).

The logs are written under a temporary directory, removed at the end. Progress goes to stderr,
results to stdout. Nothing here asserts on timings: they depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This directory holds this file, named projections.py: never import the package from here.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
try:
    import projections
except ImportError:  # running from a checkout that is not installed
    sys.path.append(str(HERE.parents[1] / "src"))
    import projections

import pyarrow as pa  # noqa: E402 - after the sys.path fix above
import pyarrow.parquet as pq  # noqa: E402 - after the sys.path fix above
from orjson import loads as _loads  # noqa: E402 - after the sys.path fix above

from auditlog import AuditLog  # noqa: E402 - after the sys.path fix above
from projections.schema import arrow_schema  # noqa: E402 - after the sys.path fix above

_spec = importlib.util.spec_from_file_location("_ab", HERE / "_ab.py")
assert _spec is not None and _spec.loader is not None
_ab = importlib.util.module_from_spec(_spec)
sys.modules["_ab"] = _ab  # its dataclasses look their module up
_spec.loader.exec_module(_ab)

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


def slowdown_line(label: str, ab: _ab.AB, target: float) -> str:
    by_min, by_median = ab.slowdown()
    return _ab.ratio_line(label, by_min, by_median, f"<= {target:g}x", by_min <= target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--items", type=int, default=None, help="items per run")
    args = parser.parse_args()
    n_runs = args.runs or (300 if args.quick else 100_000)
    n_small = max(30, n_runs // 100)
    n_items = args.items or 10
    reps = 1 if args.quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="auditlog-bench-projections-"))
    results: list[str] = []
    try:
        big, small = tmp / "big.db", tmp / "small.db"
        log(f"building a log of {n_runs} runs x {n_items} items, and one of {n_small} ...")
        t0 = time.perf_counter()
        build_log(big, n_runs, n_items)
        build_log(small, n_small, n_items)
        log(f"  built in {time.perf_counter() - t0:.1f}s")
        big_dir, small_dir = tmp / "big.projections", tmp / "small.projections"
        counter = iter(range(1_000_000))

        with AuditLog.open(big, create=False) as opened:
            log("rebuild ...")
            state = projections.rebuild(opened, big_dir)
            items = projections.open_built(big_dir).items()
            columns = {name: items.column(name).to_pylist() for name in items.column_names}
            results.append(f"log: {opened.head().size} events, {state.counts['runs']} runs, "
                           f"{state.counts['items']} items, {state.counts['verdicts']} verdicts")
            del items
            t0 = time.perf_counter()
            for sealed in opened.events():
                _loads(sealed.body)
            results.append(f"floor of any rebuild of this log (not a baseline): reading every event and "
                           f"orjson.loads of its bytes: {time.perf_counter() - t0:.2f}s")
            out = tmp / "rebuild"

            def fresh() -> None:
                shutil.rmtree(out, ignore_errors=True)

            def plain_write() -> None:
                schema = arrow_schema("items")
                arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
                pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp / f"plain-{next(counter)}.parquet")

            ab = _ab.interleaved(lambda: projections.rebuild(opened, out), plain_write, reps, before=fresh)
            results.append(f"rebuild: min {ab.ours.min:.2f}s ({state.counts['items'] / ab.ours.min:,.0f} items/s); "
                           f"plain write of the items from column lists: min {ab.base.min:.2f}s")
            results.append(slowdown_line(f"rebuild ({state.counts['items']:,} items) vs plain pyarrow write of the "
                                         "same item rows from column lists", ab, 3))
            columns.clear()
            shutil.rmtree(out, ignore_errors=True)

            with AuditLog.open(small, create=False) as small_log:
                projections.rebuild(small_log, small_dir)
                rng = random.Random(99)
                logs = {"big": (opened, big_dir), "small": (small_log, small_dir)}

                def one_pending() -> None:  # each side catches up exactly one new run
                    for the_log, directory in logs.values():
                        if projections.catch_up(the_log, directory).seq == the_log.head().size - 1:
                            the_log.record_run(run_doc(n_runs + 10 + next(counter), n_items, rng))

                log("catch-up of one run ...")
                ab = _ab.interleaved(lambda: projections.catch_up(opened, big_dir),
                                     lambda: projections.catch_up(small_log, small_dir),
                                     3 if args.quick else 15, before=one_pending)
                parts = projections.catch_up(opened, big_dir)
                results.append(f"catch-up of one run: min {ab.ours.min * 1000:.0f}ms on {n_runs:,} runs, "
                               f"{ab.base.min * 1000:.0f}ms on {n_small:,} (parts now: {len(parts.runs)} runs, "
                               f"{len(parts.items)} items)")
                results.append(slowdown_line(f"catch-up of one run, {n_runs:,}-run log vs {n_small:,}-run log", ab, 1.5))

        def cli(*argv: str, db: Path, directory: Path) -> None:
            done = subprocess.run([sys.executable, "-m", "auditlog", *argv, "--log", str(db), "--projections",
                                   str(directory), "-o", "json"], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"auditlog {argv[0]} failed: {done.stderr}")

        for name, argv, target in (("history", ("history", "--project", "gsm8k", "--model", "gpt-y", "--limit", "50"), 1.5),
                                   ("trend", ("trend", "--project", "gsm8k", "--metric", "accuracy"), 2.0)):
            log(f"{name} (CLI) ...")
            ab = _ab.interleaved(lambda argv=argv: cli(*argv, db=big, directory=big_dir),
                                 lambda argv=argv: cli(*argv, db=small, directory=small_dir), 3 if args.quick else 7)
            results.append(f"{name} (CLI process): min {ab.ours.min * 1000:.0f}ms on {n_runs:,} runs, "
                           f"{ab.base.min * 1000:.0f}ms on {n_small:,}")
            results.append(slowdown_line(f"{name} CLI ({' '.join(argv[1:])}), {n_runs:,}-run log vs "
                                         f"{n_small:,}-run log", ab, target))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("== summary ==")
    for line in results:
        print(("  " if line.startswith("ratio") else "") + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
