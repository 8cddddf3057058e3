"""`graphkit trace INPUT`: run a fetch with full tracing on random inputs and report it.

    graphkit trace frozen.pb --fetch probabilities --runs 3 --chrome step.json --gantt step.svg
    graphkit trace out/saved_model --inter-op 2

A GraphDef's placeholders that the fetches need are fed random data of their
static shape (unknown dimensions get --batch); a SavedModel's signature inputs
are fed the same way, and its outputs are the default fetches.
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
    parser.add_argument("--init-variables", action="store_true",
                        help="GraphDef only: run every variable's initializer (<variable>/Assign) first")
    parser.add_argument("--runs", type=int, default=1, help="traced Session.run calls (default: 1)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untraced runs first, so the trace shows a steady step (default: 1)")
    parser.add_argument("--batch", type=int, default=1, help="size of unknown input dimensions (default: 1)")
    parser.add_argument("--inter-op", type=int, default=0,
                        help="inter-op threads (default 0: TensorFlow picks)")
    parser.add_argument("--intra-op", type=int, default=0,
                        help="intra-op threads (default 0: TensorFlow picks)")
    parser.add_argument("--chrome", metavar="OUT.json", help="write all runs as one Chrome trace JSON")
    parser.add_argument("--gantt", metavar="OUT.svg", help="write the last run as an SVG Gantt chart")
    parser.add_argument("--tags", default="serve",
                        help="SavedModel tag set, comma separated (default: serve)")
    parser.add_argument("--signature", default="serving_default", help="SavedModel signature key")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    import numpy as np
    import tensorflow as tf

    from graphkit import trace
    from graphkit.errors import TraceError
    from graphkit.trace_chrome import write_chrome_trace
    from graphkit.trace_gantt import write_gantt_svg

    for flag, value, least in (("--runs", args.runs, 1), ("--batch", args.batch, 1),
                               ("--warmup", args.warmup, 0), ("--inter-op", args.inter_op, 0),
                               ("--intra-op", args.intra_op, 0)):
        if value < least:
            raise TraceError(f"{flag}: expected an int >= {least}, got {value}")
    if not os.path.exists(args.input):
        raise TraceError(f"{args.input}: no such file or directory")
    config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=args.inter_op,
                                      intra_op_parallelism_threads=args.intra_op)
    rng = np.random.default_rng(args.seed)
    if os.path.isdir(args.input):
        session, fetches, feeds = _open_saved_model(args, config, rng)
    else:
        session, fetches, feeds = _open_graph_def(args, config, rng)
    with session:
        run_metadata = trace.run_traced(session, fetches, feeds, runs=args.runs, warmup=args.warmup)
    traces = [trace.parse_run_metadata(md, run=index) for index, md in enumerate(run_metadata)]
    summaries = [trace.summarize(step) for step in traces]
    if args.chrome:
        write_chrome_trace(traces, args.chrome)
    if args.gantt:
        write_gantt_svg(traces[-1], args.gantt)
    if args.json:
        print(json.dumps({
            "input": args.input, "fetches": list(fetches), "runs": len(traces),
            "wall_us": [s.wall_us for s in summaries], "busy_us": [s.busy_us for s in summaries],
            "average_parallelism": [s.average_parallelism for s in summaries],
            "critical_path": list(summaries[-1].critical_path),
            "devices": {d.device: {"ops": d.op_count, "busy_us": d.busy_us, "lanes": d.lanes}
                        for d in summaries[-1].devices},
            "chrome": args.chrome, "gantt": args.gantt}))
        return 0
    print(f"{args.input}: traced {', '.join(fetches)} x {len(traces)} run(s), "
          f"{len(feeds)} input(s) fed random data")
    for step, summary in zip(traces, summaries):
        print(f"run {step.run}: {len(step.intervals)} ops, wall {summary.wall_us / 1000:.3f} ms, "
              f"average parallelism {summary.average_parallelism:.2f}")
    print(f"last run:\n{trace.format_summary(summaries[-1])}")
    for path in (args.chrome, args.gantt):
        if path:
            print(f"wrote {path}")
    return 0


def random_array(rng, dtype, shape, batch: int, where: str):
    """Random data of `dtype` and `shape` (None dims -> `batch`): floats in [0, 1), ints in {0, 1}.

    Raises:
      TraceError: unknown rank, or a dtype random data cannot stand in for (strings...).
    """
    import tensorflow as tf

    from graphkit.errors import TraceError

    if shape is None:
        raise TraceError(f"{where}: shape of unknown rank; cannot make random input")
    dims = tuple(batch if dim is None else dim for dim in shape)
    dtype = tf.dtypes.as_dtype(dtype)
    if dtype.is_floating:
        return rng.random(dims).astype(dtype.as_numpy_dtype)
    if dtype.is_integer:
        return rng.integers(0, 2, size=dims).astype(dtype.as_numpy_dtype)  # 0/1 are valid ids and labels
    if dtype.is_bool:
        return rng.random(dims) < 0.5
    raise TraceError(f"{where}: dtype {dtype.name} cannot be fed random data")


def _open_saved_model(args, config, rng):
    from graphkit.errors import TraceError
    from graphkit.saved_model import load_saved_model

    loaded = load_saved_model(args.input, tags=[tag for tag in args.tags.split(",") if tag], config=config)
    try:
        signature = loaded.signature(args.signature)
        outputs = {tensor.key: tensor.name for tensor in signature.outputs}
        fetches = [outputs.get(name, name) for name in args.fetch] if args.fetch else list(outputs.values())
        if not fetches:
            raise TraceError(f"{args.input}: signature {args.signature!r} has no outputs; pass --fetch")
        feeds = {tensor.name: random_array(rng, tensor.dtype, tensor.shape, args.batch,
                                           f"{args.input} input {tensor.key!r}")
                 for tensor in signature.inputs}
    except BaseException:
        loaded.close()
        raise
    return loaded.session, fetches, feeds


def _open_graph_def(args, config, rng):
    import tensorflow as tf

    from graphkit.analysis import prune
    from graphkit.errors import AnalysisError, TraceError
    from graphkit.graphio import load_graph

    if not args.fetch:
        raise TraceError(f"{args.input}: a GraphDef has no signature; pass --fetch NAME")
    graph_def = load_graph(args.input).graph_def
    try:
        needed = prune(graph_def, args.fetch)
    except AnalysisError as err:
        raise TraceError(str(err)) from None
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph, config=config)
    if args.init_variables:
        initializers = variable_initializers(graph_def)
        if not initializers:
            raise TraceError(f"{args.input}: --init-variables: the graph has no <variable>/Assign ops")
        session.run(initializers)
    feeds = {}
    for node in needed.node:
        if node.op != "Placeholder":
            continue
        tensor = graph.get_tensor_by_name(f"{node.name}:0")
        shape = None if tensor.shape.rank is None else tensor.shape.as_list()
        feeds[tensor.name] = random_array(rng, tensor.dtype, shape, args.batch, f"placeholder {node.name}")
    return session, list(args.fetch), feeds


VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")


def variable_initializers(graph_def) -> list[str]:
    """Names of the ops `<variable>/Assign` that tf.compat.v1 variables are initialised by."""
    variables = {node.name for node in graph_def.node if node.op in VARIABLE_OPS}
    return [node.name for node in graph_def.node
            if node.op in ("AssignVariableOp", "Assign") and node.input
            and node.input[0] in variables and node.name == f"{node.input[0]}/Assign"]
