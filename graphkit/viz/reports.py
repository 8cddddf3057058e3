"""Every text report graphkit prints, one formatter per record type.

The records come from protos-only modules (`graphkit.graphs.*`) or from runs
(`graphkit.serving.cpp_run`); formatting is kept apart from computing them, as
TensorFlow's `timeline.py` keeps its Chrome-trace formatter apart from parsing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from graphkit.graphs.placement import PlacementReport
    from graphkit.graphs.saved_model import SavedModelRecord
    from graphkit.graphs.step_stats import TraceSummary
    from graphkit.graphs.work_span import WorkSpan
    from graphkit.graphs.xla_clusters import ClusterReport
    from graphkit.serving.cpp_run import Comparison


def format_work_span(report: WorkSpan, workers: Sequence[int] = (1, 2, 4, 8)) -> str:
    """A readable multi-line summary of a WorkSpan with bounds for some worker counts."""
    lines = [
        f"graph: {report.graph_form}; cost model: {report.cost_model}",
        (f"ops: {report.op_count}  levels: {len(report.levels)}  "
        f"widest level: {report.widest_level} ({report.width} ops)"),
        f"work: {report.work:.6g}  span: {report.span:.6g}  work/span: {report.parallelism:.3f}",
        f"critical path ({len(report.critical_path)} ops): "
        + " -> ".join(_abbreviate(report.critical_path)),
    ]
    if report.unknown_cost_ops:
        lines.append(f"ops of unknown cost (costed 0): {len(report.unknown_cost_ops)}, e.g. "
                     f"{report.unknown_cost_ops[0]}")
    # Speedup is bracketed: no schedule beats min(P, work/span); a greedy one reaches Brent's bound.
    lines.append("speedup on P workers: at most min(P, work/span); at least work / (work/P + span) "
                 "for any greedy schedule (Brent's lower bound)")
    lines.append(f"{'workers':>8} {'upper bound':>12} {'Brent lower bound':>18}")
    for count in workers:
        lines.append(f"{count:>8} {report.speedup_bound(count):>12.3f} {report.brent_speedup(count):>18.3f}")
    return "\n".join(lines)


def format_trace_summary(summary: TraceSummary) -> str:
    """A readable multi-line report of a TraceSummary."""
    lines = [
        (f"wall: {summary.wall_us / 1000:.3f} ms  busy: {summary.busy_us / 1000:.3f} ms  "
         f"average parallelism: {summary.average_parallelism:.3f}  "
         f"max concurrency: {summary.max_concurrency}"),
        (f"critical path taken ({len(summary.critical_path)} ops, "
         f"{summary.critical_path_busy_us / 1000:.3f} ms busy): "
         + " -> ".join(_abbreviate(summary.critical_path))),
        f"{'device':<48} {'ops':>5} {'busy ms':>9} {'lanes':>5}",
    ]
    for device in summary.devices:
        lines.append(f"{device.device:<48} {device.op_count:>5} {device.busy_us / 1000:>9.3f} "
                     f"{device.lanes:>5}")
    return "\n".join(lines)


def format_saved_model(record: SavedModelRecord) -> str:
    """The record as text, laid out like `saved_model_cli show --all`."""
    contents = (f"variables: {'yes' if record.has_variables else 'no'}; "
                f"frozen graph: {'yes' if record.has_frozen_graph else 'no'}")
    lines = [f"SavedModel {record.path}", contents]
    for meta_graph in record.meta_graphs:
        lines.append("")
        lines.append(f"MetaGraphDef with tag-set: '{','.join(meta_graph.tags)}' contains the following "
                     "SignatureDefs:")
        for signature in meta_graph.signatures:
            lines.append("")
            lines.append(f"signature_def['{signature.key}']:" + (
                "" if signature.runnable else f" not runnable by key: {signature.why_not_runnable}"))
            for role, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
                lines.append(f"  The given SavedModel SignatureDef contains the following {role}:")
                for tensor in tensors:
                    lines.append(f"    {role}['{tensor.key}'] tensor_info:")
                    lines.append(f"        dtype: {tensor.dtype}")
                    lines.append(f"        shape: {tensor.shape_text()}")
                    lines.append(f"        name: {tensor.name}")
            lines.append(f"  Method name is: {signature.method_name}")
        if meta_graph.assets:
            lines.append("")
            lines.append("Assets: " + ", ".join(meta_graph.assets))
    return "\n".join(lines)


def format_comparison(comparison: Comparison, max_rows: int = 10,
                      class_names: Sequence[str] | None = None) -> str:
    """A table of C++ beside Python: per output, the first rows and the max abs difference.

    For a [batch, classes] float output each row shows the predicted class
    (its name from `class_names`, if given) and its value from both sides.
    """
    def class_label(index: int) -> str:
        return class_names[index] if class_names is not None and index < len(class_names) else str(index)

    lines = []
    for key in sorted(comparison.python):
        cpp, python = np.asarray(comparison.cpp[key]), np.asarray(comparison.python[key])
        lines.append(f"{key}: {python.dtype} {list(python.shape)}  max |C++ - Python| = "
                     f"{comparison.max_abs_diff_by_output[key]:.3g}")
        if python.ndim == 2 and python.dtype.kind == "f":
            width = max([9] + [len(class_label(i)) for i in range(python.shape[1])])
            lines.append(f"  {'row':>4}  {'C++ class':>{width}}  {'C++ value':>12}  "
                         f"{'Py class':>{width}}  {'Py value':>12}")
            for row in range(min(max_rows, python.shape[0])):
                c, p = int(np.argmax(cpp[row])), int(np.argmax(python[row]))
                lines.append(f"  {row:>4}  {class_label(c):>{width}}  {cpp[row, c]:>12.8f}  "
                             f"{class_label(p):>{width}}  {python[row, p]:>12.8f}")
        else:
            for row, (c, p) in enumerate(zip(cpp.ravel()[:max_rows], python.ravel()[:max_rows])):
                lines.append(f"  {row:>4}  C++ {c!r:<24} Python {p!r}")
    return "\n".join(lines)
def format_placement(report: PlacementReport, max_transfers: int = 20, ops: bool = False) -> str:
    """A readable placement report: ops per device, the _Send/_Recv pairs, bytes per link.

    Args:
      max_transfers: transfers listed (largest first); the rest are counted.
      ops: also list every op that ran: name, type, requested and actual device.
    """
    from graphkit.graphs.placement import FED, RAN, short_device

    lines = [f"{'device':<8} {'graph ops':>9} {'fed':>4} {'added':>6} {'sends':>6} {'recvs':>6}"]
    for partition in report.partitions:
        fed = sum(1 for op in report.ops if op.status == FED and op.actual == partition.device)
        lines.append(f"{short_device(partition.device):<8} {partition.graph_ops:>9} {fed:>4} "
                     f"{partition.added_ops:>6} {partition.sends:>6} {partition.recvs:>6}")
    moved = report.moved
    lines.append(f"ops that ran on another device than requested: {len(moved)}"
                 + "".join(f"\n  {op.name}: requested {op.requested}, ran on {short_device(op.actual)}"
                           for op in moved[:max_transfers]))
    lines.append(f"_Send/_Recv pairs: {len(report.transfers)}, "
                 f"bytes moved per step: {report.bytes_per_step:,}"
                 + (f" ({report.unknown_transfers} of unknown size)" if report.unknown_transfers else ""))
    if report.transfers:
        lines.append(f"  {'from':<6} {'to':<6} {'bytes':>10}  {'dtype':<8} {'shape':<12} tensor")
        largest = sorted(report.transfers, key=lambda t: (-(t.bytes or 0), t.tensor))
        for transfer in largest[:max_transfers]:
            shape = "?" if transfer.shape is None else str(list(transfer.shape))
            size = "?" if transfer.bytes is None else f"{transfer.bytes:,}"
            lines.append(f"  {short_device(transfer.send_device):<6} {short_device(transfer.recv_device):<6} "
                         f"{size:>10}  {transfer.dtype:<8} {shape:<12} {transfer.tensor}")
        if len(largest) > max_transfers:
            lines.append(f"  ... {len(largest) - max_transfers} more")
    for link in report.links:
        lines.append(f"link {short_device(link.source)} -> {short_device(link.target)}: "
                     f"{link.transfers} tensor(s), {link.bytes:,} bytes")
    if ops:
        lines.append(f"{'op':<60} {'type':<24} {'requested':<16} actual")
        for op in report.ops:
            if op.status == RAN or op.status == FED:
                lines.append(f"{op.name:<60} {op.op:<24} {op.requested or '-':<16} {short_device(op.actual)}"
                             + (" (fed)" if op.status == FED else ""))
    return "\n".join(lines)


def placement_json(report: PlacementReport) -> dict:
    """The placement report as a JSON-ready dict: partitions, ops that ran, transfers, links, bytes."""
    from graphkit.graphs.placement import NOT_RUN

    return {
        "partitions": [{"device": p.device, "graph_ops": p.graph_ops, "added_ops": p.added_ops,
                        "sends": p.sends, "recvs": p.recvs} for p in report.partitions],
        "ops": {op.name: {"type": op.op, "requested": op.requested, "actual": op.actual, "status": op.status}
                for op in report.ops if op.status != NOT_RUN},
        "moved": [op.name for op in report.moved],
        "transfers": [{"tensor": t.tensor, "from": t.send_device, "to": t.recv_device, "dtype": t.dtype,
                       "shape": None if t.shape is None else list(t.shape), "bytes": t.bytes,
                       "send_op": t.send_op, "recv_op": t.recv_op, "key": t.key} for t in report.transfers],
        "links": [{"from": link.source, "to": link.target, "transfers": link.transfers, "bytes": link.bytes}
                  for link in report.links],
        "bytes_per_step": report.bytes_per_step,
        "unknown_transfers": report.unknown_transfers,
    }


def format_cluster_report(report: ClusterReport, width: int = 100) -> str:
    """What XLA took: each cluster with its op types and every op in it, then the ops left out and why."""
    import textwrap

    lines = [f"XLA: {len(report.clusters)} compiled unit(s) holding {report.clustered_ops} ops; "
             f"{len(report.unclustered)} ops left out; {report.dump_files} clustering dump(s) read"]
    for cluster in report.clusters:
        types = ", ".join(f"{op_type} {count}" for op_type, count in cluster.op_types)
        lines.append(f"{cluster.name} ({cluster.kind}, {len(cluster.ops)} ops, "
                     f"{'compiled and ran' if cluster.ran else 'not run'}): {types}")
        lines += textwrap.wrap(", ".join(cluster.ops), width, initial_indent="  ", subsequent_indent="  ",
                               break_on_hyphens=False)
    if report.unclustered:
        lines.append("left out:")
        for op in report.unclustered:
            lines.append(f"  {op.name} ({op.op_type})" + (f": {op.reason}" if op.reason else ""))
    return "\n".join(lines)


def _abbreviate(path: Sequence[str], keep: int = 4) -> list[str]:
    if len(path) <= 2 * keep:
        return list(path)
    return [*path[:keep], f"... {len(path) - 2 * keep} more ...", *path[-keep:]]
