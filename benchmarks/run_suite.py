"""`make bench`: every benchmark of benchmarks/suite.py in its quick mode, one at a time, one table.

Each benchmark runs in its own process with `--json`; its last stdout line is
its JSON object, from which each target's figure is read. The table lists
figure, target, measured value and met/missed; `--json` prints one object with
every benchmark's figures and verdicts as the last line. A benchmark that
fails or times out is listed as such and makes the exit code 1, as does a
missed target with `--strict`.

    python benchmarks/run_suite.py [--only xla_speedup.py ...] [--json] [--strict]

Quick modes are smoke-sized where a full run takes many minutes, so some
figures are noisier than the README's full runs; the table says which script
and arguments produced each.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from suite import BENCHMARKS, Benchmark, Target  # noqa: E402

COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def figure(values: dict, key: str):
    """`values[key]`, where dots in `key` reach into nested objects; None when absent."""
    for part in key.split("."):
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


def verdict(target: Target, value) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "no figure"
    return "met" if COMPARE[target.op](value, target.bound) else "MISSED"


def run_benchmark(benchmark: Benchmark) -> dict:
    """Runs one benchmark's quick mode; returns its figures, verdicts and timing."""
    command = [sys.executable, os.path.join(HERE, benchmark.script), *benchmark.quick_args, "--json"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=benchmark.timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {benchmark.timeout_s:.0f} s", "seconds": benchmark.timeout_s,
                "figures": {}, "targets": []}
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    figures, status = {}, "ok"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        status = f"failed (exit {done.returncode}): {tail}"
    else:
        try:
            figures = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            status = "failed: its last line is not a JSON object"
    targets = []
    for target in benchmark.targets:
        value = figure(figures, target.key)
        targets.append({"key": target.key, "label": target.label, "target": f"{target.op} {target.bound:g}",
                        "measured": value, "verdict": verdict(target, value) if status == "ok" else status})
    return {"status": status, "seconds": round(seconds, 1), "figures": figures, "targets": targets,
            "command": " ".join(["python", f"benchmarks/{benchmark.script}", *benchmark.quick_args])}


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SCRIPT",
                        help="run only these scripts (e.g. xla_speedup.py; default: all)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object of all figures as the last line")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.script in args.only]
    unknown = set(args.only or ()) - {b.script for b in BENCHMARKS}
    if unknown:
        print(f"run_suite: error: --only: no benchmark {sorted(unknown)}; known: "
              f"{[b.script for b in BENCHMARKS]}", file=sys.stderr)
        return 2
    results = {}
    for benchmark in chosen:
        print(f"running {benchmark.script} {' '.join(benchmark.quick_args)} ...", file=sys.stderr, flush=True)
        results[benchmark.script] = run_benchmark(benchmark)
    rows = [(script, row["label"], row["target"], format_value(row["measured"]), row["verdict"])
            for script, result in results.items() for row in result["targets"]]
    widths = [max([len(header)] + [len(row[i]) for row in rows])
              for i, header in enumerate(("benchmark", "figure", "target", "measured", "verdict"))]
    header = ("benchmark", "figure", "target", "measured", "verdict")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    for script, result in results.items():
        print(f"{script}: {result['status']}, {result['seconds']} s")
    failed = [s for s, r in results.items() if r["status"] != "ok"]
    missed = [row for row in rows if row[4] == "MISSED"]
    if args.json:
        print(json.dumps({"benchmarks": results, "failed": failed, "missed": len(missed),
                          "met": sum(row[4] == "met" for row in rows)}))
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
