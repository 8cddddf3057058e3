"""`graphkit place MODEL --devices N --policy ...`: place a model over CPU devices, run a step, report.

    graphkit place hello_mnist --devices 2 --policy round-robin --partitions partitions.svg
    graphkit place hello_mnist --devices 2 --policy towers --json
    graphkit place hello_mnist --devices 2 --policy scope --rule 'dense_1=1' --rule 'loss=/device:CPU:1'
    graphkit place frozen.pb --devices 3 --policy round-robin --fetch probabilities --batch 64

MODEL is `hello_mnist` (one training step of the built-in model) or a GraphDef
(.pb/.pbtxt), checkpoint .meta or SavedModel directory. The report is read from
what ran (the partition graphs and step stats of one traced Session.run): each
op's requested and actual device, every _Send/_Recv pair TensorFlow inserted,
and the bytes they moved.
"""

from __future__ import annotations

import json

POLICIES = ("round-robin", "towers", "scope", "none")  # graphkit.runtime.placement.POLICIES, plus none


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "place", help="place a model over N logical CPU devices, run a step, report where ops ran",
        description="Places MODEL (hello_mnist, a GraphDef .pb/.pbtxt, a checkpoint .meta or a SavedModel "
                    "directory) over N logical CPU devices of one process with a placement policy, runs "
                    "one traced step on random inputs and reports what actually ran: each op's requested "
                    "and actual device, the _Send/_Recv pairs between devices and the bytes they moved.")
    parser.add_argument("model", help="hello_mnist, or a GraphDef/.meta/SavedModel path")
    parser.add_argument("--devices", type=int, default=2, metavar="N",
                        help="logical CPU devices in the process (default: 2)")
    parser.add_argument("--policy", choices=POLICIES, default="round-robin",
                        help="round-robin: layers (scopes holding variables) over the devices in turn; "
                             "towers: tower_<k> scopes on device k; scope: --rule PATTERN=DEVICE; "
                             "none: keep the graph's own requests (default: round-robin)")
    parser.add_argument("--rule", action="append", default=[], metavar="PATTERN=DEVICE",
                        help="scope policy: ops matching the glob (and their gradients) on DEVICE "
                             "(a device name or a CPU index); first match wins; repeatable (default: none)")
    parser.add_argument("--soft-placement", action="store_true",
                        help="let TensorFlow run an op elsewhere when its requested device does not exist "
                             "(default: off)")
    parser.add_argument("--fetch", nargs="+", default=[], metavar="NAME",
                        help="ops/tensors to run (a path's default: its signature outputs)")
    parser.add_argument("--batch", type=int, default=32,
                        help="size of unknown input dimensions (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    parser.add_argument("--partitions", metavar="OUT.svg",
                        help="draw the partition graphs, one cluster per device "
                             "(svg/dot/png/pdf; default: none)")
    parser.add_argument("--depth", type=int, metavar="N",
                        help="--partitions: collapse nodes to N name-scope levels (default: automatic)")
    parser.add_argument("--ops", action="store_true",
                        help="list every op that ran with both devices (default: off)")
    parser.add_argument("--tags", help="SavedModel tag set, comma separated (default: serve)")
    parser.add_argument("--signature", help="SavedModel signature key (default: serving_default)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as one JSON object (default: a table)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from graphkit.errors import PlacementError
    from graphkit.graphs.placement import placement_report
    from graphkit.runtime.placed_run import open_placed_step, run_placed_step
    from graphkit.runtime.placement import parse_rule
    from graphkit.viz import reports

    if args.depth is not None and args.depth < 1:
        raise PlacementError(f"--depth: expected an int >= 1, got {args.depth}")
    rules = [parse_rule(text) for text in args.rule]
    step = open_placed_step(args.model, args.devices, "" if args.policy == "none" else args.policy, rules,
                            batch=args.batch, fetch=args.fetch, seed=args.seed, tags=args.tags,
                            signature=args.signature)
    placed = run_placed_step(step, soft_placement=args.soft_placement)
    report = placement_report(placed.graph_def, placed.run_metadata)
    drawing = None
    if args.partitions:
        from graphkit.viz.partitions import write_partitions

        drawing = write_partitions(placed.run_metadata.partition_graphs, report, args.partitions,
                                   depth=args.depth)
    if args.json:
        record = {"model": args.model, "devices": args.devices, "policy": args.policy,
                  "fetches": list(step.fetches), **reports.placement_json(report),
                  "partitions_drawing": drawing.path if drawing else None}
        print(json.dumps(record))
        return 0
    print(f"{args.model}: policy {args.policy} over {args.devices} CPU devices; "
          f"ran {', '.join(step.fetches)} once on random inputs (batch {args.batch})")
    print(reports.format_placement(report, ops=args.ops))
    if drawing:
        print(drawing.summary())
    return 0

