"""`graphkit demo`: the main job. Trains the hand-built hello-world model on
Fashion-MNIST (or MNIST), prints its test accuracy, and writes the graph and
TensorBoard logs under the output directory."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="train the hand-built hello-world model and write its graph and logs",
        description=__doc__)
    parser.add_argument("--out", default="out", help="output directory (default: out)")
    parser.add_argument("--dataset", default="auto", choices=("auto", "fashion-mnist", "mnist"),
                        help="auto: Debian's Fashion-MNIST if installed, else MNIST (downloaded)")
    parser.add_argument("--data", default=None, metavar="PATH", help="local .npz file or IDX directory")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.demo import run_demo

    run_demo(out_dir=args.out, dataset=args.dataset, data_path=args.data, epochs=args.epochs,
             batch_size=args.batch_size, seed=args.seed)
    return 0
