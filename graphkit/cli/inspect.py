"""`graphkit inspect DIR`: tags, signatures, inputs/outputs (dtype, shape), assets of a SavedModel.

    graphkit inspect out/saved_model            # like saved_model_cli show --all
    graphkit inspect out/saved_model --json

Reads only the SavedModel proto: no session, no variables loaded.
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="show a SavedModel's tags, signatures, inputs and outputs",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", help="SavedModel directory")
    parser.add_argument("--json", action="store_true",
                        help="print the description as one JSON object (default: text like saved_model_cli)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.quiet import import_tensorflow

    import_tensorflow()
    from graphkit.graphs.saved_model import inspect_saved_model
    from graphkit.viz.reports import format_saved_model

    record = inspect_saved_model(args.export_dir)
    print(json.dumps(record.to_dict()) if args.json else format_saved_model(record))
    return 0
