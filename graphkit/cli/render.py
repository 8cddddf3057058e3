"""`graphkit render INPUT -o OUT`: draw a graph as SVG, PNG, PDF, DOT or interactive HTML.

    graphkit render out/saved_model -o model.svg
    graphkit render frozen.pb -o detail.svg --depth 3 --hide save
    graphkit render ckpt/model.ckpt-5.meta -o train.svg --show-training-noise --expand gradients
    graphkit render graph.pbtxt -o graph.dot --prune-to probabilities
    graphkit render big.pb -o big.html        # offline page: click scopes to open and close them
    graphkit render graph.pb -o placed.svg --color-groups devices.json --color-title device
    graphkit render placed.pb -o placed.svg --color device --devices 2 --prune-to probabilities
    graphkit render out/saved_model -o xla.svg --color xla

INPUT is a SavedModel directory, a GraphDef (.pb binary or .pbtxt text) or a
checkpoint's .meta MetaGraph. Without --depth the view is chosen to stay
within about 60 boxes, whatever the graph's size.
"""

from __future__ import annotations

import dataclasses

DEFAULT_MAX_BOXES = 60  # repeated from graphkit.viz.walk so that `--help` need not import TensorFlow
FORMATS = ("svg", "dot", "png", "pdf", "html")
# What --color can fill boxes by: each choice runs the graph and groups its ops by what happened.
COLOR_CHOICES = ("device", "xla")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "render", help="draw a graph as SVG/PNG/PDF/DOT with Graphviz",
        description="Draws a SavedModel, GraphDef (.pb/.pbtxt) or checkpoint .meta graph: name scopes as "
                    "nested clusters collapsed to a readable size, edges labelled with shape and dtype, "
                    "training machinery (gradients, optimizer, initializers, save/restore) folded.")
    parser.add_argument("input", help="SavedModel directory, GraphDef .pb/.pbtxt, or checkpoint .meta")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="file to write, e.g. out.svg (required)")
    parser.add_argument("--format", choices=FORMATS,
                        help="output format (default: from OUT's suffix, else svg); dot and html need no "
                             "Graphviz; html is one offline page whose scopes open and close on click")
    parser.add_argument("--depth", type=int, metavar="N",
                        help="expand N levels of name scopes (default: automatic, at most --max-boxes boxes)")
    parser.add_argument("--max-boxes", type=int, default=DEFAULT_MAX_BOXES, metavar="N",
                        help=f"box budget of the automatic view; small stubs for edges to shared inputs "
                             f"and training machinery come on top (default: {DEFAULT_MAX_BOXES})")
    parser.add_argument("--expand", nargs="+", action="extend", default=[], metavar="SCOPE",
                        help="draw these scopes expanded (default: none)")
    parser.add_argument("--hide", nargs="+", action="extend", default=[], metavar="SCOPE",
                        help="leave these scopes or ops out (default: none)")
    parser.add_argument("--prune-to", metavar="NAME",
                        help="keep only what this op, tensor or signature output depends on (default: all)")
    parser.add_argument("--show-training-noise", action="store_true",
                        help="draw gradients, optimizer, initializer and save/restore ops "
                             "instead of folding them (default: folded)")
    parser.add_argument("--fold-rule", action="append", default=[], metavar="LABEL=OP>OP",
                        help="also draw this op chain as one labelled block, e.g. 'gelu=Mul>Erf>AddV2>Mul' "
                             "(repeatable; default: none beyond the built-in rules, which fold dense "
                             "layers and dropout)")
    parser.add_argument("--no-fold-rules", action="store_true",
                        help="draw every op of dense layers, dropout and --fold-rule chains (default: off)")
    parser.add_argument("--no-series", action="store_true",
                        help="draw numbered siblings (block0 ... block35) one by one, not as one series box "
                             "(default: off)")
    parser.add_argument("--color-groups", metavar="FILE.json",
                        help="fill boxes by group: a JSON object of op name -> group label "
                             "(a device, an XLA cluster ...); the drawing gets a legend (default: none)")
    parser.add_argument("--color-title", default="", metavar="TEXT",
                        help="heading of the --color-groups legend (default: groups)")
    parser.add_argument("--color", choices=COLOR_CHOICES,
                        help="device: run the graph once (random inputs, fetching --prune-to or the "
                             "signature outputs) over --devices CPU devices and fill each op with the "
                             "device it actually ran on, with a legend; xla: run it the same way with "
                             "XLA auto-clustering and fill each op with the XLA cluster TensorFlow put "
                             "it in (default: plain fills)")
    parser.add_argument("--devices", type=int, metavar="N",
                        help="--color device: logical CPU devices of the run (default: enough for the "
                             "graph's own CPU requests); a request the process lacks runs elsewhere")
    parser.add_argument("--tags", help="SavedModel tag set, comma separated (default: serve)")
    parser.add_argument("--signature", help="SavedModel signature key (default: serving_default)")
    parser.set_defaults(func=run)


