"""Hello world without Keras: the seed's MNIST model built by hand as a graph.

The blog's first example is Keras' MNIST "hello world":

    model = keras.Sequential([Flatten(), Dense(512, relu), Dropout(0.2), Dense(10, softmax)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5); model.evaluate(x_test, y_test)

Here the same model is a tf.compat.v1 graph built from graphkit's layers
(graphkit/models/hello_mnist.py): placeholders, variables and an Adam train_op
that a session runs. The fast input path keeps the data pipeline inside the
graph, so Python only asks for one training step at a time.

    python examples/01_hello_mnist.py --dataset fashion-mnist --epochs 5 [--input feed] [--xla loss] [--json]
"""

import argparse
import json
import os
import sys
import time

from graphkit.quiet import import_tensorflow  # noqa: E402

import_tensorflow()
from graphkit.data.datasets import DATASETS, load_dataset, normalized_images  # noqa: E402
from graphkit.errors import GraphkitError  # noqa: E402
from graphkit.models.hello_mnist import XLA_SCOPES, build_hello_mnist  # noqa: E402
from graphkit.runtime.configs import towers_config  # noqa: E402
from graphkit.runtime.model_session import INPUT_MODES, ModelSession  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train the hand-built hello-world model.")
    parser.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    parser.add_argument("--data", default=None, metavar="PATH", help="local .npz file or IDX directory")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input", default="pipeline", choices=INPUT_MODES,
                        help="pipeline: in-graph preloaded data, no feeds (fast); feed: feed_dict per step")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--towers", type=int, default=1,
                        help="split each batch into N towers that run side by side, one per core")
    parser.add_argument("--xla", default="none", choices=("none", *XLA_SCOPES),
                        help="compile part of the training step with XLA (graphkit.models.hello_mnist."
                             "XLA_SCOPES); on the 2-core CPU it costs time at batch 32, so the default is "
                             "none (benchmarks/xla_speedup.py)")
    parser.add_argument("--out", default=None, help="checkpoint and TensorBoard directory (resumes)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    data = load_dataset(args.dataset, path=args.data)
    limit = slice(None, args.limit)
    train = {"x": normalized_images(data.x_train[limit]), "labels": data.y_train[limit].astype("int32")}
    test = {"x": normalized_images(data.x_test), "labels": data.y_test.astype("int32")}
    print(f"{data.name}: {len(train['x'])} training and {len(test['x'])} test images from {data.source}")

    # 1. The graph: built once, by hand, nothing runs yet.
    model = build_hello_mnist(seed=args.seed, towers=args.towers)
    if args.xla != "none":
        if args.towers > 1:
            raise GraphkitError("--xla: the XLA scopes name the one-tower graph; use --towers 1")
        from graphkit.runtime import xla

        marked = xla.mark_scopes(model.graph, XLA_SCOPES[args.xla])
        print(f"XLA compiles {len(marked)} ops of the step: scopes {', '.join(XLA_SCOPES[args.xla])}")
    print(f"graph: {len(model.graph.get_operations())} ops; input {model.inputs['x'].name}, "
          f"output {model.outputs['probabilities'].name}")

    # 2. A session runs it: train, then evaluate on the test set.
    out = args.out
    with ModelSession(model, checkpoint_dir=out and os.path.join(out, "checkpoints"),
                      logdir=out and os.path.join(out, "logs"),
                      config=towers_config(args.towers)) as session:
        start = time.perf_counter()
        results = session.fit(train, epochs=args.epochs, batch_size=args.batch_size, input_mode=args.input,
                              seed=args.seed)
        train_s = time.perf_counter() - start
        scores = session.evaluate(test)

    print(f"\n{'epoch':>5}{'loss':>10}{'seconds':>10}{'examples/s':>13}")
    for r in results:
        print(f"{r.epoch:>5}{r.loss:>10.4f}{r.seconds:>10.2f}{r.examples_per_s:>13,.0f}")
    print(f"\ntest accuracy {scores['accuracy']:.4f}, test loss {scores['loss']:.4f} "
          f"({args.input} input, batch {args.batch_size}, {args.towers} tower(s))")
    if args.json:
        print(json.dumps({
            "dataset": data.name, "input": args.input, "epochs": len(results), "batch_size": args.batch_size,
            "towers": args.towers, "xla": args.xla,
            "epoch_seconds": [r.seconds for r in results], "train_seconds": train_s,
            "final_loss": results[-1].loss if results else None,
            "test_accuracy": scores["accuracy"], "test_loss": scores["loss"]}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GraphkitError as err:
        print(f"01_hello_mnist: error: {err}", file=sys.stderr)
        sys.exit(2)
