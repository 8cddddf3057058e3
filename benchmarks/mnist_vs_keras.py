"""graphkit's hand-built hello-world model against Keras `model.fit`, side by side.

Both train the seed model (Flatten, Dense 512 relu, Dropout 0.2, Dense 10
softmax; Adam; sparse categorical cross-entropy) on the same data with the same
epochs and batch size, each in its own subprocess so that peak memory is the
process's own, alternating so that machine noise hits both alike. Also prints
the floating-point work of one epoch, the GFLOP/s graphkit achieved, and the
GFLOP/s this machine reaches on the same matmul shapes (the matmul bound).

    python benchmarks/mnist_vs_keras.py --dataset fashion-mnist --epochs 5 --batch-size 32 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from _processes import peak_rss_mb, run_json_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HIDDEN, CLASSES, PIXELS = 512, 10, 28 * 28


def step_matmul_flops(batch: int) -> int:
    """FLOPs of the matmuls in one training step of the seed model.

    Forward x@W1 and h@W2; backward dW1 = x^T dh, dW2 = h^T dlogits and
    dh = dlogits W2^T (no gradient to the input). 2 FLOPs per multiply-add.
    """
    layer1 = PIXELS * HIDDEN
    layer2 = HIDDEN * CLASSES
    return 2 * batch * (2 * layer1 + 3 * layer2)


def epoch_flops(examples: int, batch: int) -> int:
    full, rest = divmod(examples, batch)
    return full * step_matmul_flops(batch) + step_matmul_flops(rest)


def load_arrays(dataset: str, data_path: str | None):
    from graphkit.data.datasets import load_dataset, normalized_images

    data = load_dataset(dataset, path=data_path)
    return (normalized_images(data.x_train), data.y_train.astype("int32"),
            normalized_images(data.x_test), data.y_test.astype("int32"), data.source)


def run_keras(args) -> dict:
    import keras
    import tensorflow as tf

    x_train, y_train, x_test, y_test, source = load_arrays(args.dataset, args.data)
    tf.random.set_seed(args.seed)
    model = keras.Sequential([
        keras.layers.Input((28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[EpochTimer()])
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    return {"epoch_seconds": seconds, "test_accuracy": float(accuracy), "peak_rss_mb": peak_rss_mb(),
            "examples": len(x_train), "source": source}


def run_graphkit(args) -> dict:
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.runtime.configs import towers_config
    from graphkit.runtime.model_session import ModelSession

    x_train, y_train, x_test, y_test, source = load_arrays(args.dataset, args.data)
    model = build_hello_mnist(seed=args.seed, towers=args.towers)
    with ModelSession(model, config=towers_config(args.towers)) as session:
        results = session.fit({"x": x_train, "labels": y_train}, epochs=args.epochs,
                              batch_size=args.batch_size, seed=args.seed, progress=False)
        scores = session.evaluate({"x": x_test, "labels": y_test})
    return {"epoch_seconds": [r.seconds for r in results], "test_accuracy": scores["accuracy"],
            "peak_rss_mb": peak_rss_mb(), "examples": len(x_train), "source": source}


def run_matmul(args) -> dict:
    """GFLOP/s of one training step's matmul shapes, looped inside one graph run.

    A process of its own, with TensorFlow's default threads: a process's first
    session fixes the CPU thread pools for all later ones, so measuring after a
    towers run (one intra-op thread) would understate the machine's rate.
    """
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    batch, repeats = args.batch_size, args.matmul_repeats
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(0)
        x = tf.constant(rng.random((batch, PIXELS), np.float32))
        w1 = tf.constant(rng.random((PIXELS, HIDDEN), np.float32))
        w2 = tf.constant(rng.random((HIDDEN, CLASSES), np.float32))
        d_logits = tf.constant(rng.random((batch, CLASSES), np.float32))

        def body(i, total):
            shift = tf.cast(i, tf.float32) * 1e-9  # a different input each turn: nothing is hoisted
            h = tf.matmul(x + shift, w1)
            logits = tf.matmul(h, w2)
            d_w1 = tf.matmul(x + shift, h, transpose_a=True)
            d_w2 = tf.matmul(h, d_logits + shift, transpose_a=True)
            d_h = tf.matmul(d_logits + shift, w2, transpose_b=True)
            parts = [tf.reduce_sum(t[:1, :1]) for t in (logits, d_w1, d_w2, d_h)]
            return i + 1, total + tf.add_n(parts)

        loop = tf.while_loop(lambda i, _: i < repeats, body, [tf.constant(0), tf.constant(0.0)])
    with v1.Session(graph=graph) as session:
        session.run(loop)  # warm-up
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            session.run(loop)
            best = min(best, time.perf_counter() - start)
    step_s = best / repeats
    return {"step_matmul_s": step_s, "matmul_gflops": step_matmul_flops(batch) / step_s / 1e9}


WORKERS = {"keras": run_keras, "graphkit": run_graphkit, "matmul": run_matmul}


def run_worker(name: str, args, seed: int) -> dict:
    """Runs one measurement in a fresh Python process; returns its JSON."""
    command = [sys.executable, __file__, "--worker", name, "--dataset", args.dataset,
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--seed", str(seed),
               "--matmul-repeats", str(args.matmul_repeats), "--towers", str(args.towers)]
    if args.data:
        command += ["--data", args.data]
    return run_json_worker(command, f"mnist_vs_keras: {name} run")


def steady_epochs(seconds: list[float]) -> list[float]:
    """Epoch times without the first epoch (graph tracing and warm-up)."""
    return seconds[1:] or seconds


def fastest_epoch_s(runs: list[dict]) -> float:
    """The fastest steady epoch of all runs. On a shared machine other jobs only
    ever slow an epoch down, so the fastest is the best estimate of what the
    code does; the matmul rate it is compared with is a best of runs too."""
    return min(min(steady_epochs(r["epoch_seconds"])) for r in runs)


def mean_epoch_s(runs: list[dict]) -> float:
    """The mean steady epoch of the run where that mean is lowest."""
    return min(statistics.mean(steady_epochs(r["epoch_seconds"])) for r in runs)


def mean_accuracy(runs: list[dict]) -> float:
    """Test accuracy averaged over repeats: one run's seed moves it by a few tenths."""
    return sum(r["test_accuracy"] for r in runs) / len(runs)


