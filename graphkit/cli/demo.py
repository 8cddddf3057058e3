"""`graphkit demo`: the main job behind `make demo`, one step a function, printed as it goes.

1. load Fashion-MNIST (Debian's copy if installed, else MNIST, downloaded once);
2. build the seed hello-world model by hand, write its GraphDef, draw it as SVG;
3. train it (resuming from out/checkpoints), print its test accuracy, write
   TensorBoard logs;
4. export it as a SavedModel (and a frozen GraphDef), build the C++ loader
   `graphkit-run`, and print the C++ predictions beside Python's.

The library is imported inside `run_demo`, so that `graphkit --help` imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from graphkit.runtime.model_session import ModelSession


FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def choose_dataset(dataset: str, data_path: Optional[str]) -> str:
    """"auto" means Debian's Fashion-MNIST where it is installed, else MNIST."""
    if dataset != "auto":
        return dataset
    if data_path is not None:
        return "fashion-mnist"
    from graphkit.data.datasets import SYSTEM_LOCATIONS

    installed = any(os.path.isdir(directory) for directory, _ in SYSTEM_LOCATIONS["fashion-mnist"])
    return "fashion-mnist" if installed else "mnist"


def draw_graph(model, out_dir: str) -> None:
    """Renders the model's default view to out/hello_mnist.svg, if Graphviz is there."""
    from graphkit.errors import RenderError
    from graphkit.viz import render

    path = os.path.join(out_dir, "hello_mnist.svg")
    try:
        result = render(model, path)
    except RenderError as err:  # no `dot`: the demo goes on, and says how to get it
        print(f"drawing skipped: {err}")
        return
    print(f"drawing: {path} ({result.visible_nodes} boxes for {result.ops} ops)")


def export_and_run_cpp(session: ModelSession, export_dir: str, images, class_names) -> dict:
    """Exports the trained model, runs it in C++ and in Python, prints both."""
    from graphkit.serving.cpp_run import compare_cpp_python
    from graphkit.serving.export import export_saved_model
    from graphkit.viz.reports import format_comparison

    export_saved_model(session.session, session.model, export_dir, frozen=True, overwrite=True)
    print(f"SavedModel: {export_dir} (inspect it: graphkit inspect {export_dir})")
    start = time.perf_counter()
    comparison = compare_cpp_python(export_dir, {"x": images})
    print(f"C++ (graphkit-run, built and run in {time.perf_counter() - start:.1f} s) beside Python:")
    print(format_comparison(comparison, class_names=class_names))
    return {"max_abs_diff": comparison.max_abs_diff}


def run_demo(out_dir: str = "out", dataset: str = "auto", data_path: Optional[str] = None,
             epochs: int = 1, batch_size: int = 32, seed: int = 1, cpp: bool = True) -> dict:
    """Runs every demo step; returns the figures it printed."""
    from graphkit.data.datasets import load_dataset, normalized_images
    from graphkit.graphs.write import write_graph_def
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.runtime.model_session import ModelSession

    os.makedirs(out_dir, exist_ok=True)
    data = load_dataset(choose_dataset(dataset, data_path), path=data_path)
    print(f"data: {data.name} from {data.source}: {len(data.x_train)} train / {len(data.x_test)} test images")
    train = {"x": normalized_images(data.x_train), "labels": data.y_train.astype("int32")}
    test = {"x": normalized_images(data.x_test), "labels": data.y_test.astype("int32")}

    model = build_hello_mnist(seed=seed)
    graph_path = write_graph_def(model.graph_def(), os.path.join(out_dir, "hello_mnist.pb"))
    print(f"graph: {len(model.graph.get_operations())} ops written to {graph_path}")
    draw_graph(model, out_dir)

    figures = {}
    checkpoint_dir = os.path.join(out_dir, "checkpoints")
    logdir = os.path.join(out_dir, "logs")
    with ModelSession(model, checkpoint_dir=checkpoint_dir, logdir=logdir) as session:
        start = time.perf_counter()
        results = session.fit(train, epochs=session.epoch + epochs, batch_size=batch_size, seed=seed)
        for result in results:
            print(f"epoch {result.epoch}: loss {result.loss:.4f}, {result.seconds:.1f} s, "
                  f"{result.examples_per_s:,.0f} examples/s")
        scores = session.evaluate(test)
        figures["test_accuracy"] = scores["accuracy"]
        print(f"test accuracy: {scores['accuracy']:.4f} (loss {scores['loss']:.4f}) "
              f"after {session.epoch} epoch(s), {time.perf_counter() - start:.1f} s")
        print(f"checkpoints: {checkpoint_dir}  TensorBoard logs: {logdir} (tensorboard --logdir {logdir})")
        if cpp:
            class_names = FASHION_CLASSES if data.name == "fashion-mnist" else None
            figures.update(export_and_run_cpp(session, os.path.join(out_dir, "saved_model"), test["x"][:8],
                                              class_names))
    return figures


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="train the hand-built hello-world model and write its graph and logs",
        description=__doc__)
    parser.add_argument("--out", default="out", help="output directory (default: out)")
    parser.add_argument("--dataset", default="auto", choices=("auto", "fashion-mnist", "mnist"),
                        help="auto: Debian's Fashion-MNIST if installed, else MNIST (downloaded) "
                             "(default: auto)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="local .npz file or IDX directory (default: look in the usual places)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs to train in total (default: 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (default: 32)")
    parser.add_argument("--seed", type=int, default=1, help="graph seed of the weights (default: 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_demo(out_dir=args.out, dataset=args.dataset, data_path=args.data, epochs=args.epochs,
             batch_size=args.batch_size, seed=args.seed)
    return 0
