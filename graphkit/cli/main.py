"""The `graphkit` command line: one subcommand per module of `graphkit.cli`.

Each subcommand module defines `add_parser(subparsers)`, which adds its
subcommand and sets `func(args) -> int` as the handler. Parsing imports no
TensorFlow, so `graphkit --help` and `graphkit COMMAND --help` answer at once;
TensorFlow is imported (quietly) only once a command is about to run. A
`GraphkitError` becomes one line on stderr and exit code 2; any other exception
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from graphkit.errors import GraphkitError
from graphkit.quiet import import_tensorflow

# One module of graphkit.cli per subcommand, in the order `--help` lists them.
COMMANDS = ("demo", "data", "render", "inspect", "analyze", "trace", "place", "cluster", "xla", "export",
            "build_cpp")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("tf-graphkit")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="graphkit",
        description="Build, draw, place, trace, compile and export tf.compat.v1 dataflow graphs.")
    parser.add_argument("--version", action="version", version=f"graphkit {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"graphkit.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one subcommand; returns its exit code."""
    args = build_parser().parse_args(argv)
    import_tensorflow()  # before the command imports it, so that its start-up banner stays off stderr
    try:
        return int(args.func(args) or 0)
    except GraphkitError as err:
        print(f"graphkit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
