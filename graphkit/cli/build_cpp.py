"""`graphkit build-cpp`: compile the C++ program graphkit-run against the installed tensorflow.

    graphkit build-cpp                     # prints the path of graphkit-run (cached)
    graphkit build-cpp --force --build-dir build/cpp

The build is cached per TensorFlow version and C++ source hash under
~/.cache/graphkit/cpp (or $GRAPHKIT_CACHE_DIR/cpp); a later call returns at once.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-cpp", help="build the C++ SavedModel runner graphkit-run (cached)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=None, help="where the build lives (default: the cache)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even if a build is cached (default: off)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.serving.cpp_build import build_cpp

    print(build_cpp(build_dir=args.build_dir, force=args.force))
    return 0
