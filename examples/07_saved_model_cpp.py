"""Portability: build the graph in Python, store it as a SavedModel, run it in C++.

The graph is a language-independent program. This example

  1. builds the hand-built hello-world graph and trains it briefly on a small
     generated set (the class of an image is its brightest band of rows);
  2. exports it as a SavedModel: a `serving_default` signature (x -> probabilities,
     logits), its variables, a `labels.txt` asset, and a frozen GraphDef;
  3. describes it from its proto alone, like `saved_model_cli show --all`;
  4. compiles graphkit's C++ program `graphkit-run` against the headers and
     libraries inside the installed tensorflow wheel (once; cached afterwards);
  5. runs the signature in C++ on test images, names `x` and `probabilities`
     only (never graph tensor names), and prints the C++ predictions beside
     Python's with the largest difference.

    python examples/07_saved_model_cpp.py [--out out/example07] [--json] [--quick]

The same from the shell:

    graphkit export out/saved_model --model hello_mnist --checkpoint out/ckpt
    graphkit inspect out/saved_model
    $(graphkit build-cpp) out/saved_model --input x=image.npy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from graphkit.quiet import import_tensorflow

import_tensorflow()
from graphkit import constants as names  # noqa: E402
from graphkit.errors import GraphkitError  # noqa: E402
from graphkit.graphs.saved_model import inspect_saved_model  # noqa: E402
from graphkit.models.hello_mnist import build_hello_mnist  # noqa: E402
from graphkit.runtime.model_session import ModelSession  # noqa: E402
from graphkit.serving.cpp_build import build_cpp  # noqa: E402
from graphkit.serving.cpp_run import compare_cpp_python, run_cpp  # noqa: E402
from graphkit.serving.export import export_saved_model  # noqa: E402
from graphkit.viz.reports import format_comparison, format_saved_model  # noqa: E402

CLASSES = 10


def banded_images(count: int, seed: int):
    """Images [count, 28, 28] float32 in [0, 1] whose class is the brightest band of rows."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, count).astype(np.int32)
    images = rng.random((count, 28, 28), dtype=np.float32) * 0.5
    for image, label in zip(images, labels):
        image[label * 2:label * 2 + 3] += 0.5
    return images, labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export the hello-world graph and run it in C++.")
    parser.add_argument("--out", default=None, help="where the SavedModel goes (default: a temporary dir)")
    parser.add_argument("--train-size", type=int, default=4096)
    parser.add_argument("--test-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small model and data, for tests")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object at the end")
    args = parser.parse_args(argv)
    hidden = 32 if args.quick else 512
    train_size = 512 if args.quick else args.train_size
    try:
        with tempfile.TemporaryDirectory(prefix="example07-") as scratch:
            return run(args, args.out or os.path.join(scratch, "out"), hidden, train_size)
    except GraphkitError as err:
        print(f"07_saved_model_cpp: error: {err}", file=sys.stderr)
        return 2


def run(args, out_dir: str, hidden: int, train_size: int) -> int:
    # 1. Build the graph and train it briefly.
    images, labels = banded_images(train_size + args.test_size, args.seed)
    x_train, y_train = images[:train_size], labels[:train_size]
    x_test, y_test = images[train_size:], labels[train_size:]
    model = build_hello_mnist(hidden=hidden, seed=args.seed)
    os.makedirs(out_dir, exist_ok=True)
    labels_path = os.path.join(out_dir, names.LABELS_ASSET)
    with open(labels_path, "w", encoding="utf-8") as stream:
        stream.write("\n".join(f"band {i}" for i in range(CLASSES)) + "\n")

    with ModelSession(model) as model_session:
        model_session.fit({"x": x_train, "labels": y_train}, epochs=1, batch_size=32, progress=False)
        accuracy = model_session.evaluate({"x": x_test, "labels": y_test})["accuracy"]
        # 2. Export: the signature exposes `x` and the outputs by key; the in-graph
        #    input pipeline that `x` defaults to stays behind (feeding `x` cuts it out).
        export_dir = export_saved_model(model_session.session, model, os.path.join(out_dir, "saved_model"),
                                        assets=[labels_path], frozen=True, overwrite=True)
    print(f"trained hello-world (hidden {hidden}) on {train_size} generated images; "
          f"test accuracy {accuracy:.3f}")
    print(f"exported to {export_dir}: {sorted(os.listdir(export_dir))}")

    # 3. What the SavedModel holds, from its proto alone.
    print()
    print(format_saved_model(inspect_saved_model(export_dir)))

    # 4. Compile graphkit-run (cached per TensorFlow version and C++ source hash).
    start = time.perf_counter()
    binary = build_cpp()
    build_s = time.perf_counter() - start
    print(f"\nC++ program: {binary} ({'built' if build_s > 2 else 'cached'}, {build_s:.1f} s)")

    # 5. The same signature in C++ and Python, on the same images.
    comparison = compare_cpp_python(export_dir, {"x": x_test}, binary=binary)
    print()
    shipped_labels = os.path.join(export_dir, names.ASSETS_DIRECTORY, names.LABELS_ASSET)
    with open(shipped_labels, encoding="utf-8") as stream:
        class_names = stream.read().splitlines()  # the asset shipped inside the SavedModel
    print(format_comparison(comparison, class_names=class_names))
    timed = run_cpp(export_dir, {"x": x_test[:1]}, repeat=50 if args.quick else 500, binary=binary, threads=1)
    agree = bool(np.array_equal(comparison.cpp["probabilities"].argmax(1),
                                comparison.python["probabilities"].argmax(1)))
    print(f"\nC++ batch-1 latency: p50 {timed.latency.p50_us:.0f} us, p90 {timed.latency.p90_us:.0f} us, "
          f"p99 {timed.latency.p99_us:.0f} us (1 thread; shared machine, noisy); "
          f"peak RSS {timed.peak_rss_mb:.0f} MB")
    print(f"C++ and Python agree on every predicted class: {agree}; "
          f"max |C++ - Python| = {comparison.max_abs_diff:.3g}")
    if args.json:
        print(json.dumps({
            "export_dir": export_dir, "test_accuracy": accuracy, "max_abs_diff": comparison.max_abs_diff,
            "classes_agree": agree, "cpp_p50_us": timed.latency.p50_us, "cpp_peak_rss_mb": timed.peak_rss_mb,
            "build_s": round(build_s, 2)}))
    return 0 if comparison.max_abs_diff <= 1e-6 and agree else 1


if __name__ == "__main__":
    sys.exit(main())
