"""Device placement, made visible: where did each op run, and what crossed between devices?

Because a dataflow graph's edges are explicit, TensorFlow can cut one program
into a partition per device and insert the communication itself: one
`_Send`/`_Recv` pair per tensor that crosses. This example gives one process
several logical CPU devices (`ConfigProto(device_count={"CPU": N})`), places
graphs on them with graphkit's policies, runs one traced step and reads what
actually happened from the run's partition graphs and step stats (never from
`op.device`, which only holds the request):

  1. a hand-built graph placed at build time with a device function: a
     [batch, 512] float32 activation must cross from CPU:0 to CPU:1, so the
     report must show one transfer of batch * 512 * 4 bytes;
  2. the hello-world MNIST training step under two policies: layers
     round-robin over the devices (model parallelism: activations and their
     gradients cross) and towers (data parallelism: parameters and gradients cross);
  3. soft placement: an op asked onto a device the process lacks runs
     elsewhere with soft placement, and is one clear error without.

    python examples/04_device_placement.py                       # the tables
    python examples/04_device_placement.py --partitions out/     # + partition drawings (SVG)
    python examples/04_device_placement.py --json                # ... and a JSON line last
"""

from __future__ import annotations

import argparse
import json
import os

from graphkit.quiet import import_tensorflow

tf = import_tensorflow()

from graphkit.errors import PlacementError  # noqa: E402
from graphkit.graphs.placement import placement_report, short_device  # noqa: E402
from graphkit.runtime.placed_run import PlacedStep, open_placed_step, run_placed_step  # noqa: E402
from graphkit.runtime.placement import cpu_device, device_function, scope_policy  # noqa: E402
from graphkit.viz import reports  # noqa: E402

v1 = tf.compat.v1


def two_layer_step(batch: int) -> PlacedStep:
    """Two dense layers, `first/` on CPU:0 and `second/` on CPU:1, placed while building."""
    import numpy as np

    policy = scope_policy([("first", cpu_device(0)), ("second", cpu_device(1))])
    graph = tf.Graph()
    with graph.as_default(), graph.device(device_function(policy)):
        x = v1.placeholder(tf.float32, [batch, 256], name="x")
        with tf.name_scope("first"):
            w1 = tf.constant(np.full([256, 512], 0.01, np.float32), name="w")
            hidden = tf.nn.relu(tf.matmul(x, w1), name="hidden")          # [batch, 512] on CPU:0
        with tf.name_scope("second"):
            w2 = tf.constant(np.full([512, 10], 0.01, np.float32), name="w")
            tf.reduce_sum(tf.matmul(hidden, w2), name="out")             # reads `hidden` on CPU:1
    feeds = {"x:0": np.random.default_rng(0).random([batch, 256], dtype=np.float32)}
    return PlacedStep("two_layer", graph.as_graph_def(), ("second/out:0",), feeds, (), 2, "scope")


def run_and_report(step: PlacedStep, soft_placement: bool = False, partitions_dir: str | None = None):
    """One traced step of `step`; its placement report (and partition drawing, if asked)."""
    placed = run_placed_step(step, soft_placement=soft_placement)
    report = placement_report(placed.graph_def, placed.run_metadata)
    drawing = None
    if partitions_dir:
        from graphkit.viz.partitions import write_partitions

        path = os.path.join(partitions_dir, f"partitions_{step.model}_{step.policy or 'none'}.svg")
        drawing = write_partitions(placed.run_metadata.partition_graphs, report, path).path
    return report, drawing


def summary_row(name: str, report) -> dict:
    ops = {short_device(p.device): p.graph_ops for p in report.partitions}
    return {"case": name, "ops_per_device": ops, "transfers": len(report.transfers),
            "bytes_per_step": report.bytes_per_step, "moved": len(report.moved)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2, help="logical CPU devices (default: 2)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (default: 256)")
    parser.add_argument("--partitions", metavar="DIR", help="write each run's partition drawing here")
    parser.add_argument("--json", action="store_true", help="print a JSON line of the figures last")
    args = parser.parse_args(argv)

    rows = []
    print(f"== 1. two layers placed while building: first/ on CPU:0, second/ on CPU:1 (batch {args.batch})")
    report, _ = run_and_report(two_layer_step(args.batch), partitions_dir=args.partitions)
    print(reports.format_placement(report))
    hidden = [t for t in report.transfers if t.tensor == "first/hidden:0"]
    expected = args.batch * 512 * 4
    print(f"first/hidden:0 crossed CPU:0 -> CPU:1 with {hidden[0].bytes if hidden else 0:,} bytes "
          f"(batch x 512 x 4 = {expected:,})")
    rows.append({**summary_row("two_layer", report), "hidden_bytes": hidden[0].bytes if hidden else None,
                 "hidden_expected": expected})

    for policy in ("round-robin", "towers"):
        print(f"\n== 2. hello_mnist training step, policy {policy}, {args.devices} devices, "
              f"batch {args.batch}")
        step = open_placed_step("hello_mnist", args.devices, policy, batch=args.batch)
        report, drawing = run_and_report(step, partitions_dir=args.partitions)
        print(reports.format_placement(report, max_transfers=6))
        if drawing:
            print(f"wrote {drawing}")
        rows.append(summary_row(f"hello_mnist {policy}", report))

    print(f"\n== 3. soft placement: dense_1 asked onto CPU:7 of a {args.devices}-device process")
    step = open_placed_step("hello_mnist", args.devices, "scope", [("dense_1", cpu_device(7))],
                            batch=args.batch)
    try:
        run_placed_step(step, soft_placement=False)
        refused = ""
    except PlacementError as err:
        refused = str(err)
    print(f"without soft placement: {refused}")
    report, _ = run_and_report(step, soft_placement=True)
    print(f"with soft placement: {len(report.moved)} ops ran on another device than requested, e.g. "
          f"{report.moved[0].name} -> {short_device(report.moved[0].actual)}")
    rows.append({**summary_row("soft placement", report), "refused_without": refused})

    print(f"\n{'case':<24} {'ops per device':<28} {'transfers':>9} {'bytes/step':>12} {'moved':>6}")
    for row in rows:
        per_device = ", ".join(f"{device} {count}" for device, count in row["ops_per_device"].items())
        print(f"{row['case']:<24} {per_device:<28} {row['transfers']:>9} {row['bytes_per_step']:>12,} "
              f"{row['moved']:>6}")
    if args.json:
        print(json.dumps({"devices": args.devices, "batch": args.batch, "cases": rows}))


if __name__ == "__main__":
    main()