def _fold_rules(args):
    """None (the built-in rules), or the built-in rules and --fold-rule ones, or only --fold-rule ones."""
    if not args.fold_rule and not args.no_fold_rules:
        return None
    from graphkit.viz.fold_rules import DEFAULT_FOLD_RULES, FoldRule

    extra = tuple(FoldRule.parse(text) for text in args.fold_rule)
    return extra if args.no_fold_rules else extra + DEFAULT_FOLD_RULES


def run(args) -> int:
    from graphkit.viz import render
    from graphkit.viz.color_groups import load_color_groups

    color_groups = load_color_groups(args.color_groups) if args.color_groups else None
    color_title = args.color_title
    if args.color == "device":
        color_groups, color_title = _actual_devices(args), args.color_title or "device"
    elif args.color == "xla":
        color_groups, color_title = _xla_clusters(args), args.color_title or "XLA cluster"
    result = render(
        args.input, args.output, args.format, depth=args.depth, expand=args.expand, hide=args.hide,
        prune_to=args.prune_to, show_training_noise=args.show_training_noise, max_boxes=args.max_boxes,
        tags=args.tags, signature=args.signature, color_groups=color_groups, color_title=color_title,
        series=not args.no_series, fold_rules=_fold_rules(args))
    print(result.summary())
    return 0


def _actual_devices(args) -> dict:
    """Op name -> the CPU device it ran on, from one traced run of INPUT (graphkit.runtime.placed_run)."""
    from graphkit.errors import RenderError
    from graphkit.graphs.placement import placement_report
    from graphkit.runtime.placed_run import open_placed_step, requested_cpu_count, run_placed_step

    if args.color_groups:
        raise RenderError("--color device and --color-groups: pass one of them, not both")
    step = open_placed_step(args.input, args.devices or 1, fetch=[args.prune_to] if args.prune_to else [],
                            tags=args.tags, signature=args.signature)
    if args.devices is None:
        step = dataclasses.replace(step, devices=requested_cpu_count(step.graph_def))
    placed = run_placed_step(step, soft_placement=True)
    return placement_report(placed.graph_def, placed.run_metadata).device_groups()


def _xla_clusters(args) -> dict:
    """Op name -> XLA cluster, from one auto-clustered traced run of INPUT (graphkit.runtime.xla)."""
    import os

    from graphkit.errors import RenderError
    from graphkit.runtime import xla
    from graphkit.runtime.inputs import open_traceable

    if args.color_groups:
        raise RenderError("--color xla and --color-groups: pass one of them, not both")
    xla.enable_xla_flags(auto_clustering=True, clustering_dumps=True)  # before the session below
    graph_file = not os.path.isdir(args.input) and not args.input.endswith(".meta")
    session, fetches, feeds = open_traceable(
        args.input, [args.prune_to] if args.prune_to else None, tags=args.tags, signature=args.signature,
        config=xla.auto_clustering_config(), init_variables=graph_file)
    with session:
        report, _ = xla.session_cluster_report(session, fetches, feeds, auto_clustering=True)
        graph_ops = {node.name for node in session.graph.as_graph_def().node}
    return report.graph_op_groups(graph_ops)
