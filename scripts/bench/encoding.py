"""Benchmark: auditlog's canonical_bytes against rfc8785.dumps (and plain json.dumps).

Usage, from the repository root:

    python scripts/bench/encoding.py            # 2,000 run documents, 7 repetitions
    python scripts/bench/encoding.py --quick    # a tiny run, used by the tests

The documents look like what CI appends: ~15 top-level fields, a dict of float
metrics and ten per-item results whose scores are often exactly 0.0 or 1.0 (the
case the fast path rewrites). Prints the median of several repetitions; it asserts
nothing about timing, because timing depends on the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

try:
    import auditlog  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from auditlog.core.encoding import canonical_bytes


def make_documents(count: int, rng: random.Random) -> list[dict]:
    """`count` typical run documents, deterministic for a given generator."""
    documents = []
    for number in range(count):
        items = [
            {
                "item_id": f"q-{rng.randrange(100_000):05d}",
                "score": rng.choice([0.0, 1.0, 1.0, round(rng.random(), 4)]),
                "passed": rng.random() < 0.7,
                "latency_ms": round(rng.uniform(5, 2_000), 3),
                "tokens": rng.randrange(10, 4_000),
            }
            for _ in range(10)
        ]
        documents.append(
            {
                "run_id": f"run-{number:06d}-{rng.getrandbits(32):08x}",
                "project": "mmlu-pro",
                "suite": "mmlu-pro/stem",
                "model": rng.choice(["gpt-4o-mini", "llama-3.1-8b-instruct", "qwen2.5-7b"]),
                "model_revision": f"{rng.getrandbits(160):040x}",
                "dataset_revision": f"{rng.getrandbits(64):016x}",
                "harness": "lm-eval-harness",
                "harness_version": "0.4.5",
                "started_at": "2024-05-01T12:00:00.000000Z",
                "finished_at": "2024-05-01T12:34:56.789012Z",
                "seed": rng.randrange(2**31),
                "n_items": len(items),
                "config": {"temperature": 0.0, "max_tokens": 512, "few_shot": 5},
                "metrics": {
                    "accuracy": rng.random(),
                    "f1": rng.random(),
                    "exact_match": rng.random(),
                    "mean_latency_ms": rng.uniform(5, 2_000),
                    "cost_usd": round(rng.uniform(0, 10), 4),
                },
                "items": items,
            }
        )
    return documents


def median_seconds(encode, documents: list, repetitions: int) -> float:
    """Median wall time of encoding every document once."""
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        for document in documents:
            encode(document)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (20 documents, 2 repetitions)")
    args = parser.parse_args(argv)
    count, repetitions = (20, 2) if args.quick else (2_000, 7)

    import rfc8785

    documents = make_documents(count, random.Random(0))
    mismatches = sum(canonical_bytes(d) != rfc8785.dumps(d) for d in documents)
    if mismatches:
        print(f"ERROR: {mismatches} documents differ from rfc8785.dumps", file=sys.stderr)
        return 1

    def plain_json(document):
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    ours = median_seconds(canonical_bytes, documents, repetitions)
    reference = median_seconds(rfc8785.dumps, documents, repetitions)
    plain = median_seconds(plain_json, documents, repetitions)
    per_doc = 1e6 / count
    print(f"{count} documents, median of {repetitions} repetitions")
    print(f"canonical_bytes: {ours * per_doc:8.2f} us/doc")
    print(f"rfc8785.dumps:   {reference * per_doc:8.2f} us/doc")
    print(f"json.dumps:      {plain * per_doc:8.2f} us/doc  (not canonical; for reference)")
    speedup = reference / ours
    print(f"speedup vs rfc8785: {speedup:.1f}x")
    print(f"  ratio canonical_bytes vs rfc8785.dumps: {speedup:.1f}x faster   "
          f"(target >= 3x: {'met' if speedup >= 3 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
