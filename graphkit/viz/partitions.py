"""Draws a run's partition graphs: one cluster per device, `_Send`/`_Recv` pairs as the edges between.

    run = run_placed_step(open_placed_step("hello_mnist", devices=2, policy="round-robin"))
    report = placement_report(run.graph_def, run.run_metadata)
    write_partitions(run.run_metadata.partition_graphs, report, "partitions.svg")

What TensorFlow ran is drawn, not what was built: each device's partition graph
(after placement and Grappler) becomes a cluster, its nodes the boxes (or, for
large graphs, its name scopes up to some depth), and every tensor that crossed
devices is one bold edge from its `_Send` to its `_Recv`, labelled with the
tensor and its bytes. `partition_view` decides the content; `PartitionStyle`
the look; nothing here runs a session.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence
from types import MappingProxyType
from typing import Mapping, Optional

import graphviz

from graphkit.errors import RenderError
from graphkit.graphs.names import op_name
from graphkit.graphs.placement import RECV_OPS, SEND_OPS, PlacementReport, short_device
from graphkit.viz import output
from graphkit.viz.style import FONT, GROUP_PALETTE, LAYOUT

OP, SEND, RECV, SCOPE = "op", "send", "recv", "scope"
DEFAULT_MAX_BOXES = 80


@dataclasses.dataclass(frozen=True)
class PartitionBox:
    """One box: a node of a partition graph, or a name scope of one collapsed.

    Attributes:
      id: DOT node id ("CPU_1/dense_1/MatMul"): the device, then the node or scope name.
      name: node or scope name.
      device: full device name of the partition.
      kind: OP, SEND, RECV or SCOPE.
      op_type: the node's op type ("" for a scope).
      ops: nodes inside (1 for a node).
    """

    id: str
    name: str
    device: str
    kind: str
    op_type: str
    ops: int


@dataclasses.dataclass(frozen=True)
class PartitionEdge:
    """An edge between boxes: within a partition, or a _Send -> _Recv transfer across devices.

    Attributes:
      count: graph edges merged into it.
      cross_device: True for a _Send -> _Recv pair.
      label: for a transfer, the tensor and its bytes.
    """

    tail: str
    head: str
    count: int
    cross_device: bool
    label: str = ""


@dataclasses.dataclass(frozen=True)
class PartitionView:
    """What a partition drawing holds.

    Attributes:
      devices: full device names, one cluster each, sorted.
      boxes: every box, by device then name.
      edges: every edge; cross-device ones are the transfers.
      depth: scope depth the nodes were collapsed to (None: every node drawn).
    """

    devices: tuple
    boxes: tuple
    edges: tuple
    depth: Optional[int]

    @property
    def cross_device_edges(self) -> tuple:
        return tuple(edge for edge in self.edges if edge.cross_device)


@dataclasses.dataclass(frozen=True)
class PartitionStyle:
    """The look of a partition drawing: Graphviz attributes by box kind, device fills, edge kinds."""

    graph: Mapping[str, str]
    node: Mapping[str, str]
    edge: Mapping[str, str]
    boxes: Mapping[str, Mapping[str, str]]
    device_fills: tuple
    cluster: Mapping[str, str]
    local_edge: Mapping[str, str]
    cross_edge: Mapping[str, str]


DEFAULT_PARTITION_STYLE = PartitionStyle(
    graph=MappingProxyType({**LAYOUT, "fontname": FONT, "fontsize": "10", "bgcolor": "white",
                            "rankdir": "TB", "outputorder": "edgesfirst"}),
    node=MappingProxyType({"fontname": FONT, "fontsize": "8", "height": "0.25", "margin": "0.05,0.02"}),
    edge=MappingProxyType({"fontname": FONT, "fontsize": "7", "arrowsize": "0.5", "color": "#777777"}),
    boxes=MappingProxyType({
        OP: {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#7a8ca3"},
        SCOPE: {"shape": "box3d", "style": "filled", "fillcolor": "white", "color": "#3b5f8f"},
        SEND: {"shape": "rarrow", "style": "filled", "fillcolor": "#ffcc80", "color": "#e65100"},
        RECV: {"shape": "larrow", "style": "filled", "fillcolor": "#a5d6a7", "color": "#1b5e20"},
    }),
    device_fills=GROUP_PALETTE,  # the colours `render --color device` gives the same devices
    cluster=MappingProxyType({"style": "rounded,filled", "color": "#90a4ae", "fontname": FONT,
                              "fontsize": "11", "labeljust": "l"}),
    local_edge=MappingProxyType({}),
    cross_edge=MappingProxyType({"color": "#d84315", "penwidth": "2.2", "fontcolor": "#bf360c",
                                 "fontsize": "8", "constraint": "true"}),
)


@dataclasses.dataclass(frozen=True)
class PartitionDrawing:
    """What `write_partitions` wrote."""

    path: str
    format: str
    view: PartitionView

    def summary(self) -> str:
        view = self.view
        return (f"wrote {self.path} ({self.format}): {len(view.devices)} devices, {len(view.boxes)} boxes, "
                f"{len(view.cross_device_edges)} cross-device _Send/_Recv edges")


def partition_view(partition_graphs: Sequence, report: PlacementReport, depth: Optional[int] = None,
                   max_boxes: int = DEFAULT_MAX_BOXES) -> PartitionView:
    """The boxes and edges of a run's partition graphs.

    Args:
      partition_graphs: RunMetadata.partition_graphs of the run.
      report: that run's PlacementReport (labels the transfers).
      depth: collapse nodes to their first `depth` name-scope levels (_Send and
        _Recv always drawn); None picks the deepest level of at most `max_boxes` boxes.
      max_boxes: box budget when `depth` is None.
    Returns:
      a PartitionView.
    Raises:
      RenderError: depth below 1.
    """
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise RenderError(f"depth: expected an int >= 1, got {depth!r}")
    nodes = [(node, partition_device(graph)) for graph in partition_graphs for node in graph.node]
    if depth is None:
        depth = _fitting_depth(nodes, max_boxes)
    groups = collections.defaultdict(list)
    for node, device in nodes:
        transfer = node.op in SEND_OPS or node.op in RECV_OPS
        key = node.name if transfer or depth is None else _scope(node.name, depth)
        groups[(device, key)].append(node)
    box_of, boxes = {}, []
    for (device, key), members in groups.items():
        if len(members) == 1:  # a scope of one node is drawn as that node
            node = members[0]
            kind = SEND if node.op in SEND_OPS else RECV if node.op in RECV_OPS else OP
            box = PartitionBox(f"{_device_id(device)}/{node.name}", node.name, device, kind, node.op, 1)
        else:
            box = PartitionBox(f"{_device_id(device)}/{key}", key, device, SCOPE, "", len(members))
        boxes.append(box)
        for node in members:
            box_of[(device, node.name)] = box.id
    counts = collections.Counter()
    for node, device in nodes:
        head = box_of[(device, node.name)]
        for source in node.input:
            tail = box_of.get((device, op_name(source)))
            if tail is not None and tail != head:
                counts[(tail, head)] += 1
    edges = [PartitionEdge(tail, head, count, False) for (tail, head), count in sorted(counts.items())]
    for transfer in report.transfers:
        tail = box_of.get((transfer.send_device, transfer.send_op))
        head = box_of.get((transfer.recv_device, transfer.recv_op))
        if tail and head:
            size = "? bytes" if transfer.bytes is None else f"{transfer.bytes:,} B"
            edges.append(PartitionEdge(tail, head, 1, True, f"{transfer.tensor}\n{size}"))
    devices = tuple(sorted({device for _, device in nodes}))
    return PartitionView(devices, tuple(sorted(boxes, key=lambda b: (b.device, b.name))),
                         tuple(edges), depth)


def partitions_digraph(view: PartitionView,
                       style: PartitionStyle = DEFAULT_PARTITION_STYLE) -> graphviz.Digraph:
    """The Digraph of a PartitionView: one cluster per device, transfers as bold cross-cluster edges."""
    digraph = graphviz.Digraph(name="partitions", graph_attr=dict(style.graph), node_attr=dict(style.node),
                               edge_attr=dict(style.edge))
    for index, device in enumerate(view.devices):
        fill = _paler(style.device_fills[index % len(style.device_fills)])
        mine = [box for box in view.boxes if box.device == device]
        label = f"{device}  ({sum(box.ops for box in mine)} nodes)"
        cluster = graphviz.Digraph(name=f"cluster_{_device_id(device)}",
                                   graph_attr={**style.cluster, "label": label, "fillcolor": fill})
        for box in mine:
            cluster.node(box.id, label=_label(box), tooltip=f"{box.name}\\n{box.op_type or 'scope'}",
                         **style.boxes[box.kind])
        digraph.subgraph(cluster)
    for edge in view.edges:
        attrs = dict(style.cross_edge if edge.cross_device else style.local_edge)
        if edge.label:
            attrs["label"] = edge.label.replace("\\", "\\\\").replace("\n", "\\n")
        if edge.count > 1:
            attrs["penwidth"] = "1.6"
        digraph.edge(edge.tail, edge.head, **attrs)
    return digraph


def write_partitions(partition_graphs: Sequence, report: PlacementReport, output_path: str,
                     format: Optional[str] = None, depth: Optional[int] = None,
                     max_boxes: int = DEFAULT_MAX_BOXES,
                     style: PartitionStyle = DEFAULT_PARTITION_STYLE) -> PartitionDrawing:
    """Draws a run's partition graphs to a file (DOT, SVG, PNG or PDF).

    Raises:
      RenderError: bad format, Graphviz `dot` missing or failing, the file cannot be written.
    """
    fmt = output.output_format(output_path, format)
    dot_binary = None if fmt == "dot" else output.find_dot()
    view = partition_view(partition_graphs, report, depth, max_boxes)
    source = partitions_digraph(view, style).source
    data = source.encode("utf-8") if fmt == "dot" else output.run_dot(source, fmt, dot_binary)
    output.write_atomic(output_path, data)
    return PartitionDrawing(output_path, fmt, view)


def partition_device(graph_def) -> str:
    """The device of a partition graph: the device of its nodes."""
    return graph_def.node[0].device if graph_def.node else ""


def _device_id(device: str) -> str:
    # ":" would read as a DOT port separator in node ids.
    return short_device(device).replace(":", "_")


def _paler(color: str, white: float = 0.55) -> str:
    """`color` ("#rrggbb") mixed with `white` parts of white: a cluster background under white boxes."""
    channels = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * white):02x}" for c in channels)


def _scope(name: str, depth: int) -> str:
    return "/".join(name.split("/")[:depth])


def _fitting_depth(nodes, max_boxes: int) -> Optional[int]:
    if len(nodes) <= max_boxes:
        return None
    deepest = max(node.name.count("/") + 1 for node, _ in nodes)
    for depth in range(deepest, 0, -1):
        boxes = {(device, node.name if node.op in SEND_OPS | RECV_OPS else _scope(node.name, depth))
                 for node, device in nodes}
        if len(boxes) <= max_boxes:
            return depth
    return 1


def _label(box: PartitionBox) -> str:
    text = box.name.replace("\\", "\\\\")
    if box.kind == SCOPE:
        return f"{text}\\n{box.ops} nodes"
    if box.op_type:
        return f"{text}\\n{box.op_type}"
    return text