def summarize(args, keras_runs, graphkit_runs, matmul_runs) -> dict:
    keras_epoch, keras_mean = fastest_epoch_s(keras_runs), mean_epoch_s(keras_runs)
    graphkit_epoch, graphkit_mean = fastest_epoch_s(graphkit_runs), mean_epoch_s(graphkit_runs)
    matmul_gflops = max(r["matmul_gflops"] for r in matmul_runs)
    examples = graphkit_runs[0]["examples"]
    flops = epoch_flops(examples, args.batch_size)
    bound_s = flops / (matmul_gflops * 1e9)
    return {
        "dataset": args.dataset, "source": graphkit_runs[0]["source"], "epochs": args.epochs,
        "batch_size": args.batch_size, "repeats": args.repeats, "towers": args.towers,
        "graphkit_epoch_s": graphkit_epoch, "keras_epoch_s": keras_epoch,
        "speedup_vs_keras": keras_epoch / graphkit_epoch,
        "graphkit_mean_epoch_s": graphkit_mean, "keras_mean_epoch_s": keras_mean,
        "graphkit_test_accuracy": mean_accuracy(graphkit_runs),
        "keras_test_accuracy": mean_accuracy(keras_runs),
        "accuracy_gap_points": 100 * (mean_accuracy(keras_runs) - mean_accuracy(graphkit_runs)),
        "graphkit_peak_rss_mb": max(r["peak_rss_mb"] for r in graphkit_runs),
        "keras_peak_rss_mb": max(r["peak_rss_mb"] for r in keras_runs),
        "epoch_gflop": flops / 1e9,
        "achieved_gflops": flops / graphkit_epoch / 1e9,
        "matmul_gflops": matmul_gflops,
        "matmul_bound_epoch_s": bound_s,
        "graphkit_vs_bound": graphkit_epoch / bound_s,
        "graphkit_mean_vs_bound": graphkit_mean / bound_s,
        "graphkit_epoch_seconds": graphkit_runs[-1]["epoch_seconds"],
        "keras_epoch_seconds": keras_runs[-1]["epoch_seconds"],
    }


def print_table(s: dict) -> None:
    print(f"hello-world model, {s['dataset']} ({s['source']}), {s['epochs']} epochs, "
          f"batch {s['batch_size']}, graphkit in {s['towers']} tower(s); {s['repeats']} run(s) each: "
          f"fastest steady epoch (first excluded) and mean accuracy")
    print(f"{'':24}{'graphkit':>12}{'keras':>12}{'ratio':>10}")
    print(f"{'seconds / epoch':24}{s['graphkit_epoch_s']:>12.2f}{s['keras_epoch_s']:>12.2f}"
          f"{s['speedup_vs_keras']:>9.2f}x")
    mean_ratio = s['keras_mean_epoch_s'] / s['graphkit_mean_epoch_s']
    print(f"{'  mean of best run':24}{s['graphkit_mean_epoch_s']:>12.2f}{s['keras_mean_epoch_s']:>12.2f}"
          f"{mean_ratio:>9.2f}x")
    print(f"{'test accuracy':24}{s['graphkit_test_accuracy']:>12.4f}{s['keras_test_accuracy']:>12.4f}"
          f"{-s['accuracy_gap_points']:>+9.2f}pt")
    print(f"{'peak RSS (MiB)':24}{s['graphkit_peak_rss_mb']:>12.0f}{s['keras_peak_rss_mb']:>12.0f}"
          f"{s['graphkit_peak_rss_mb'] / s['keras_peak_rss_mb']:>9.2f}x")
    print(f"work of one epoch: {s['epoch_gflop']:.1f} GFLOP (matmuls); graphkit achieved "
          f"{s['achieved_gflops']:.1f} GFLOP/s; this machine's matmul rate on the same shapes: "
          f"{s['matmul_gflops']:.1f} GFLOP/s")
    print(f"matmul-bound epoch: {s['matmul_bound_epoch_s']:.2f} s; graphkit is {s['graphkit_vs_bound']:.2f}x "
          f"the bound ({s['graphkit_mean_vs_bound']:.2f}x by the mean of its best run)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "mnist"))
    parser.add_argument("--data", default=None, metavar="PATH")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternating runs of each, seed+0, seed+1, ... (best time, mean accuracy)")
    parser.add_argument("--matmul-repeats", type=int, default=200)
    parser.add_argument("--towers", type=int, default=len(os.sched_getaffinity(0)),
                        help="graphkit splits each batch into this many towers, one per core "
                             "(default: the cores available; 1: none)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    if args.towers < 1:
        parser.error(f"--towers must be >= 1, got {args.towers}")
    keras_runs, graphkit_runs, matmul_runs = [], [], []
    for repeat in range(args.repeats):  # a new seed each repeat, the same for both
        keras_runs.append(run_worker("keras", args, args.seed + repeat))
        graphkit_runs.append(run_worker("graphkit", args, args.seed + repeat))
        matmul_runs.append(run_worker("matmul", args, args.seed + repeat))
    summary = summarize(args, keras_runs, graphkit_runs, matmul_runs)
    print_table(summary)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
