"""Benchmark: Merkle proofs and checkpoints on a large log, next to a full root recomputation.

Usage, from the repository root:

    python scripts/bench/proofs.py            # 1,000,000 events (about a minute to build)
    python scripts/bench/proofs.py --quick    # 5,000 events: a smoke test, the figures mean little
    python scripts/bench/proofs.py --size 200000 --samples 500

What is measured, in one run on one log:

- the baseline: a full root recomputation, `merkle.root_from_leaf_hashes` over
  SHA-256(0x00 || bytes) of every event, streaming the rows from the store: what a
  proof would cost without stored subtree hashes (median of --repeats runs);
- `log.inclusion_proof(seq)` for random events against the whole tree;
- `log.consistency_proof(m, n)` for random 1 <= m < n <= size;
- `log.checkpoint(signer)`: root at the head, Ed25519 signature, the note stored in
  its own write transaction (synchronous=FULL, as a user's log is opened);

each as a median, and as a ratio to the baseline (target: each >= 100x faster).

How the log is built: small `run.annotated` events are sealed with
`auditlog.core.events.seal` and their subtree hashes computed with
`merkle.TreeBuilder`, exactly as `services/log.py`'s Writer does, and written with
the store's own `transaction().append(rows, nodes)` in transactions of 50,000 events,
with the SQLite file opened synchronous=OFF for the build only (the bytes are the
same; only the fsyncs are skipped). The measurements reopen it with the default
synchronous=FULL. The results are checked (root against the recomputation, sampled
proofs against the pure verifiers) so a fast wrong answer cannot pass.

The log lives in a temporary directory, removed at the end. Progress goes to stderr,
results to stdout. Nothing asserts on timings: they depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    import auditlog  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from auditlog import AuditLog
from auditlog.core import events as ev
from auditlog.core import merkle, verify_proof
from auditlog.core.checkpoint import open_checkpoint
from auditlog.core.events import Event, seal
from auditlog.services import tree
from auditlog.services.signing import Signer

FULL_SIZE = 1_000_000
QUICK_SIZE = 5_000
BATCH = 50_000
TARGET = 100.0
_STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def build(path: Path, size: int) -> float:
    """A log of `size` events (genesis included); returns the seconds it took."""
    start = time.perf_counter()
    with AuditLog.open(path, origin="bench.example.org/proofs", synchronous="OFF") as log:
        actor = {"ci": "bench", "user": "bench"}
        head = log.head()
        while head.size < size:
            with log.store.transaction(60.0) as txn:
                builder = tree.builder_at(txn, head.size)
                rows, nodes = [], []
                prev = head.hash
                for seq in range(head.size, min(size, head.size + BATCH)):
                    sealed = seal(Event(seq, "2025-01-01T00:00:00.000000Z", ev.RUN_ANNOTATED, "bench",
                                        f"run-{seq % 1000:04d}", actor, {"tags": {"n": str(seq)}}, prev))
                    rows.append((seq, sealed.hash, sealed.event.ts, sealed.event.type, sealed.event.project,
                                 sealed.event.subject, sealed.body))
                    nodes += [n for n in builder.append(merkle.leaf_hash(sealed.body)) if n[0] >= tree.STORED_LEVEL]
                    prev = sealed.hash
                head = txn.append(rows, nodes)
            progress(f"built {head.size:,}/{size:,} events")
    return time.perf_counter() - start


def median_ms(timings: list[float]) -> float:
    return statistics.median(timings) * 1000


def timed(call) -> float:  # noqa: ANN001
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def ratio_line(label: str, ours_ms: float, baseline_ms: float) -> float:
    """One `ratio` line; the smoke test looks for these."""
    ratio = baseline_ms / ours_ms if ours_ms > 0 else float("inf")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"  ratio {label} vs full root recomputation: {ratio:.1f}x faster   (target >= {TARGET:.0f}x: {verdict})")
    return ratio


def figure(label: str, value: str) -> None:
    print(f"  {label:<70} {value}")


def run(size: int, samples: int, repeats: int, tmp: Path) -> None:
    path = tmp / "proofs.db"
    seconds = build(path, size)
    db_mb = (path.stat().st_size + sum(p.stat().st_size for p in tmp.glob("proofs.db-*"))) / 1e6
    print(f"\n== log: {size:,} events ({db_mb:,.0f} MB), built in {seconds:.1f} s "
          f"(seal + TreeBuilder, store transactions of {BATCH:,}, synchronous=OFF) ==")

    rng = random.Random(2025)
    signer = Signer.generate("bench.example.org")
    with AuditLog.open(path, create=False) as log:  # synchronous=FULL, as users open it
        # the baseline: every row's bytes, streamed and hashed into the root
        recomputations, root = [], b""
        for i in range(repeats):
            start = time.perf_counter()
            root = merkle.root_from_leaf_hashes(merkle.leaf_hash(row[6]) for row in log.store.rows())
            recomputations.append(time.perf_counter() - start)
            progress(f"full recomputation {i + 1}/{repeats}: {recomputations[-1]:.2f} s")
        if log.root() != root:
            raise SystemExit("the stored subtrees do not give the recomputed root: the log is wrong")
        baseline = median_ms(recomputations)

        inclusion = []
        for _ in range(samples):
            seq = rng.randrange(size)
            inclusion.append(timed(lambda seq=seq: log.inclusion_proof(seq)))
        consistency = []
        for _ in range(samples):
            n = rng.randint(2, size)
            m = rng.randint(1, n - 1)
            consistency.append(timed(lambda m=m, n=n: log.consistency_proof(m, n)))
        progress(f"{samples} inclusion and {samples} consistency proofs")
        checkpoints = [timed(lambda: log.checkpoint(signer)) for _ in range(max(5, samples // 10))]
        progress(f"{len(checkpoints)} checkpoints")

        # a fast wrong answer is no answer: check a sample against the pure verifiers
        for _ in range(20):
            seq, n = rng.randrange(size), size
            verify_proof.verify_inclusion(merkle.leaf_hash(log.event(seq).body), seq, n, log.inclusion_proof(seq), root)
            n2 = rng.randint(2, size)
            m2 = rng.randint(1, n2 - 1)
            verify_proof.verify_consistency(m2, n2, log.consistency_proof(m2, n2), log.root(m2), log.root(n2))
        note = log.store.checkpoints()[-1].note
        checkpoint = open_checkpoint(note, [signer.verifier()])
        if (checkpoint.size, checkpoint.root) != (size, root):
            raise SystemExit("the checkpoint does not sign the log's root")

    print(f"\n== medians ({samples} random events / pairs; {len(checkpoints)} checkpoints; "
          f"{repeats} recomputation(s)) ==")
    figure(f"full root recomputation ({size:,} rows streamed, root_from_leaf_hashes)", f"{baseline:10.1f} ms")
    figure("inclusion proof (log.inclusion_proof, random event)", f"{median_ms(inclusion):10.3f} ms")
    figure("consistency proof (log.consistency_proof, random m < n)", f"{median_ms(consistency):10.3f} ms")
    figure("checkpoint (log.checkpoint: root, sign, store; synchronous=FULL)", f"{median_ms(checkpoints):10.3f} ms")
    figure("slowest inclusion / consistency proof / checkpoint",
           f"{max(inclusion) * 1000:.3f} / {max(consistency) * 1000:.3f} / {max(checkpoints) * 1000:.3f} ms")
    print()
    ratio_line("inclusion proof", median_ms(inclusion), baseline)
    ratio_line("consistency proof", median_ms(consistency), baseline)
    ratio_line("checkpoint", median_ms(checkpoints), baseline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE:,} events: a smoke test")
    parser.add_argument("--size", type=int, help=f"number of events (default {FULL_SIZE:,}, or {QUICK_SIZE:,} with --quick)")
    parser.add_argument("--samples", type=int, help="proofs of each kind to time (default 1000, 50 with --quick)")
    parser.add_argument("--repeats", type=int, help="full recomputations to time (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    size = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    samples = args.samples or (50 if args.quick else 1000)
    repeats = args.repeats or (1 if args.quick else 3)
    if size < 2 or samples < 1 or repeats < 1:
        parser.error("--size must be >= 2, --samples and --repeats >= 1")

    print(f"auditlog proofs benchmark ({'quick' if args.quick else 'full'}); python {sys.version.split()[0]}, "
          f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="auditlog-bench-proofs-") as tmp:
        run(size, samples, repeats, Path(tmp))
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
