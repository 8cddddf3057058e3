"""The main job behind `make demo`, one step a function, printed as it goes.

1. load Fashion-MNIST (Debian's copy if installed, else MNIST, downloaded once),
2. build the seed hello-world model by hand and train it,
3. print its test accuracy and write its GraphDef and TensorBoard logs.
"""

from __future__ import annotations

import os
import time
from typing import Optional

import tensorflow as tf

from graphkit.data import SYSTEM_LOCATIONS, load_dataset, normalized_images
from graphkit.graphdefs import write_graph_def
from graphkit.models.hello_mnist import build_hello_mnist
from graphkit.session import ModelSession


def choose_dataset(dataset: str, data_path: Optional[str]) -> str:
    """"auto" means Debian's Fashion-MNIST where it is installed, else MNIST."""
    if dataset != "auto":
        return dataset
    if data_path is not None:
        return "fashion-mnist"
    installed = any(os.path.isdir(directory) for directory, _ in SYSTEM_LOCATIONS["fashion-mnist"])
    return "fashion-mnist" if installed else "mnist"


def run_demo(out_dir: str = "out", dataset: str = "auto", data_path: Optional[str] = None,
             epochs: int = 1, batch_size: int = 32, seed: int = 1) -> dict:
    """Runs every demo step; returns the figures it printed."""
    os.makedirs(out_dir, exist_ok=True)
    data = load_dataset(choose_dataset(dataset, data_path), path=data_path)
    print(f"data: {data.name} from {data.source}: {len(data.x_train)} train / {len(data.x_test)} test images")
    train = {"x": normalized_images(data.x_train), "labels": data.y_train.astype("int32")}
    test = {"x": normalized_images(data.x_test), "labels": data.y_test.astype("int32")}

    model = build_hello_mnist(seed=seed)
    graph_path = write_graph_def(model.graph_def(), os.path.join(out_dir, "hello_mnist.pb"))
    print(f"graph: {len(model.graph.get_operations())} ops written to {graph_path}")
    checkpoint_dir = os.path.join(out_dir, "checkpoints")
    logdir = os.path.join(out_dir, "logs")
    with ModelSession(model, checkpoint_dir=checkpoint_dir, logdir=logdir) as session:
        start = time.perf_counter()
        results = session.fit(train, epochs=session.epoch + epochs, batch_size=batch_size, seed=seed)
        for result in results:
            print(f"epoch {result.epoch}: loss {result.loss:.4f}, {result.seconds:.1f} s, "
                  f"{result.examples_per_s:,.0f} examples/s")
        scores = session.evaluate(test)
        print(f"test accuracy: {scores['accuracy']:.4f} (loss {scores['loss']:.4f}) "
              f"after {session.epoch} epoch(s), {time.perf_counter() - start:.1f} s")
        print(f"checkpoints: {checkpoint_dir}  TensorBoard logs: {logdir} (tensorboard --logdir {logdir})")
    return {"test_accuracy": scores["accuracy"], "epochs": len(results)}


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    run_demo()
