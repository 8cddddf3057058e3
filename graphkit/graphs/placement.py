"""Where each op really ran: a placement report from a run's partition graphs and step stats.

    run_metadata = run_traced(session, fetches, feeds, partition_graphs=True)[0]   # graphkit.runtime
    report = placement_report(graph_def, run_metadata)
    report.actual_devices()["dense_1/MatMul"]   # "/job:localhost/replica:0/task:0/device:CPU:1"
    report.transfers[0].tensor, report.bytes_per_step

`NodeDef.device` and `op.device` only hold the *request*. TensorFlow's placer
decides the actual device, Grappler may rewrite the graph, and the session
then cuts it into one partition graph per device, joining the pieces with a
`_Send`/`_Recv` pair per tensor that crosses devices (attrs `tensor_name`,
`send_device`, `recv_device`). `RunOptions(output_partition_graphs=True)`
returns those partitions, so this module reads placement from what ran.

Bytes moved: a `_Send` hands its input tensor to the `_Recv` on the other
device. The size of that tensor is read from the step stats of the op that
produced it (its `NodeOutput.tensor_description`: element count of the shape
the step actually had, times the dtype's size), because TensorFlow records no
NodeExecStats for the `_Send`/`_Recv` of one process (measured on 2.21; between
CPU devices of one process the `_Recv` is handed the same buffer, not a copy).
Where the description has no static size (strings, variants) the producer's
`allocation_description.requested_bytes` is used; a tensor of neither counts as
unknown. The figure is what a cross-process link would carry: tensor payload,
without framing.

Only protos come in (GraphDef, RunMetadata); records go out. No Session.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
from typing import Optional

from graphkit.errors import PlacementError
from graphkit.graphs.names import op_name, output_index

SEND_OPS = frozenset({"_Send", "_HostSend"})
RECV_OPS = frozenset({"_Recv", "_HostRecv"})

# What became of a GraphDef op in the run (OpPlacement.status).
RAN = "ran"            # the op ran under its own name on `actual`
FED = "fed"            # the op's output was fed: the session ran an _Arg in its place on `actual`
NOT_RUN = "not run"    # not needed by the fetches, or folded or rewritten away by Grappler

_DEVICE = re.compile(r"^(?:/job:(?P<job>[^/]+))?(?:/replica:(?P<replica>\d+))?(?:/task:(?P<task>\d+))?"
                     r"(?:/(?:device:)?(?P<type>[A-Za-z_]+):(?P<index>\d+|\*))?$")
_ARG = re.compile(r"^_arg_(?P<tensor>.+)_(?P<slot>\d+)_\d+$")


@dataclasses.dataclass(frozen=True)
class OpPlacement:
    """One op of the original GraphDef: the device asked for and the one it ran on.

    Attributes:
      name: the op's name in the GraphDef.
      op: its type ("MatMul").
      requested: NodeDef.device ("" when nothing was requested).
      actual: the full device it ran on ("" when status is NOT_RUN).
      status: RAN, FED or NOT_RUN.
      ran_as: the op type that ran under its name (Grappler may have fused it into
        another kernel: "_MklNativeFusedMatMul"); "" unless status is RAN.
    """

    name: str
    op: str
    requested: str
    actual: str
    status: str
    ran_as: str = ""

    @property
    def moved(self) -> bool:
        """Whether it ran somewhere its request does not allow (soft placement moved it)."""
        return bool(self.requested and self.actual) and not device_matches(self.requested, self.actual)


@dataclasses.dataclass(frozen=True)
class Transfer:
    """One tensor handed from one device to another by a `_Send`/`_Recv` pair.

    Attributes:
      tensor: the tensor sent, named as in the original graph where it is one of
        its tensors ("dense/Relu:0"), else as in the partition graph.
      key: the rendezvous key both ops share (their `tensor_name` attr, "edge_4_dense/Relu").
      send_op, recv_op: the two nodes' names in their partition graphs.
      send_device, recv_device: full device names.
      dtype: dtype name of the tensor ("float32"; "" when the step stats do not say).
      shape: its shape in this step, or None when the step stats do not say.
      bytes: its size in bytes (see the module docstring), or None when unknown.
    """

    tensor: str
    key: str
    send_op: str
    recv_op: str
    send_device: str
    recv_device: str
    dtype: str
    shape: Optional[tuple]
    bytes: Optional[int]


@dataclasses.dataclass(frozen=True)
class DeviceLink:
    """Everything one device sent another in the step."""

    source: str
    target: str
    transfers: int
    bytes: int


@dataclasses.dataclass(frozen=True)
class Partition:
    """One device's partition graph.

    Attributes:
      device: full device name.
      graph_ops: ops of the original GraphDef that ran here.
      added_ops: nodes the runtime or Grappler added here, _Send/_Recv included.
      sends, recvs: _Send and _Recv nodes.
    """

    device: str
    graph_ops: int
    added_ops: int
    sends: int
    recvs: int


@dataclasses.dataclass(frozen=True)
class PlacementReport:
    """Where a step's ops ran and what crossed between devices.

    Attributes:
      ops: one OpPlacement per op of the GraphDef, in GraphDef order.
      transfers: one Transfer per _Send/_Recv pair, sorted by (send device, recv device, tensor).
      links: bytes per (source, target) device pair, sorted.
      partitions: one Partition per device that ran something, sorted by device.
      added_ops: (name, op type, device) of partition nodes that are not GraphDef
        ops: _Send/_Recv, the session's _Arg/_Retval, Grappler's rewrites.
      bytes_per_step: summed `bytes` of every transfer of known size.
      unknown_transfers: transfers whose size the step stats did not give.
    """

    ops: tuple
    transfers: tuple
    links: tuple
    partitions: tuple
    added_ops: tuple
    bytes_per_step: int
    unknown_transfers: int

    def actual_devices(self) -> dict:
        """Op name -> actual device, for every op that ran as itself."""
        return {op.name: op.actual for op in self.ops if op.status == RAN}

    def device_groups(self) -> dict:
        """Op name -> short actual device ("CPU:1") of every op that ran or was fed: colour groups."""
        return {op.name: short_device(op.actual) for op in self.ops if op.status in (RAN, FED)}

    @property
    def devices(self) -> tuple:
        """Every device that ran something, sorted."""
        return tuple(partition.device for partition in self.partitions)

    @property
    def moved(self) -> tuple:
        """OpPlacements whose actual device differs from their request."""
        return tuple(op for op in self.ops if op.moved)


def placement_report(graph_def, run_metadata) -> PlacementReport:
    """The placement report of one run.

    Args:
      graph_def: the GraphDef the session ran (its NodeDef.device are the requests).
      run_metadata: the run's RunMetadata, made with
        RunOptions(output_partition_graphs=True) and, for byte counts, trace_level=FULL_TRACE.
    Returns:
      a PlacementReport.
    Raises:
      PlacementError: the RunMetadata holds no partition graphs, or a _Send has no matching _Recv.
    """
    partitions = list(run_metadata.partition_graphs)
    if not partitions:
        raise PlacementError("run_metadata: holds no partition graphs; pass "
                             "RunOptions(output_partition_graphs=True) to Session.run")
    graph_nodes = {node.name: node for node in graph_def.node}
    outputs = _step_outputs(run_metadata.step_stats)
    ran, added, sends, recvs, args = {}, [], [], {}, {}
    records = []
    for partition in partitions:
        if not partition.node:
            continue
        device = partition.node[0].device
        counts = collections.Counter()
        for node in partition.node:
            if node.name in graph_nodes:  # its type may differ: Grappler fuses MatMul+Relu into one kernel
                ran[node.name] = (node.device, node.op)
                counts["graph"] += 1
                continue
            added.append((node.name, node.op, node.device))
            counts["added"] += 1
            if node.op in SEND_OPS:
                sends.append(node)
                counts["sends"] += 1
            elif node.op in RECV_OPS:
                recvs[_rendezvous(node)] = node
                counts["recvs"] += 1
            elif node.op == "_Arg":
                fed = _fed_tensor(node.name, graph_nodes)
                if fed:
                    args[op_name(fed)] = node.device
        records.append(Partition(device, counts["graph"], counts["added"], counts["sends"], counts["recvs"]))
    transfers = []
    for send in sends:
        key = _rendezvous(send)
        recv = recvs.get(key)
        if recv is None:
            raise PlacementError(f"{send.name}: _Send of {key[0]!r} from {key[1]} to {key[2]} has no "
                                 "_Recv in the partition graphs")
        transfers.append(_transfer(send, recv, graph_nodes, outputs))
    transfers.sort(key=lambda t: (t.send_device, t.recv_device, t.tensor, t.key))
    ops = tuple(_op_placement(node, ran, args) for node in graph_def.node)
    links = _links(transfers)
    known = [t.bytes for t in transfers if t.bytes is not None]
    return PlacementReport(
        ops=ops, transfers=tuple(transfers), links=links,
        partitions=tuple(sorted(records, key=lambda p: p.device)),
        added_ops=tuple(sorted(added, key=lambda item: (item[2], item[0]))),
        bytes_per_step=sum(known), unknown_transfers=len(transfers) - len(known))


def device_matches(requested: str, actual: str) -> bool:
    """Whether the full device name `actual` satisfies the (partial) request `requested`.

    "/device:CPU:1" and "/cpu:1" match "/job:localhost/replica:0/task:0/device:CPU:1";
    an empty request or a field left out matches anything.

    Raises:
      PlacementError: either name does not parse as a device name.
    """
    wanted, got = parse_device(requested), parse_device(actual)
    return all(value is None or value == "*" or got.get(field) == value for field, value in wanted.items())


def parse_device(name: str) -> dict:
    """The fields of a device name: job, replica, task, type (upper case), index (None where absent).

    Raises:
      PlacementError: `name` is not a device name such as /job:localhost/replica:0/task:0/device:CPU:0.
    """
    match = _DEVICE.match(name.strip())
    if match is None:
        raise PlacementError(f"device {name!r}: not a device name (expected e.g. /device:CPU:1 or "
                             "/job:localhost/replica:0/task:0/device:CPU:1)")
    fields = match.groupdict()
    if fields["type"] is not None:
        fields["type"] = fields["type"].upper()
    return fields


def short_device(name: str) -> str:
    """The device part of a full name: "/job:localhost/replica:0/task:0/device:CPU:1" -> "CPU:1"."""
    fields = parse_device(name) if name else {}
    if fields.get("type") is None:
        return name
    return f"{fields['type']}:{fields['index']}"


def _rendezvous(node) -> tuple:
    attr = node.attr
    return (attr["tensor_name"].s.decode(), attr["send_device"].s.decode(), attr["recv_device"].s.decode())


def _step_outputs(step_stats) -> dict:
    """(device, node name, slot) -> NodeOutput of every op the step stats recorded."""
    outputs = {}
    for dev_stats in step_stats.dev_stats:
        for stats in dev_stats.node_stats:
            for output in stats.output:
                outputs[(dev_stats.device, stats.node_name, output.slot)] = output
    return outputs


def _transfer(send, recv, graph_nodes, outputs) -> Transfer:
    key, send_device, recv_device = _rendezvous(send)
    source = send.input[0]
    producer, slot = op_name(source), max(output_index(source), 0)
    if producer in graph_nodes:
        tensor = f"{producer}:{slot}"
    else:
        tensor = _fed_tensor(producer, graph_nodes) or f"{producer}:{slot}"
    dtype, shape, size = _tensor_size(outputs.get((send.device, producer, slot)))
    if not dtype and "T" in send.attr:
        dtype = _dtype_name(send.attr["T"].type)
    return Transfer(tensor, key, send.name, recv.name, send_device, recv_device, dtype, shape, size)


def _tensor_size(output) -> tuple:
    """(dtype name, shape, bytes) of a step-stats NodeOutput; ("", None, None) without one."""
    if output is None:
        return "", None, None
    description = output.tensor_description
    dtype = _dtype_name(description.dtype)
    shape = None
    if not description.shape.unknown_rank and all(dim.size >= 0 for dim in description.shape.dim):
        shape = tuple(dim.size for dim in description.shape.dim)
    item = _dtype_size(description.dtype)
    if shape is not None and item:
        return dtype, shape, math.prod(shape) * item
    requested = description.allocation_description.requested_bytes
    return dtype, shape, int(requested) if requested > 0 else None


def _dtype_name(enum: int) -> str:
    import tensorflow as tf

    try:
        return tf.dtypes.as_dtype(enum).name
    except TypeError:
        return ""


def _dtype_size(enum: int) -> int:
    """Bytes per element, 0 for dtypes without a fixed size (string, variant, resource)."""
    import tensorflow as tf

    try:
        dtype = tf.dtypes.as_dtype(enum)
    except TypeError:
        return 0
    if dtype in (tf.string, tf.variant, tf.resource):
        return 0
    return dtype.size


def _fed_tensor(arg_name: str, graph_nodes) -> str:
    """The GraphDef tensor a session's `_arg_<op>_<slot>_<index>` node stands in for, or ""."""
    match = _ARG.match(arg_name)
    if match is None:
        return ""
    name = match.group("tensor")
    if name in graph_nodes:
        return f"{name}:{match.group('slot')}"
    return ""


def _op_placement(node, ran, args) -> OpPlacement:
    if node.name in ran:
        device, ran_as = ran[node.name]
        return OpPlacement(node.name, node.op, node.device, device, RAN, ran_as)
    if node.name in args:
        return OpPlacement(node.name, node.op, node.device, args[node.name], FED)
    return OpPlacement(node.name, node.op, node.device, "", NOT_RUN)


def _links(transfers) -> tuple:
    totals = collections.defaultdict(lambda: [0, 0])
    for transfer in transfers:
        entry = totals[(transfer.send_device, transfer.recv_device)]
        entry[0] += 1
        entry[1] += transfer.bytes or 0
    return tuple(DeviceLink(source, target, count, size)
                 for (source, target), (count, size) in sorted(totals.items()))
