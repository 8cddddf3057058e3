"""Dataflow parallelism target check, and graphkit.graphs.step_stats against TensorFlow's Timeline.

1. Runs examples/03_dataflow_parallelism.py (k independent matmul chains, 1 vs
   `cores` inter-op threads, each in its own process) and checks the target:
   measured speedup >= 0.8 x min(k, cores, work/span).
2. Side by side on the same RunMetadata of that graph: graphkit.graphs.step_stats's op list
   against tensorflow.python.client.timeline's (same ops, same start times,
   same durations?), and how long each takes to turn the proto into its trace.

    python benchmarks/dataflow_parallelism.py [--branches 4 --depth 4 --size 512] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "03_dataflow_parallelism.py")
TARGET_FRACTION = 0.8


def run_example(args) -> dict:
    """The example's JSON figures (its last stdout line); its table is echoed."""
    command = [sys.executable, EXAMPLE, "--json", "--branches", str(args.branches),
               "--depth", str(args.depth), "--size", str(args.size), "--rounds", str(args.rounds)]
    if args.quick:
        command.append("--quick")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"example failed:\n{done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    return json.loads(lines[-1])


def compare_with_timeline(args, repeats: int = 20) -> dict:
    """Parses one traced step with graphkit.graphs.step_stats and with TensorFlow's Timeline."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.client import timeline

    from graphkit.graphs import step_stats as trace
    from graphkit.runtime import tracing
    from graphkit.runtime.configs import session_config

    spec = importlib.util.spec_from_file_location("dataflow_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    size = 128 if args.quick else args.size
    graph, x_name, fetch = example.build_branches(args.branches, args.depth, size)
    v1 = tf.compat.v1
    with graph.as_default():
        init = v1.global_variables_initializer()
    with v1.Session(graph=graph, config=session_config(intra_op=1)) as session:
        session.run(init)
        feeds = {x_name: np.ones((size, size), np.float32)}
        (run_metadata,) = tracing.run_traced(session, [fetch], feeds, warmup=1)

    def ours():
        return trace.parse_run_metadata(run_metadata).intervals

    def theirs():
        return json.loads(timeline.Timeline(run_metadata.step_stats).generate_chrome_trace_format())

    ours_ms, theirs_ms = (1000 * statistics.median(_seconds(parse) for _ in range(repeats))
                          for parse in (ours, theirs))
    their_ops = collections.Counter((e["args"]["name"], e["ts"], e["dur"])
                                    for e in theirs()["traceEvents"] if e["ph"] == "X")
    our_ops = collections.Counter((i.name, i.start_us, i.duration_us) for i in ours())
    return {"ops": sum(our_ops.values()), "timeline_ops": sum(their_ops.values()),
            "timeline_agrees": our_ops == their_ops, "graphkit_parse_ms": ours_ms,
            "timeline_parse_ms": theirs_ms, "parse_ratio": ours_ms / theirs_ms}


def _seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=4)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, not a measurement)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.branches, args.depth = 2, 2

    figures = run_example(args)
    bound = min(figures["branches"], figures["cores"], figures["work_span"])
    ratio = figures["measured_speedup"] / bound
    peer = compare_with_timeline(args)
    print("\nTarget check (k-branch graph; noisy on a shared machine)")
    print(f"  {'branches':>8} {'cores':>5} {'work/span':>9} {'min(k,cores,w/s)':>16} {'measured':>8} "
          f"{'ratio':>6} {'target':>6}  met")
    print(f"  {figures['branches']:>8} {figures['cores']:>5} {figures['work_span']:>9.2f} {bound:>16.2f} "
          f"{figures['measured_speedup']:>8.2f} {ratio:>6.2f} {TARGET_FRACTION:>6.2f}  "
          f"{'yes' if ratio >= TARGET_FRACTION else 'NO'}")
    print("\ngraphkit.trace vs tensorflow Timeline on the same RunMetadata")
    print(f"  {'':<22} {'ops':>5} {'parse ms':>9}")
    print(f"  {'graphkit.graphs.step_stats':<22} {peer['ops']:>5} {peer['graphkit_parse_ms']:>9.3f}")
    print(f"  {'tensorflow Timeline':<22} {peer['timeline_ops']:>5} {peer['timeline_parse_ms']:>9.3f}")
    print(f"  same ops, start times and durations: {'yes' if peer['timeline_agrees'] else 'NO'}; "
          f"parse time ratio graphkit/Timeline: {peer['parse_ratio']:.2f}")
    if args.json:
        print(json.dumps({
            "branches": figures["branches"], "cores": figures["cores"],
            "work_span_bound": figures["work_span_bound"], "measured_speedup": figures["measured_speedup"],
            "measured_parallelism": figures["measured_parallelism"], "speedup_ratio": round(ratio, 4),
            "target": TARGET_FRACTION, "target_met": ratio >= TARGET_FRACTION, **{
                key: round(value, 4) if isinstance(value, float) else value for key, value in peer.items()}}))


if __name__ == "__main__":
    main()
