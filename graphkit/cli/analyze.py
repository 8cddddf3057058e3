"""`graphkit analyze INPUT`: static work/span of a GraphDef or SavedModel, no session run.

    graphkit analyze model.pb --fetch loss --cost flops --batch 32
    graphkit analyze out/saved_model --optimized --json
"""

from __future__ import annotations

import json

COSTS = ("unit", "flops")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze", help="static dataflow parallelism: levels, critical path, work/span",
        description="Levels, widest level, critical path and work/span of a GraphDef (.pb/.pbtxt), "
                    "MetaGraph (.meta) or SavedModel directory, as written or as Grappler optimises it.")
    parser.add_argument("input", help="GraphDef .pb/.pbtxt, .meta file or SavedModel directory")
    parser.add_argument("--fetch", nargs="+", metavar="NAME",
                        help="analyse only what these ops/tensors need (default: the signature's "
                             "outputs, else every op nothing reads)")
    parser.add_argument("--feed", nargs="+", metavar="NAME",
                        help="ops/tensors the run feeds: what they depend on is left out (default: "
                             "the signature's inputs, else none)")
    parser.add_argument("--optimized", action="store_true",
                        help="analyse the graph as Grappler rewrites it before running (default: as written, "
                             "function calls inlined)")
    parser.add_argument("--cost", choices=COSTS, default="unit",
                        help="cost per op: 1, or FLOPs from TensorFlow's op statistics (default: unit)")
    parser.add_argument("--batch", type=int, default=1,
                        help="size of unknown placeholder dimensions for FLOP costs (default: 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="worker counts to print speedup bounds for (default: 1 2 4 8)")
    parser.add_argument("--tags", default=None,
                        help="SavedModel only: tag set, comma separated (default: serve, or the only one)")
    parser.add_argument("--signature", default=None,
                        help="SavedModel or .meta only: signature key (default: serving_default if there)")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object (default: a table)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from graphkit.errors import AnalysisError
    from graphkit.graphs import work_span as analysis
    from graphkit.graphs.inline import has_function_calls, inline_function_calls
    from graphkit.graphs.load import load_graph
    from graphkit.viz import reports

    if args.batch < 1:
        raise AnalysisError(f"--batch: expected an int >= 1, got {args.batch}")
    loaded = load_graph(args.input, tags=args.tags, signature=args.signature)
    graph_def = loaded.graph_def
    fetches = args.fetch or [spec.op_name for spec in loaded.signature_outputs.values()] \
        or analysis.sink_ops(graph_def)
    feeds = args.feed or [spec.op_name for spec in loaded.signature_inputs.values()]
    graph_form = analysis.GRAPH_AS_WRITTEN
    if args.optimized:
        graph_def = analysis.grappler_optimized(graph_def, fetches, feeds)
        graph_form = analysis.GRAPH_OPTIMIZED
    elif args.cost == "flops" and has_function_calls(graph_def):
        # FLOP statistics need a graph TensorFlow can import: let Grappler inline the calls, and only that
        graph_def = analysis.grappler_optimized(graph_def, fetches, feeds, config=analysis.inlining_config())
        graph_form = analysis.GRAPH_CALLS_INLINED
    # Calls Grappler left, or every call of the graph as written, among what the fetches need.
    inlined = inline_function_calls(analysis.prune(graph_def, fetches, feeds))
    if inlined.calls and args.cost == "flops":
        raise AnalysisError(f"--cost flops: FLOPs are counted on a graph TensorFlow can import, and "
                            f"{inlined.calls} function call(s) remain that Grappler does not inline "
                            f"(e.g. a loop over variables); use --cost unit")
    graph_def, graph_form = inlined.graph_def, inlined.describe(graph_form)
    report = analysis.work_span(graph_def, fetches, feeds, cost=args.cost, graph_form=graph_form,
                                unknown_dim=args.batch)
    for workers in args.workers:
        report.speedup_bound(workers)  # validates each count before printing anything
    if args.json:
        print(json.dumps({
            "input": args.input, "graph_form": report.graph_form, "cost_model": report.cost_model,
            "fetches": list(fetches), "feeds": list(feeds), "ops": report.op_count,
            "levels": len(report.levels),
            "widest_level": report.widest_level, "width": report.width, "work": report.work,
            "span": report.span, "work_span": report.parallelism,
            "critical_path": list(report.critical_path),
            "speedup_bound": {str(p): report.speedup_bound(p) for p in args.workers},
            "brent_lower_bound": {str(p): report.brent_speedup(p) for p in args.workers},
            "unknown_cost_ops": list(report.unknown_cost_ops)}))
    else:
        print(f"{args.input}: fetches {_listing(fetches)}; feeds {_listing(feeds) or 'none'}")
        print(reports.format_work_span(report, args.workers))
    return 0


def _listing(names, most: int = 6) -> str:
    return ", ".join(names[:most]) + (" ..." if len(names) > most else "")
