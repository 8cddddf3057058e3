"""Batch-1 inference of the hello-world SavedModel: C++ (graphkit-run) against Python Session.run.

Both sides load the same SavedModel directory and run its `serving_default`
signature on the same one image, fetching every output, many times:

  * C++:    `graphkit-run DIR --input x=image.npy --repeat N` (tensorflow::LoadSavedModel,
            one cached Session callable, latency of each Run call);
  * Python: `tf.compat.v1.saved_model.loader.load` into a Session, then
            `session.run(outputs, {x: image})` per call.

Each side runs in its own process, so that peak resident memory (VmHWM /
ru_maxrss) is that process's own, and the rounds alternate C++ / Python so that
machine noise hits both alike; the percentiles reported are the medians over
rounds. Outputs are compared element by element (max abs difference).

    python benchmarks/cpp_vs_python_latency.py [--repeat 2000] [--rounds 3] [--saved-model DIR] [--json]

Without --saved-model it trains the hello-world graph for one epoch on a small
generated set (a few seconds) and exports it to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from _processes import peak_rss_mb, run_json_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WARMUP_CALLS = 10  # the same number graphkit-run uses before timing
TARGET_RATIO = 0.5
TARGET_MAX_ABS_DIFF = 1e-6


def nearest_rank(sorted_values, percent: float) -> float:
    """The percentile rule graphkit-run uses (nearest rank), so both sides agree."""
    rank = int(np.ceil(percent / 100.0 * len(sorted_values)))
    return float(sorted_values[min(len(sorted_values), max(rank, 1)) - 1])


def python_worker(export_dir: str, image_path: str, repeat: int, output_path: str, threads: int) -> None:
    """Child process: time Session.run on the SavedModel; prints one JSON line."""
    from graphkit.quiet import import_tensorflow

    import_tensorflow()
    from graphkit.runtime.configs import session_config
    from graphkit.runtime.saved_model import load_saved_model

    image = np.load(image_path)
    config = session_config(intra_op=threads, inter_op=threads)
    with load_saved_model(export_dir, config=config) as loaded:
        signature = loaded.signature()
        graph = loaded.session.graph
        feed_tensor = graph.get_tensor_by_name(signature.inputs[0].name)
        fetches = [graph.get_tensor_by_name(tensor.name) for tensor in signature.outputs]
        run = loaded.session.run
        for _ in range(WARMUP_CALLS):
            run(fetches, {feed_tensor: image})
        micros = []
        for _ in range(repeat):
            start = time.perf_counter()
            values = run(fetches, {feed_tensor: image})
            micros.append((time.perf_counter() - start) * 1e6)
        np.savez(output_path, **{tensor.key: value for tensor, value in zip(signature.outputs, values)})
    micros.sort()
    print(json.dumps({
        "p50_us": nearest_rank(micros, 50), "p90_us": nearest_rank(micros, 90),
        "p99_us": nearest_rank(micros, 99), "mean_us": float(np.mean(micros)),
        "peak_rss_mb": peak_rss_mb()}))


def run_python_side(export_dir: str, image_path: str, repeat: int, threads: int, work_dir: str,
                    round_index: int):
    output_path = os.path.join(work_dir, f"python-{round_index}.npz")
    worker = [export_dir, image_path, str(repeat), output_path, str(threads)]
    figures = run_json_worker([sys.executable, os.path.abspath(__file__), "--python-worker", *worker],
                              "cpp_vs_python_latency: the python worker")
    with np.load(output_path) as outputs:
        return figures, {key: outputs[key] for key in outputs.files}


def export_hello_world(directory: str, seed: int) -> str:
    """Trains hello-world for one epoch on 2048 generated images and exports it."""
    from graphkit.quiet import import_tensorflow

    import_tensorflow()
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.runtime.model_session import ModelSession
    from graphkit.serving.export import export_saved_model

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 2048).astype(np.int32)
    images = rng.random((2048, 28, 28), dtype=np.float32) * 0.5
    for image, label in zip(images, labels):  # the class is the brightest band of rows
        image[label * 2:label * 2 + 3] += 0.5
    model = build_hello_mnist(seed=seed)
    with ModelSession(model) as model_session:
        model_session.fit({"x": images, "labels": labels}, epochs=1, batch_size=32, progress=False)
        return export_saved_model(model_session.session, model, os.path.join(directory, "hello_world"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved-model", default=None, help="an exported hello-world SavedModel directory")
    parser.add_argument("--repeat", type=int, default=2000, help="timed calls per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating C++/Python rounds (default 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra- and inter-op threads of both sessions (default 1, the usual choice "
                             "for batch-1 serving; 0 lets TensorFlow use one per core)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object at the end")
    parser.add_argument("--python-worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.python_worker:
        export_dir, image_path, repeat, output_path, threads = args.python_worker
        python_worker(export_dir, image_path, int(repeat), output_path, int(threads))
        return 0

    from graphkit.serving.cpp_build import build_cpp
    from graphkit.serving.cpp_run import run_cpp

    with tempfile.TemporaryDirectory(prefix="cpp_vs_python-") as work_dir:
        start = time.perf_counter()
        binary = build_cpp()
        build_s = time.perf_counter() - start
        if args.saved_model:
            export_dir = os.path.abspath(args.saved_model)
        else:
            export_dir = export_hello_world(work_dir, args.seed)
        image = np.random.default_rng(args.seed + 1).random((1, 28, 28), dtype=np.float32)
        image_path = os.path.join(work_dir, "image.npy")
        np.save(image_path, image)

        cpp_rounds, python_rounds, diffs = [], [], []
        for round_index in range(args.rounds):
            cpp = run_cpp(export_dir, {"x": image}, repeat=args.repeat, binary=binary, threads=args.threads)
            python, python_outputs = run_python_side(export_dir, image_path, args.repeat, args.threads,
                                                     work_dir, round_index)
            cpp_rounds.append({"p50_us": cpp.latency.p50_us, "p90_us": cpp.latency.p90_us,
                               "p99_us": cpp.latency.p99_us, "peak_rss_mb": cpp.peak_rss_mb})
            python_rounds.append(python)
            diffs += [float(np.max(np.abs(cpp.outputs[key].astype(np.float64) - value)))
                      for key, value in python_outputs.items()]

    def median(rounds, key):
        return statistics.median(r[key] for r in rounds)

    figures = {
        "cpp_p50_us": median(cpp_rounds, "p50_us"), "cpp_p90_us": median(cpp_rounds, "p90_us"),
        "cpp_p99_us": median(cpp_rounds, "p99_us"),
        "python_p50_us": median(python_rounds, "p50_us"), "python_p90_us": median(python_rounds, "p90_us"),
        "python_p99_us": median(python_rounds, "p99_us"),
        "max_abs_diff": max(diffs),
        "cpp_peak_rss_mb": max(r["peak_rss_mb"] for r in cpp_rounds),
        "python_peak_rss_mb": max(r["peak_rss_mb"] for r in python_rounds),
        "repeat": args.repeat, "rounds": args.rounds, "threads": args.threads,
        "cpp_build_s": round(build_s, 1),
    }
    figures["ratio"] = figures["cpp_p50_us"] / figures["python_p50_us"]
    figures["meets_latency_target"] = figures["ratio"] <= TARGET_RATIO
    figures["meets_accuracy_target"] = figures["max_abs_diff"] <= TARGET_MAX_ABS_DIFF

    print(f"hello-world SavedModel, batch 1, {args.repeat} calls x {args.rounds} rounds, "
          f"{args.threads or 'default'} thread(s) per pool (median of rounds; shared machine, noisy)")
    print(f"{'':22}{'p50 us':>10}{'p90 us':>10}{'p99 us':>10}{'peak RSS MB':>13}")
    for label, side in (("C++ graphkit-run", "cpp"), ("Python Session.run", "python")):
        print(f"{label:22}{figures[f'{side}_p50_us']:>10.1f}{figures[f'{side}_p90_us']:>10.1f}"
              f"{figures[f'{side}_p99_us']:>10.1f}{figures[f'{side}_peak_rss_mb']:>13.1f}")
    print(f"ratio C++/Python p50: {figures['ratio']:.3f} (target <= {TARGET_RATIO}: "
          f"{'met' if figures['meets_latency_target'] else 'NOT met'})")
    print(f"max |C++ - Python|:   {figures['max_abs_diff']:.3g} (target <= {TARGET_MAX_ABS_DIFF:g}: "
          f"{'met' if figures['meets_accuracy_target'] else 'NOT met'})")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
