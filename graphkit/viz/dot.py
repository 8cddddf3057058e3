"""Turns a `GraphView` into a `graphviz.Digraph`: labels from the view, looks from a `Style`.

Node ids are the full op names (or scope paths), so each SVG node's `<title>`
is the name a user can look up in the graph; the `tooltip` adds op type,
device and key attributes.
"""

from __future__ import annotations

import collections
import math

import graphviz

from graphkit.viz import walk
from graphkit.viz.style import DEFAULT_STYLE, Style


def to_digraph(view: walk.GraphView, style: Style = DEFAULT_STYLE, name: str = "graph") -> graphviz.Digraph:
    """The Digraph of `view`: nested clusters for expanded scopes, one node per box, one edge per edge.

    Args:
      view: what to draw (from `walk.build_view`).
      style: how it looks.
      name: the DOT graph name.
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
            target.node(box.id, label=box_label(box), tooltip=_tooltip(box.tooltip), **style.boxes[box.kind])
        for cluster in clusters_in[path]:
            fills = style.cluster_fills
            attrs = {**style.cluster, "label": cluster.name, "fillcolor": fills[min(level, len(fills) - 1)],
                     "tooltip": _tooltip((cluster.path, f"{cluster.op_count} ops"))}
            sub = graphviz.Digraph(name="cluster_" + cluster.path, graph_attr=attrs)
            fill(sub, cluster.path, level + 1)
            target.subgraph(sub)

    fill(digraph, "", 0)
    folded = {box.id for box in view.boxes if box.kind == walk.FOLDED}
    for edge in view.edges:
        attrs = dict(style.control_edge if edge.control else style.data_edge)
        if edge.tail in folded or edge.head in folded:
            attrs.update(style.folded_edge)
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
