"""`graphkit xla MODEL --mode scope|session|function`: what XLA compiles in one of graphkit's graphs.

    graphkit xla elementwise --mode scope
    graphkit xla elementwise --mode function --json
    graphkit xla hello_mnist --mode session --draw xla.svg
    graphkit xla hello_mnist --mode scope --scope loss gradients/loss --dump-dir dumps/ --hlo-dir hlo/

MODEL is `elementwise` (a chain of element-wise ops, graphkit.models.elementwise)
or `hello_mnist` (one training step of the hello-world model on a fed random
batch). The graph runs warmed up, then once traced; the report is read from
TensorFlow's own clustering dump and the traced run's partition graphs.
"""

from __future__ import annotations

import json

MODELS = ("elementwise", "hello_mnist")
# Repeated from graphkit.runtime.xla so that `--help` needs no TensorFlow.
MODES = ("scope", "session", "function")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "xla", help="compile a graph with XLA (scope, session or function) and report the clusters",
        description="Builds one of graphkit's graphs with XLA switched on for a scope, the whole session "
                    "(auto-clustering) or a function of tensors, runs it, and reports which ops XLA "
                    "compiled into which cluster and which it left out, as TensorFlow recorded it.")
    parser.add_argument("model", choices=MODELS, help="elementwise chain or hello_mnist training step")
    parser.add_argument("--mode", choices=MODES, required=True, help="what XLA compiles (required)")
    parser.add_argument("--size", type=int, default=1_000_000,
                        help="elementwise: floats in the chain (default: 1000000)")
    parser.add_argument("--length", type=int, default=16, help="elementwise: ops in the chain (default: 16)")
    parser.add_argument("--batch", type=int, default=32,
                        help="hello_mnist: examples in the fed batch (default: 32)")
    parser.add_argument("--scope", nargs="+", metavar="SCOPE",
                        help="hello_mnist --mode scope: name scopes to compile (default: the whole "
                             "step, graphkit.models.hello_mnist.XLA_SCOPES['step'])")
    parser.add_argument("--dump-dir", metavar="DIR",
                        help="keep TensorFlow's clustering dumps in a new clustering_* directory in DIR "
                             "(default: none)")
    parser.add_argument("--hlo-dir", metavar="DIR",
                        help="XLA writes each compiled cluster's HLO text to DIR (default: none)")
    parser.add_argument("--draw", metavar="OUT.svg",
                        help="draw the graph, ops filled by XLA cluster (default: none)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as one JSON object (default: a table)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from graphkit.errors import XlaError
    from graphkit.runtime import xla

    for flag, value in (("--size", args.size), ("--length", args.length), ("--batch", args.batch)):
        if value < 1:
            raise XlaError(f"{flag}: expected an int >= 1, got {value}")
    if args.scope and (args.model != "hello_mnist" or args.mode != "scope"):
        raise XlaError("--scope: only for hello_mnist --mode scope")
    for flag, directory in (("dump_dir", args.dump_dir), ("hlo_dir", args.hlo_dir)):
        if directory is not None:
            xla.check_writable_dir(directory, flag)
    # Then, before any session: TensorFlow reads its XLA flags once.
    xla.enable_xla_flags(auto_clustering=args.mode == "session", clustering_dumps=True,
                         hlo_dump_dir=args.hlo_dir)
    graph, fetches, feeds, init_ops, check = _build(args, xla)
    config = xla.auto_clustering_config() if args.mode == "session" else None
    report, values = xla.run_cluster_report(graph, fetches, feeds, config, init_ops, dump_dir=args.dump_dir)
    max_rel_diff = check(values) if check else None
    drawing = _draw(graph, report, args.draw) if args.draw else None
    if args.json:
        print(json.dumps({"model": args.model, "mode": args.mode, **report.as_dict(),
                          "max_rel_diff": max_rel_diff, "draw": args.draw}))
        return 0
    from graphkit.viz import reports

    print(f"{args.model} --mode {args.mode}:")
    print(reports.format_cluster_report(report))
    if max_rel_diff is not None:
        print(f"largest relative difference from numpy: {max_rel_diff:.3g}")
    if drawing:
        print(drawing)
    return 0


def _build(args, xla):
    """(graph, fetches, feeds, init ops, check of the fetched values or None) for MODEL and --mode."""
    import numpy as np
    import tensorflow as tf

    from graphkit.errors import XlaError

    if args.model == "elementwise":
        from graphkit.models import elementwise

        build = {"scope": xla.compile_in_jit_scope, "function": xla.compile_function,
                 "session": None}[args.mode]
        model = elementwise.build_elementwise_chain(args.size, args.length, build=build)
        with model.graph.as_default():
            init_ops = [tf.compat.v1.global_variables_initializer()]
        fetches = [model.outputs[elementwise.OUTPUT], model.inputs[elementwise.INPUT]]

        def check(values):
            expected = elementwise.chain_numpy(values[1], args.length)
            return float(np.max(np.abs(values[0] - expected) / np.maximum(np.abs(expected), 1e-30)))

        return model.graph, fetches, None, init_ops, check
    if args.mode == "function":
        raise XlaError("hello_mnist --mode function: the model is built as a graph, not as a function of "
                       "tensors; use --mode scope or --mode session")
    from graphkit.models.hello_mnist import XLA_SCOPES, build_hello_mnist

    model = build_hello_mnist(in_graph_pipeline=False, seed=1)
    with model.graph.as_default():
        init_ops = [tf.compat.v1.global_variables_initializer()]
    if args.mode == "scope":
        xla.mark_scopes(model.graph, args.scope or XLA_SCOPES["step"])
    rng = np.random.default_rng(0)
    x, labels = model.inputs["x"], model.targets["labels"]
    feeds = {x: rng.random((args.batch, *x.shape[1:]), dtype=np.float32),
             labels: rng.integers(0, 10, args.batch).astype(np.int32), model.training: True}
    return model.graph, [model.train_op, model.loss], feeds, init_ops, None


def _draw(graph, report, path: str) -> str:
    from graphkit.viz import render

    graph_def = graph.as_graph_def(add_shapes=True)
    groups = report.graph_op_groups({node.name for node in graph_def.node})
    result = render(graph_def, path, color_groups=groups, color_title="XLA cluster")
    return result.summary()
