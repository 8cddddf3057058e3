"""`graphkit export OUT_DIR`: write a SavedModel (and optionally a frozen graph).

    graphkit export out/saved_model --model hello_mnist --checkpoint out/ckpt --frozen
    graphkit export out/untrained --model hello_mnist            # fresh weights, no training
    graphkit export out/sm --meta out/ckpt/model.ckpt-1.meta --input x=x:0 \\
        --output probabilities=probabilities:0                   # re-export any checkpoint

With `--model` the built-in model (or any `module:function` returning a
GraphModel) is built, its weights restored from `--checkpoint` (a directory
written by ModelSession or a checkpoint prefix) or freshly initialised, and
its inputs/outputs become the `serving_default` signature. With `--meta` the
graph of a checkpoint's .meta file is imported, its variables restored from
the checkpoint next to it, and the signature is given by `--input`/`--output`
as KEY=TENSOR.
"""

from __future__ import annotations

import argparse
import importlib
import os

BUILT_IN_MODELS = {
    "hello_mnist": "graphkit.models.hello_mnist:build_hello_mnist",
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a model or checkpoint as a SavedModel (optionally frozen)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="SavedModel directory to write")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help=f"built-in model ({', '.join(BUILT_IN_MODELS)}) or module:function "
                        "(one of --model/--meta is required)")
    source.add_argument("--meta",
                        help="a checkpoint's .meta file (MetaGraph) to "
                             "re-export (one of --model/--meta is required)")
    parser.add_argument("--checkpoint",
                        help="checkpoint directory or prefix to restore weights from (default: fresh weights "
                             "for --model, the checkpoint beside a .meta)")
    parser.add_argument("--input", action="append", default=[], metavar="KEY=TENSOR",
                        help="with --meta: a signature input, e.g. x=x:0 (repeatable; default: none)")
    parser.add_argument("--output", action="append", default=[], metavar="KEY=TENSOR",
                        help="with --meta: a signature output, e.g. probabilities=probabilities:0 "
                             "(repeatable; required with --meta)")
    parser.add_argument("--asset", action="append", default=[], metavar="FILE",
                        help="extra file to ship in assets/ (repeatable; default: none)")
    parser.add_argument("--frozen", action="store_true", help="also write frozen_graph.pb (default: off)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT_DIR if it exists (default: off, an existing OUT_DIR is an error)")
    parser.add_argument("--seed", type=int, default=1, help="graph seed for fresh weights (default: 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.errors import OutputError, SavedModelError
    from graphkit.files import check_output_path
    from graphkit.quiet import import_tensorflow

    import_tensorflow()

    if args.model and (args.input or args.output):
        raise SavedModelError("export: --input/--output name tensors of a --meta graph; "
                              "--model brings its own")
    if os.path.isfile(args.out_dir):
        raise OutputError(f"{args.out_dir}: is a file; a SavedModel is written as a directory")
    if os.path.exists(args.out_dir) and not args.overwrite:
        raise SavedModelError(f"{args.out_dir}: already exists; pass --overwrite to replace it")
    check_output_path(os.path.join(args.out_dir, "saved_model.pb"), "SavedModel")
    export = _export_model if args.model else _export_meta
    path, weights = export(args)
    print(f"exported SavedModel to {path} ({weights})")
    if args.frozen:
        print(f"frozen graph: {os.path.join(path, 'frozen_graph.pb')}")
    return 0


def _export_model(args: argparse.Namespace) -> tuple[str, str]:
    from graphkit.errors import SavedModelError
    from graphkit.runtime.model_session import ModelSession
    from graphkit.serving.export import export_saved_model

    target = BUILT_IN_MODELS.get(args.model, args.model)
    module_name, _, function_name = target.partition(":")
    try:
        build = getattr(importlib.import_module(module_name), function_name or "build")
    except (ImportError, AttributeError, ValueError):
        raise SavedModelError(f"--model {args.model}: not a built-in model ({', '.join(BUILT_IN_MODELS)}) "
                              "nor an importable module:function") from None
    model = build(seed=args.seed)
    with ModelSession(model) as model_session:
        weights = "fresh weights, untrained"
        if args.checkpoint:
            weights = f"weights from {model_session.restore(args.checkpoint)}"
        path = export_saved_model(model_session.session, model, args.out_dir, assets=args.asset,
                                  frozen=args.frozen, overwrite=args.overwrite)
    return path, weights


def _export_meta(args: argparse.Namespace) -> tuple[str, str]:
    import tensorflow as tf
    from google.protobuf import message

    from graphkit.errors import SavedModelError, tf_error_line
    from graphkit.serving.export import Signature, export_saved_model

    v1 = tf.compat.v1
    if not os.path.isfile(args.meta):
        raise SavedModelError(f"{args.meta}: MetaGraph file does not exist")
    if not args.output:
        raise SavedModelError("export --meta: give at least one --output KEY=TENSOR")
    prefix = args.checkpoint or (args.meta[: -len(".meta")] if args.meta.endswith(".meta") else None)
    if prefix and os.path.isdir(prefix):
        prefix = v1.train.latest_checkpoint(prefix)
    graph = tf.Graph()
    with graph.as_default():
        try:
            saver = v1.train.import_meta_graph(args.meta, clear_devices=True)
        except (OSError, ValueError, KeyError, tf.errors.OpError, message.DecodeError) as err:
            raise SavedModelError(f"{args.meta}: cannot import MetaGraph: {tf_error_line(err)}") from None
        signature = Signature(_named_tensors(graph, "--input", args.input),
                              _named_tensors(graph, "--output", args.output))
    with v1.Session(graph=graph) as session:
        if saver is not None and prefix:
            try:
                saver.restore(session, prefix)
            except (tf.errors.OpError, ValueError) as err:
                raise SavedModelError(f"{prefix}: cannot restore: {tf_error_line(err)}") from None
            weights = f"weights from {prefix}"
        else:
            with graph.as_default():
                session.run(v1.global_variables_initializer())
            weights = "fresh weights, no checkpoint"
        path = export_saved_model(session, None, args.out_dir, signatures={"serving_default": signature},
                                  assets=args.asset, frozen=args.frozen, overwrite=args.overwrite)
    return path, weights


def _named_tensors(graph, flag: str, assignments: list[str]) -> dict:
    from graphkit.errors import SavedModelError

    tensors = {}
    for assignment in assignments:
        key, _, name = assignment.partition("=")
        if not key or not name:
            raise SavedModelError(f"{flag} {assignment}: expected KEY=TENSOR, e.g. x=x:0")
        try:
            tensors[key] = graph.get_tensor_by_name(name if ":" in name else f"{name}:0")
        except (KeyError, ValueError):
            raise SavedModelError(f"{flag} {assignment}: no tensor {name!r} in the graph") from None
    return tensors
