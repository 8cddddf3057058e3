"""`graphkit trace INPUT`: run a fetch with full tracing on random inputs and report it.

    graphkit trace frozen.pb --fetch probabilities --runs 3 --chrome step.json --gantt step.svg
    graphkit trace out/saved_model --inter-op 2 --feed x=images.npy
    graphkit trace ckpt/model.ckpt-5.meta --fetch loss --feed x=x.npy --feed labels=y.npy

A GraphDef's placeholders that the fetches need are fed random data of their
static shape (unknown dimensions get --batch), or the arrays given by --feed;
a SavedModel's signature inputs are fed the same way, and its outputs are the
default fetches. A checkpoint's .meta gets its variables restored from the
checkpoint beside it. The trace shows the ops as the session ran them:
function calls inlined and functional control flow lowered by TensorFlow, a
loop's ops once per iteration.
"""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "trace", help="run with FULL_TRACE: per-op intervals, parallelism, Chrome trace, Gantt SVG",
        description="Runs fetches of a GraphDef (.pb/.pbtxt) or SavedModel on random inputs with "
                    "full tracing; prints measured parallelism, the critical path taken and "
                    "per-device totals; writes a Chrome trace JSON and an SVG Gantt chart.")
    parser.add_argument("input", help="GraphDef .pb/.pbtxt or SavedModel directory")
    parser.add_argument("--fetch", nargs="+", metavar="NAME",
                        help="ops/tensors to run (a SavedModel also takes signature output keys; "
                             "default there: all signature outputs)")
    parser.add_argument("--feed", action="append", default=[], metavar="NAME=FILE.npy",
                        help="feed this array instead of random data: a signature input key or a "
                             "placeholder name (repeatable; default: random data for every input)")
    parser.add_argument("--init-variables", action="store_true",
                        help="graph files only: run every variable's initializer (<variable>/Assign) "
                             "first (default: off; a .meta restores its checkpoint instead)")
    parser.add_argument("--runs", type=int, default=1, help="traced Session.run calls (default: 1)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untraced runs first, so the trace shows a steady step (default: 1)")
    parser.add_argument("--batch", type=int, default=1, help="size of unknown input dimensions (default: 1)")
    parser.add_argument("--inter-op", type=int, default=0,
                        help="inter-op threads (default 0: TensorFlow picks)")
    parser.add_argument("--intra-op", type=int, default=0,
                        help="intra-op threads (default 0: TensorFlow picks)")
    parser.add_argument("--chrome", metavar="OUT.json",
                        help="write all runs as one Chrome trace JSON (default: none)")
    parser.add_argument("--gantt", metavar="OUT.svg",
                        help="write the last run as an SVG Gantt chart (default: none)")
    parser.add_argument("--tags", default=None,
                        help="SavedModel only: tag set, comma separated (default: serve)")
    parser.add_argument("--signature", default=None,
                        help="SavedModel only: signature key (default: serving_default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object (default: a table)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    from graphkit.errors import TraceError
    from graphkit.files import check_output_path
    from graphkit.graphs import step_stats as trace
    from graphkit.runtime import tracing
    from graphkit.runtime.configs import session_config
    from graphkit.runtime.inputs import open_traceable
    from graphkit.viz import reports
    from graphkit.viz.chrome_trace import write_chrome_trace
    from graphkit.viz.gantt import write_gantt_svg

    for flag, value, least in (("--runs", args.runs, 1), ("--batch", args.batch, 1),
                               ("--warmup", args.warmup, 0), ("--inter-op", args.inter_op, 0),
                               ("--intra-op", args.intra_op, 0)):
        if value < least:
            raise TraceError(f"{flag}: expected an int >= {least}, got {value}")
    if not os.path.exists(args.input):
        raise TraceError(f"{args.input}: no such file or directory")
    for flag, path in (("--chrome", args.chrome), ("--gantt", args.gantt)):
        if path:
            check_output_path(path, f"{flag} file")
    given = _read_feeds(args.feed)
    config = session_config(intra_op=args.intra_op, inter_op=args.inter_op)
    session, fetches, feeds = open_traceable(
        args.input, args.fetch, tags=args.tags, signature=args.signature, config=config,
        batch=args.batch, seed=args.seed, init_variables=args.init_variables, feeds=given)
    with session:
        run_metadata = tracing.run_traced(session, fetches, feeds, runs=args.runs, warmup=args.warmup)
    traces = [trace.parse_run_metadata(md, run=index) for index, md in enumerate(run_metadata)]
    summaries = [trace.summarize(step) for step in traces]
    if args.chrome:
        write_chrome_trace(traces, args.chrome)
    if args.gantt:
        write_gantt_svg(traces[-1], args.gantt)
    if args.json:
        print(json.dumps({
            "input": args.input, "graph_form": GRAPH_FORM, "fetches": list(fetches), "runs": len(traces),
            "ops": [len(step.intervals) for step in traces],
            "fed_from_files": sorted(given), "random_inputs": len(feeds) - len(given),
            "wall_us": [s.wall_us for s in summaries], "busy_us": [s.busy_us for s in summaries],
            "average_parallelism": [s.average_parallelism for s in summaries],
            "critical_path": list(summaries[-1].critical_path),
            "devices": {d.device: {"ops": d.op_count, "busy_us": d.busy_us, "lanes": d.lanes}
                        for d in summaries[-1].devices},
            "chrome": args.chrome, "gantt": args.gantt}))
        return 0
    random_count = len(feeds) - len(given)
    print(f"{args.input}: traced {', '.join(fetches)} x {len(traces)} run(s), "
          f"{len(given)} input(s) fed from files, {random_count} fed random data")
    print(f"graph: {GRAPH_FORM}")
    for step, summary in zip(traces, summaries):
        print(f"run {step.run}: {len(step.intervals)} ops, wall {summary.wall_us / 1000:.3f} ms, "
              f"average parallelism {summary.average_parallelism:.2f}")
    print(f"last run:\n{reports.format_trace_summary(summaries[-1])}")
    for path in (args.chrome, args.gantt):
        if path:
            print(f"wrote {path}")
    return 0


# What a trace shows, said in every report (as `analyze` says which graph it describes).
GRAPH_FORM = ("the ops as the session ran them (function calls inlined and functional control flow "
              "lowered by TensorFlow; a loop's ops once per iteration)")


def _read_feeds(assignments) -> dict:
    """NAME=FILE.npy flags -> name -> array; TraceError naming the flag on a bad one."""
    import numpy as np

    from graphkit.errors import TraceError

    arrays = {}
    for assignment in assignments:
        name, _, path = assignment.partition("=")
        if not name or not path:
            raise TraceError(f"--feed {assignment}: expected NAME=FILE.npy, e.g. x=images.npy")
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise TraceError(f"--feed {assignment}: cannot read {path} as .npy "
                             f"({getattr(err, 'strerror', None) or err})") from None
    return arrays

