"""What XLA buys on this CPU: the element-wise chain against the memory-bandwidth limit, and the
hello-world training step compiled whole or in a chosen scope, at batch 32 and 256.

1. Element-wise chain (graphkit.models.elementwise, 16 ops over `--size` floats
   held in a variable, the result stored into another): run plainly, in a
   jit_scope, and as a function XLA must compile. XLA fuses the chain into one
   loop that reads x once and writes y once, so its time is compared with the
   limit those bytes set: 2 * 4 * size bytes over this machine's copy bandwidth,
   measured in the same run (numpy copies of the same size, on 1 and on all
   cores, the faster taken).
2. Hello-world training step (graphkit.models.hello_mnist, in-graph input
   pipeline, ModelSession.fit): without XLA, with the whole step marked for XLA
   (`graphkit.models.hello_mnist.XLA_SCOPES["step"]`), and with each other
   choice of XLA_SCOPES. Milliseconds per step from the fastest of several
   epochs per variant, variants interleaved so that load on the machine hits all.

Every variant's outputs are compared with the plain graph's: the chain's y, and
the hello-world loss before and after one step (dropout off) on one fed batch.
Compilation is lazy, so every variant runs warm-up calls before it is timed.

    python benchmarks/xla_speedup.py [--size 4000000] [--rounds 7] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from graphkit.quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()
import numpy as np  # noqa: E402

from graphkit.models import elementwise  # noqa: E402
from graphkit.models.hello_mnist import XLA_SCOPES, build_hello_mnist  # noqa: E402
from graphkit.runtime import xla  # noqa: E402
from graphkit.runtime.model_session import ModelSession  # noqa: E402

v1 = tf.compat.v1
CHAIN_VARIANTS = {"plain": None, "jit_scope": xla.compile_in_jit_scope, "function": xla.compile_function}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4_000_000, help="floats in the element-wise chain")
    parser.add_argument("--length", type=int, default=16, help="ops in the element-wise chain")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds per variant")
    parser.add_argument("--runs", type=int, default=10, help="chain runs per round")
    parser.add_argument("--steps", type=int, default=150,
                        help="training steps per epoch (one epoch per round)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (under 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.runs, args.steps = 2, 5, 40
    return args


# -- copy bandwidth --------------------------------------------------------------------------

def copy_bandwidth(size: int, repeats: int = 20) -> dict:
    """Bytes moved per second (read + write) by the fastest numpy copy of `size` float32s,
    on one thread and on one thread per core (numpy releases the GIL while it copies)."""
    source = np.random.default_rng(0).random(size, dtype=np.float32)
    target = np.empty_like(source)
    threads = os.cpu_count() or 1
    bounds = [(k * size // threads, (k + 1) * size // threads) for k in range(threads)]
    parts = [(source[start:end], target[start:end]) for start, end in bounds]

    def threaded():
        workers = [threading.Thread(target=np.copyto, args=(dst, src)) for src, dst in parts]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    best = {}
    for name, copy in (("1_thread", lambda: np.copyto(target, source)), (f"{threads}_threads", threaded)):
        copy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            copy()
            times.append(time.perf_counter() - start)
        best[name] = 2 * source.nbytes / min(times)
    return best


# -- element-wise chain ----------------------------------------------------------------------

def chain_figures(args) -> dict:
    """Times the chain's store op per variant (fastest round mean) and compares each y with plain's."""
    sessions, outputs = {}, {}
    for name, build in CHAIN_VARIANTS.items():
        model = elementwise.build_elementwise_chain(args.size, args.length, build=build)
        with model.graph.as_default():
            init = v1.global_variables_initializer()
        session = v1.Session(graph=model.graph)
        session.run(init)
        store = session.make_callable(model.graph.get_operation_by_name(elementwise.STORE_OP))
        for _ in range(xla.WARMUP_RUNS + 1):  # lazy compilation
            store()
        outputs[name] = session.run(model.outputs[elementwise.OUTPUT])
        sessions[name] = (session, store)
    best = {name: float("inf") for name in sessions}
    for _ in range(args.rounds):
        for name, (_, store) in sessions.items():
            start = time.perf_counter()
            for _ in range(args.runs):
                store()
            best[name] = min(best[name], (time.perf_counter() - start) / args.runs * 1000)
    for session, _ in sessions.values():
        session.close()
    plain = outputs["plain"]
    diffs = {name: _rel_diff(values, plain) for name, values in outputs.items() if name != "plain"}
    return {"ms": best, "max_rel_diff": diffs}


def _rel_diff(values: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(values - reference) / np.maximum(np.abs(reference), 1e-30)))


# -- hello-world training step ---------------------------------------------------------------

def train_step_figures(args, batch_size: int) -> dict:
    """Milliseconds per training step per XLA choice (wall and CPU), and each choice's loss before
    and after one step on a fed batch against the plain graph's.

    `ModelSession.fit` makes a new step callable per call, which TensorFlow clusters and XLA
    compiles anew; to time many interleaved epochs of one compiled step, this uses the epoch
    runner `fit` is built on. The first epoch of each variant compiles and is not counted; the
    figures are the fastest of `rounds` epochs. CPU time (all of the process's threads) is less
    disturbed by other processes on a loaded machine than wall time.
    """
    from tqdm import tqdm

    rng = np.random.default_rng(batch_size)
    examples = batch_size * args.steps
    data = {"x": rng.random((examples, 28, 28), dtype=np.float32),
            "labels": rng.integers(0, 10, examples).astype(np.int32)}
    batch = {name: values[:batch_size] for name, values in data.items()}
    variants = {"none": ()} | dict(XLA_SCOPES)
    sessions, epochs, checks = {}, {}, {}
    no_bar = tqdm(total=examples, disable=True)
    for name, scopes in variants.items():
        model = build_hello_mnist(seed=1)
        if scopes:
            xla.mark_scopes(model.graph, scopes)
        session = ModelSession(model)
        before = session.run(model.loss, batch)
        session.run(model.train_op, batch)
        checks[name] = (before, session.run(model.loss, batch))
        epochs[name] = session._pipeline_epochs(data, examples, batch_size, True, rng)
        epochs[name](no_bar)  # compiles
        sessions[name] = session
    wall = {name: float("inf") for name in sessions}
    cpu = dict(wall)
    for _ in range(args.rounds):
        for name, run_epoch in epochs.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            steps, _ = run_epoch(no_bar)
            wall[name] = min(wall[name], (time.perf_counter() - start_wall) / steps * 1000)
            cpu[name] = min(cpu[name], (time.process_time() - start_cpu) / steps * 1000)
    for session in sessions.values():
        session.close()
    plain = np.array(checks["none"])
    diffs = {name: _rel_diff(np.array(pair), plain) for name, pair in checks.items() if name != "none"}
    return {"ms": wall, "cpu_ms": cpu, "max_rel_diff": diffs}


def main(argv=None) -> int:
    args = parse_args(argv)
    bandwidth = copy_bandwidth(args.size)
    best_bandwidth = max(bandwidth.values())
    chain = chain_figures(args)
    limit_ms = elementwise.moved_bytes(args.size) / best_bandwidth * 1000
    xla_ms = min(chain["ms"]["jit_scope"], chain["ms"]["function"])
    steps = {batch: train_step_figures(args, batch) for batch in args.batch_sizes}

    print("copy bandwidth: " + ", ".join(f"{name.replace('_', ' ')} {value / 1e9:.1f} GB/s"
                                          for name, value in bandwidth.items()))
    print(f"\nelement-wise chain: {args.length} ops over {args.size:,} float32 "
          f"({elementwise.moved_bytes(args.size) / 1e6:.0f} MB to read and write once: "
          f"limit {limit_ms:.2f} ms)")
    print(f"{'variant':<12}{'ms':>9}{'speedup':>9}{'vs limit':>10}{'max rel diff':>14}")
    for name, ms in chain["ms"].items():
        diff = chain["max_rel_diff"].get(name)
        print(f"{name:<12}{ms:>9.2f}{chain['ms']['plain'] / ms:>9.2f}{ms / limit_ms:>10.2f}"
              f"{'-' if diff is None else f'{diff:.2e}':>14}")
    for batch, figures in steps.items():
        print(f"\nhello-world training step, batch {batch} (in-graph pipeline, fastest of "
              f"{args.rounds} epochs of {args.steps} steps after compilation)")
        print(f"{'XLA':<8}{'scopes':<36}{'wall ms':>9}{'speedup':>9}{'CPU ms':>9}{'speedup':>9}"
              f"{'max rel diff':>14}")
        for name, ms in figures["ms"].items():
            diff = figures["max_rel_diff"].get(name)
            scopes = " ".join(XLA_SCOPES.get(name, ())) or "-"
            cpu_ms = figures["cpu_ms"][name]
            print(f"{name:<8}{scopes[:35]:<36}{ms:>9.3f}{figures['ms']['none'] / ms:>9.2f}"
                  f"{cpu_ms:>9.3f}{figures['cpu_ms']['none'] / cpu_ms:>9.2f}"
                  f"{'-' if diff is None else f'{diff:.2e}':>14}")
    result = {
        "size": args.size, "length": args.length, "quick": args.quick,
        "copy_bandwidth_gb_s": {name: value / 1e9 for name, value in bandwidth.items()},
        "elementwise_plain_ms": chain["ms"]["plain"], "elementwise_xla_ms": xla_ms,
        "elementwise_function_ms": chain["ms"]["function"], "elementwise_scope_ms": chain["ms"]["jit_scope"],
        "elementwise_limit_ms": limit_ms, "elementwise_speedup": chain["ms"]["plain"] / xla_ms,
        "elementwise_vs_limit": xla_ms / limit_ms,
        "train_step_ms": {str(batch): figures["ms"] for batch, figures in steps.items()},
        "train_step_cpu_ms": {str(batch): figures["cpu_ms"] for batch, figures in steps.items()},
        "max_rel_diff": max([*chain["max_rel_diff"].values()]
                            + [d for figures in steps.values() for d in figures["max_rel_diff"].values()]),
    }
    for batch, figures in steps.items():
        for key, kind in (("train_step", "ms"), ("train_step_cpu", "cpu_ms")):
            times = figures[kind]
            best = min((name for name in times if name != "none"), key=times.get)
            result[f"{key}_speedup_b{batch}"] = times["none"] / times[best]
            result[f"{key}_best_b{batch}"] = best
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
