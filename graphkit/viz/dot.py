"""Turns a `GraphView` into a `graphviz.Digraph`: labels from the view, looks from a `Style`.

Node ids are the full op names (or scope paths), so each SVG node's `<title>`
is the name a user can look up in the graph; the `tooltip` adds op type,
device and key attributes.
"""

from __future__ import annotations

import collections
import math
from typing import Optional

import graphviz

from graphkit.viz import walk
from graphkit.viz.color_groups import LEGEND_CLUSTER, LEGEND_PREFIX, BoxColors, legend_title
from graphkit.viz.style import DEFAULT_STYLE, Style


def to_digraph(view: walk.GraphView, style: Style = DEFAULT_STYLE, name: str = "graph",
               colors: Optional[BoxColors] = None) -> graphviz.Digraph:
    """The Digraph of `view`: nested clusters for expanded scopes, one node per box, one edge per edge.

    Args:
      view: what to draw (from `walk.build_view`).
      style: how it looks.
      name: the DOT graph name.
      colors: fills per box and a legend (graphkit.viz.color_groups), or None.
    Returns:
      a graphviz.Digraph; `.source` is the DOT text.
    """
    graph_attr = dict(style.graph)
    if len(view.boxes) > style.large_view_boxes:
        graph_attr.update(style.large_graph)
    digraph = graphviz.Digraph(name=name, graph_attr=graph_attr, node_attr=dict(style.node),
                               edge_attr=dict(style.edge))
    boxes_in = collections.defaultdict(list)
    for box in view.boxes:
        boxes_in[box.cluster].append(box)
    clusters_in = collections.defaultdict(list)
    for cluster in view.clusters:
        clusters_in[cluster.parent].append(cluster)

    def fill(target: graphviz.Digraph, path: str, level: int) -> None:
        for box in boxes_in[path]:
            attrs = dict(style.boxes[box.kind])
            tooltip = box.tooltip
            if colors is not None and box.id in colors.fills:
                attrs["fillcolor"] = colors.fills[box.id]
                attrs["style"] = _filled(attrs.get("style", ""))
                if box.id in colors.shares:
                    attrs.update(style.mixed_group)
                tooltip = tuple(tooltip) + colors.tooltip_lines(box.id)
            target.node(box.id, label=box_label(box), tooltip=_tooltip(tooltip), **attrs)
        for cluster in clusters_in[path]:
            fills = style.cluster_fills
            attrs = {**style.cluster, "label": _tooltip(cluster.name.split("\n")),
                     "fillcolor": fills[min(level, len(fills) - 1)],
                     "tooltip": _tooltip((cluster.path, f"{cluster.op_count} ops")),
                     **style.cluster_kinds.get(cluster.kind, {})}
            sub = graphviz.Digraph(name="cluster_" + cluster.path, graph_attr=attrs)
            fill(sub, cluster.path, level + 1)
            target.subgraph(sub)

    fill(digraph, "", 0)
    if colors is not None and colors.legend:
        digraph.subgraph(_legend(colors, style))
    folded = {box.id for box in view.boxes if box.kind == walk.FOLDED}
    stubs = {box.id for box in view.boxes if box.kind == walk.STUB}
    for edge in view.edges:
        attrs = dict(style.control_edge if edge.control else style.data_edge)
        if edge.tail in folded or edge.head in folded:
            attrs.update(style.folded_edge)
        if edge.tail in stubs or edge.head in stubs:
            attrs.update(style.folded_edge)
            attrs.update(style.stub_edge)
        if edge.count > 1:
            attrs["penwidth"] = f"{min(1.0 + math.log2(edge.count), style.max_penwidth):.2f}"
        if edge.label:
            attrs["label"] = edge.label
        if edge.tail_cluster:
            attrs["ltail"] = "cluster_" + edge.tail_cluster
        if edge.head_cluster:
            attrs["lhead"] = "cluster_" + edge.head_cluster
        digraph.edge(edge.tail, edge.head, **attrs)
    return digraph


def _filled(box_style: str) -> str:
    parts = [part for part in box_style.split(",") if part]
    return ",".join(parts if "filled" in parts else parts + ["filled"])


def _legend(colors: BoxColors, style: Style) -> graphviz.Digraph:
    """A cluster with one box per colour group, chained by invisible edges so that it stays a column.

    Box ids are "[legend] 1", "[legend] 2" ... in legend order: group names such as devices hold
    ":", which DOT would read as a port in an edge statement.
    """
    title = legend_title(colors)
    legend = graphviz.Digraph(name=LEGEND_CLUSTER, graph_attr={**style.legend, "label": title})
    previous = None
    for number, entry in enumerate(colors.legend, 1):
        node_id = f"{LEGEND_PREFIX}{number}"
        ops = f"{entry.ops} op{'s' if entry.ops != 1 else ''}"
        legend.node(node_id, label=_escape(entry.group) + "\\n" + ops, fillcolor=entry.color,
                    tooltip=_tooltip((f"{title}: {entry.group}", f"{ops} drawn")), **style.legend_entry)
        if previous is not None:
            legend.edge(previous, node_id, style="invis")
        previous = node_id
    return legend


def box_label(box: walk.Box) -> str:
    """The text inside a box: name, then op type and op count, then shape, as the kind calls for."""
    if box.kind in (walk.INPUT_PORT, walk.OUTPUT_PORT):
        lines = [f"{box.kind} {box.name}"]
    else:
        lines = [box.name]
    facts = []
    if box.kind in (walk.OP, walk.PLACEHOLDER) and box.op_type and box.op_type != box.name:
        facts.append(box.op_type)
    if box.op_count > 1:
        facts.append(f"{box.op_count} ops")
    if facts:
        lines.append(" · ".join(facts))
    if box.detail:
        lines.append(box.detail)
    return "\\n".join(_escape(line) for line in lines)


def _escape(text: str) -> str:
    # Graphviz reads backslash sequences (\n, \N, \G) in labels and tooltips.
    return text.replace("\\", "\\\\")


def _tooltip(lines) -> str:
    return "\\n".join(_escape(line) for line in lines)
