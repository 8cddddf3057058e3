"""The `graphkit` command line: one subcommand per module in graphkit.commands.

Each module of `graphkit.commands` defines `add_parser(subparsers)`, which adds
its subcommand and sets `func(args) -> int` as the handler. A `GraphkitError`
becomes one line on stderr and exit code 2; any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Optional, Sequence

import graphkit.commands
from graphkit.errors import GraphkitError
from graphkit.quiet import import_tensorflow


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of graphkit.commands."""
    parser = argparse.ArgumentParser(
        prog="graphkit",
        description="Build, draw, place, trace, compile and export tf.compat.v1 dataflow graphs.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in sorted(pkgutil.iter_modules(graphkit.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"graphkit.commands.{module.name}").add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one subcommand; returns its exit code."""
    import_tensorflow()  # first, so that its start-up banner stays off stderr whoever imports it
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GraphkitError as err:
        print(f"graphkit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
