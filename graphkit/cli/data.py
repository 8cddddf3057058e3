"""`graphkit data`: load MNIST or Fashion-MNIST the way every command does, and say
where the copy came from, its shapes and how many examples each class has."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    from graphkit.data.datasets import DATASETS

    parser = subparsers.add_parser(
        "data", help="find and check a dataset: its source, shapes and class counts", description=__doc__)
    parser.add_argument("--dataset", default="fashion-mnist", choices=DATASETS,
                        help="which dataset (default: fashion-mnist)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="local .npz file or IDX directory (default: look in the usual places)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="fail instead of downloading a missing copy (default: off)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.data.datasets import CLASSES, load_dataset

    dataset = load_dataset(args.dataset, path=args.data, download=args.download)
    print(f"{dataset.name} from {dataset.source}")
    splits = {"train": (dataset.x_train, dataset.y_train), "test": (dataset.x_test, dataset.y_test)}
    for split, (images, labels) in splits.items():
        print(f"{split}: {len(images)} images {list(images.shape)} {images.dtype}, "
              f"labels {list(labels.shape)} {labels.dtype}, pixel mean {images.mean():.1f}")
    width = max(5, len(str(len(dataset.x_train))))
    print("class " + " ".join(f"{label:>{width}}" for label in range(CLASSES)))
    for split in splits:
        print(f"{split:<5} " + " ".join(f"{count:>{width}}" for count in dataset.class_counts(split)))
    return 0
