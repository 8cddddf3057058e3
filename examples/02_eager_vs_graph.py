"""Eager versus graph: the same computation, run three ways, values and timings side by side.

TensorFlow 2 runs eagerly: each op executes the moment Python reaches it and hands
back a value you can print. TensorFlow 1 (and graphkit, through tf.compat.v1) first
*builds* a dataflow graph, whose tensors are symbolic and hold no values, then asks
a Session to run it; the whole graph is known before anything runs, so the runtime
can prune, fuse and schedule it, and Python leaves the inner loop. `tf.function` is
how TF2 code gets a graph: it traces the Python function once into a graph and runs
that graph on later calls.

One function `forward(x, params)` (a few matmuls, relu, softmax) is written once with
plain TensorFlow ops and run:

  1. eagerly:            y = forward(x)           -> a tf.Tensor with values, now
  2. as a graph:         y = forward(x_placeholder) inside tf.Graph() -> symbolic;
                         session.run(y, {x_placeholder: x}) -> numpy values
  3. as a tf.function:   tf.function(forward)(x) -> traced into a graph on the first call

For each it measures the first call (for the graph: building it, creating the
session and the first run; for tf.function: tracing and the first run) and the
median per-call latency over many repeats, and checks that all three give the same
numbers. Eager execution is never disabled: the graph lives in its own tf.Graph().

    python examples/02_eager_vs_graph.py            # batch 32, 6 layers of width 128, 300 repeats
    python examples/02_eager_vs_graph.py --json     # ... and one JSON object as the last line
    python examples/02_eager_vs_graph.py --quick    # small and fast, for tests
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
WARMUP_CALLS = 5  # after the first call, before timing: lets caches and thread pools settle


def forward(x, params):
    """An MLP: relu(x @ W + b) per hidden layer, then softmax(h @ W + b).

    Plain TensorFlow ops only, so the same code runs eagerly, in a tf.Graph, or traced.

    Args:
      x: float32 [batch, features].
      params: [(W [in, out], b [out]), ...].
    Returns:
      float32 probabilities [batch, classes].
    """
    hidden = x
    for layer, (weights, bias) in enumerate(params[:-1]):
        hidden = tf.nn.relu(tf.matmul(hidden, weights) + bias, name=f"relu_{layer}")
    weights, bias = params[-1]
    return tf.nn.softmax(tf.matmul(hidden, weights) + bias, name="probabilities")


def make_problem(batch: int, features: int, width: int, layers: int, classes: int = 10, seed: int = 0):
    """Numpy input [batch, features] and weights of `layers` hidden layers of `width` units."""
    rng = np.random.default_rng(seed)
    sizes = [features] + [width] * layers + [classes]
    params = [(rng.standard_normal((fan_in, fan_out)).astype(np.float32) * np.float32(fan_in ** -0.5),
               rng.standard_normal(fan_out).astype(np.float32) * np.float32(0.1))
              for fan_in, fan_out in itertools.pairwise(sizes)]
    x = rng.random((batch, features), dtype=np.float32)
    return x, params


def timed(call):
    """(call's result, milliseconds it took)."""
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1e3


def median_call_ms(calls: dict, repeats: int) -> dict:
    """Median ms per call of each of `calls` (mode -> call), timed in turns.

    Each round calls every mode once, in an order rotated every round, so that a load
    change on a shared machine hits all modes alike instead of whichever ran then.
    """
    modes = list(calls)
    for _ in range(WARMUP_CALLS):
        for mode in modes:
            calls[mode]()
    samples = {mode: [] for mode in modes}
    for round_index in range(repeats):
        shift = round_index % len(modes)
        for mode in modes[shift:] + modes[:shift]:
            samples[mode].append(timed(calls[mode])[1])
    return {mode: statistics.median(values) for mode, values in samples.items()}


def setup_eager(x, params):
    """Returns (call, first call ms); prints what eager execution hands back."""
    eager_params = [(tf.constant(w), tf.constant(b)) for w, b in params]

    def call():
        return forward(x, eager_params).numpy()

    y, first_ms = timed(lambda: forward(x, eager_params))
    print("1. eager: every op runs as Python reaches it; the result is a value at once")
    print(f"   y = forward(x)             -> {type(y).__name__} {y.shape}, y[0, :4] = {y.numpy()[0, :4]}")
    return call, first_ms


def setup_graph(x, params):
    """Returns (call, first call ms incl. building and the session, ops, session); prints the symbols."""
    build_start = time.perf_counter()
    graph = tf.Graph()
    with graph.as_default():
        x_placeholder = v1.placeholder(tf.float32, [None, x.shape[1]], name="x")
        graph_params = [(tf.constant(w, name=f"w_{i}"), tf.constant(b, name=f"b_{i}"))
                        for i, (w, b) in enumerate(params)]
        y = forward(x_placeholder, graph_params)
    session = v1.Session(graph=graph)
    build_ms = (time.perf_counter() - build_start) * 1e3
    ops = len(graph.get_operations())
    print("2. graph: building returns symbolic tensors with no values; a session runs the graph")
    print(f"   y = forward(x_placeholder) -> {y}")
    print(f"   ({ops} ops in the graph, nothing has run yet)")

    def call():
        return session.run(y, {x_placeholder: x})

    values, run_ms = timed(call)
    print(f"   session.run(y, {{x: x}})     -> ndarray {values.shape}, y[0, :4] = {values[0, :4]}")
    return call, build_ms + run_ms, ops, session


def setup_function(x, params):
    """Returns (call, first call ms incl. tracing); prints what was traced."""
    eager_params = [(tf.constant(w), tf.constant(b)) for w, b in params]
    traced = tf.function(lambda inputs: forward(inputs, eager_params))

    def call():
        return traced(x).numpy()

    values, first_ms = timed(call)
    concrete = traced.get_concrete_function(tf.TensorSpec([None, x.shape[1]], tf.float32))
    print("3. tf.function: Python runs once, tracing a graph; later calls run that graph")
    print(f"   traced(x)                  -> y[0, :4] = {values[0, :4]} "
          f"({len(concrete.graph.get_operations())} ops traced)")
    return call, first_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=6, help="hidden layers")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (tests)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.width, args.layers, args.repeats = 8, 32, 3, 20
    tf.get_logger().setLevel("ERROR")

    x, params = make_problem(args.batch, 28 * 28, args.width, args.layers)
    # The first op of a process starts TensorFlow's runtime (devices, thread pools, oneDNN);
    # paid once, by whichever mode comes first, so it is measured apart.
    start = time.perf_counter()
    tf.matmul(tf.ones([2, 3]), tf.ones([3, 2])).numpy()
    startup_ms = (time.perf_counter() - start) * 1e3
    print(f"forward: x [{args.batch}, 784] -> {args.layers} x (matmul, add, relu) of width {args.width} "
          f"-> matmul, add, softmax [{args.batch}, 10]; {args.repeats} timed calls each\n")
    eager_call, eager_first = setup_eager(x, params)
    graph_call, graph_first, graph_ops, session = setup_graph(x, params)
    function_call, function_first = setup_function(x, params)
    per_call = median_call_ms({"eager": eager_call, "graph": graph_call, "function": function_call},
                              args.repeats)
    eager_ms, graph_ms, function_ms = per_call["eager"], per_call["graph"], per_call["function"]
    eager_values, graph_values, function_values = eager_call(), graph_call(), function_call()
    session.close()

    max_abs_diff = float(max(np.abs(eager_values - graph_values).max(),
                             np.abs(eager_values - function_values).max()))
    assert np.allclose(eager_values, graph_values, rtol=1e-5, atol=1e-6), max_abs_diff
    assert np.allclose(eager_values, function_values, rtol=1e-5, atol=1e-6), max_abs_diff

    rows = [("eager", eager_first, eager_ms), ("graph + Session", graph_first, graph_ms),
            ("tf.function", function_first, function_ms)]
    print(f"\n{'mode':<16} {'first call ms':>14} {'per call ms':>12} {'speedup vs eager':>17}")
    for mode, first, call_ms in rows:
        print(f"{mode:<16} {first:>14.2f} {call_ms:>12.4f} {eager_ms / call_ms:>16.2f}x")
    print(f"runtime start-up (the process's first op, before all three): {startup_ms:.1f} ms")
    print("first call: graph = build the graph + create the Session + first run; "
          "tf.function = trace + first run")
    print(f"per call: median of {args.repeats} rounds, the three modes taking turns; "
          f"all three agree to {max_abs_diff:.2e} (max |difference|)")

    if args.json:
        print(json.dumps({
            "eager_ms": round(eager_ms, 5), "graph_ms": round(graph_ms, 5),
            "function_ms": round(function_ms, 5),
            "ratio": round(eager_ms / graph_ms, 4), "function_ratio": round(eager_ms / function_ms, 4),
            "eager_first_ms": round(eager_first, 3), "graph_first_ms": round(graph_first, 3),
            "function_first_ms": round(function_first, 3), "startup_ms": round(startup_ms, 3),
            "max_abs_diff": max_abs_diff,
            "graph_ops": graph_ops, "batch": args.batch, "width": args.width, "layers": args.layers,
            "repeats": args.repeats, "eager_still_on": tf.executing_eagerly(),
        }))


if __name__ == "__main__":
    main()
