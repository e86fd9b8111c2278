"""Run every benchmark in scripts/bench/ and collect their ratios into one JSON and one markdown table.

    python scripts/bench/run_all.py                 # full sizes (minutes)
    python scripts/bench/run_all.py --quick         # tiny sizes: a smoke test, figures meaningless
    python scripts/bench/run_all.py --out results/  # where bench-results.json and .md go (default: a temp dir)
    python scripts/bench/run_all.py --only proofs --only stores

Each benchmark runs in its own subprocess (`--quick` passed through), one after the
other so that they do not compete for the CPU. Every line of theirs that starts with
"ratio " is a figure: its label, the ratio (ours / baseline, or "x faster" where the
benchmark says so), its target and whether it was met, as the benchmark printed them.
A benchmark that fails is reported (exit code, last lines of stderr) and the others
still run; the exit code is 1 if any failed, else 0. Missed targets do not fail the
run: they are in the table, for a person to read.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATIO = re.compile(r"^\s*ratio (?P<label>.+?): (?P<ratio>[0-9]+(?:\.[0-9]+)?|inf)x(?P<rest>.*)$")
TARGET = re.compile(r"\(target (?P<target>.*?)(?::\s*(?P<verdict>met|MISSED))?\)\s*$")


def benchmarks() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))


def parse_ratios(stdout: str) -> list[dict[str, object]]:
    """Every `ratio ...` line of a benchmark's output, as a record."""
    figures = []
    for line in stdout.splitlines():
        found = RATIO.match(line)
        if not found:
            continue
        rest = found["rest"]
        target = TARGET.search(rest)
        verdict = target["verdict"] if target else None
        figures.append({
            "label": found["label"].strip(),
            "ratio": float(found["ratio"]),
            "unit": "x faster" if rest.lstrip().startswith("faster") else "x",
            "target": target["target"].strip() if target else None,
            "status": {"met": "met", "MISSED": "missed"}.get(verdict or "", "no target" if not target else "-"),
            "line": line.strip(),
        })
    return figures


def run_one(script: Path, quick: bool, timeout: float) -> dict[str, object]:
    argv = [sys.executable, str(script), *(["--quick"] if quick else [])]
    print(f"== {script.name}: {' '.join(argv[1:])}", flush=True)
    start = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, _text(exc.stdout), _text(exc.stderr) + f"\ntimed out after {timeout:g} s"
    seconds = time.monotonic() - start
    figures = parse_ratios(out)
    for figure in figures:
        print(f"   {figure['line']}")
    state = "ok" if code == 0 else ("timed out" if code is None else f"FAILED (exit {code})")
    print(f"   {state}: {len(figures)} ratio(s) in {seconds:.1f} s", flush=True)
    return {"benchmark": script.stem, "script": str(script.relative_to(HERE.parents[1])), "returncode": code,
            "seconds": round(seconds, 2), "ratios": figures,
            "stderr_tail": "" if code == 0 else "\n".join(err.strip().splitlines()[-15:])}


def _text(data: bytes | str | None) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


def markdown(results: dict[str, object]) -> str:
    lines = [f"# Benchmark results ({'quick: figures meaningless' if results['quick'] else 'full'})", "",
             f"{results['finished']} · Python {results['python']} · {results['machine']}", "",
             "| benchmark | figure | ratio | target | met? |", "|---|---|---:|---|---|"]
    for bench in results["benchmarks"]:
        if not bench["ratios"]:
            status = "ok, no ratio lines" if bench["returncode"] == 0 else f"**failed** (exit {bench['returncode']})"
            lines.append(f"| {bench['benchmark']} | ({status}) | | | |")
        for figure in bench["ratios"]:
            label = str(figure["label"]).replace("|", "\\|")
            met = {"met": "met", "missed": "**missed**"}.get(str(figure["status"]), str(figure["status"]))
            lines.append(f"| {bench['benchmark']} | {label} | {figure['ratio']:.2f}{figure['unit']} | "
                         f"{figure['target'] or '-'} | {met} |")
    failed = [b["benchmark"] for b in results["benchmarks"] if b["returncode"] != 0]
    if failed:
        lines += ["", f"Failed benchmarks: {', '.join(failed)} (see bench-results.json for their stderr)."]
    lines += ["", "Reproduce: `python scripts/bench/run_all.py" + (" --quick" if results["quick"] else "") + "`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (passed to every benchmark): a smoke test")
    parser.add_argument("--out", type=Path, help="directory for bench-results.json and bench-results.md "
                                                 "(default: a new temporary directory)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark (default 3600)")
    args = parser.parse_args(argv)

    scripts = benchmarks()
    if args.only:
        unknown = sorted(set(args.only) - {s.stem for s in scripts})
        if unknown:
            parser.error(f"no benchmark {', '.join(unknown)} (have: {', '.join(s.stem for s in scripts)})")
        scripts = [s for s in scripts if s.stem in args.only]
    out = args.out or Path(tempfile.mkdtemp(prefix="auditlog-bench-"))
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, object] = {
        "quick": args.quick, "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmarks": [run_one(script, args.quick, args.timeout) for script in scripts],
    }
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    (out / "bench-results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "bench-results.md").write_text(markdown(results), encoding="utf-8")
    figures = [f for b in results["benchmarks"] for f in b["ratios"]]
    missed = sum(f["status"] == "missed" for f in figures)
    failed = [b["benchmark"] for b in results["benchmarks"] if b["returncode"] != 0]
    print(f"\n{len(figures)} ratios from {len(scripts)} benchmarks ({missed} targets missed"
          f"{', failed: ' + ', '.join(failed) if failed else ''})")
    print(f"wrote {out / 'bench-results.json'} and {out / 'bench-results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
