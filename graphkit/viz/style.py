"""How a drawing looks: Graphviz attributes per box kind, edge kind and cluster level.

The graph walk (`graphkit.viz.walk`) never sees these tables; `graphkit.viz.dot`
looks each box's kind up here. To restyle, build your own `Style` (for example
`dataclasses.replace(DEFAULT_STYLE, boxes={...})`) and pass it to `render`.

Layout settings were measured on the 10,000-op benchmark graph
(benchmarks/render_large.py) with Graphviz 2.43. `newrank` ranks nested
clusters without the old ranker's "trouble in init_rank" failures. Views of
more than `large_view_boxes` boxes add `LARGE_LAYOUT`: straight edges (spline
routing through ~1,000 ranks of nested clusters took most of the time, and
crashed 2.43 outright), capped network-simplex iterations (`nslimit`) and
crossing-minimisation passes (`mclimit`, `remincross=false`).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Mapping

from graphkit.viz import walk

FONT = "Helvetica"

LAYOUT = MappingProxyType({
    "rankdir": "TB",
    "compound": "true",   # lets an edge stop at a cluster's frame (lifted training-noise edges)
    "newrank": "true",
    "ranksep": "0.3",
    "nodesep": "0.2",
    "splines": "true",
})
LARGE_LAYOUT = MappingProxyType({
    "splines": "line",
    "nslimit": "0.5",
    "nslimit1": "2",
    "mclimit": "0.3",
    "remincross": "false",
    "searchsize": "10",
})
# ColorBrewer Set3: 12 pastels that stay readable under black text; more groups get generated hues.
GROUP_PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                 "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
# Frames that are not plain name scopes: function bodies, loops and conditionals (walk.CLUSTER_KINDS).
CLUSTER_KINDS = MappingProxyType({
    "function": MappingProxyType({"color": "#7b1fa2", "penwidth": "1.5", "fontcolor": "#4a148c"}),
    "loop": MappingProxyType({"color": "#e65100", "penwidth": "2", "style": "rounded,filled,bold",
                              "fontcolor": "#bf360c"}),
    "branch": MappingProxyType({"color": "#00838f", "penwidth": "1.5", "style": "rounded,filled,dashed",
                                "fontcolor": "#006064"}),
})
STUB_EDGE = MappingProxyType({"weight": "8", "arrowsize": "0.4"})
MIXED_GROUP = MappingProxyType({"peripheries": "2", "color": "#333333"})
LEGEND = MappingProxyType({"style": "rounded", "color": "#666666", "fontsize": "10", "labeljust": "l",
                           "fontname": FONT})
LEGEND_ENTRY = MappingProxyType({"shape": "box", "style": "filled", "color": "#666666", "fontsize": "9"})
# Graphviz 2.43 can crash routing splines through deep clusters; a crashed layout is retried with this.
STRAIGHT_EDGES = MappingProxyType({"splines": "line"})


@dataclasses.dataclass(frozen=True)
class Style:
    """Graphviz attributes for every element of a drawing.

    Attributes:
      graph: attributes of the whole graph (layout settings, font).
      large_graph: added to `graph` for views of more than `large_view_boxes` boxes.
      node: defaults for every box.
      edge: defaults for every edge.
      boxes: box kind (walk.BOX_KINDS) -> attributes added to the defaults.
      data_edge / control_edge: attributes of data and control-dependency edges.
      folded_edge: added to an edge that touches a folded training-noise box or a stub (drawn
        faint, so that the model's own dataflow stands out).
      stub_edge: added to an edge from or to a stub (heavy, so that the stub sits beside its box).
      cluster_kinds: added to a cluster of that kind ("function", "loop", "branch"; walk.CLUSTER_KINDS).
      cluster: attributes of every cluster; fill colour taken from `cluster_fills` by nesting level.
      cluster_fills: fill colours for clusters of level 1, 2, ... (the last one repeats).
      max_penwidth: line width of an edge that merges many graph edges (grows with log2(count)).
      group_palette: fill colours of colour groups (`render(..., color_groups=...)`), in legend order.
      mixed_group: added to a box whose ops fall into several colour groups.
      legend: attributes of the legend cluster; legend_entry: of each legend box.
    """

    graph: Mapping[str, str]
    node: Mapping[str, str]
    edge: Mapping[str, str]
    boxes: Mapping[str, Mapping[str, str]]
    data_edge: Mapping[str, str]
    control_edge: Mapping[str, str]
    folded_edge: Mapping[str, str]
    cluster: Mapping[str, str]
    cluster_fills: tuple
    large_graph: Mapping[str, str] = dataclasses.field(default_factory=lambda: LARGE_LAYOUT)
    large_view_boxes: int = 300
    max_penwidth: float = 4.0
    stub_edge: Mapping[str, str] = dataclasses.field(default_factory=lambda: STUB_EDGE)
    cluster_kinds: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=lambda: CLUSTER_KINDS)
    group_palette: tuple = GROUP_PALETTE
    mixed_group: Mapping[str, str] = dataclasses.field(default_factory=lambda: MIXED_GROUP)
    legend: Mapping[str, str] = dataclasses.field(default_factory=lambda: LEGEND)
    legend_entry: Mapping[str, str] = dataclasses.field(default_factory=lambda: LEGEND_ENTRY)


DEFAULT_STYLE = Style(
    graph={**LAYOUT, "fontname": FONT, "fontsize": "10", "bgcolor": "white", "outputorder": "edgesfirst"},
    node={"fontname": FONT, "fontsize": "9", "height": "0.3", "margin": "0.06,0.03", "penwidth": "1"},
    edge={"fontname": FONT, "fontsize": "7", "fontcolor": "#4a4a4a", "arrowsize": "0.6"},
    boxes={
        walk.OP: {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8f0fe", "color": "#5b7db1"},
        walk.VARIABLE: {"shape": "cylinder", "style": "filled", "fillcolor": "#fde2b8", "color": "#c77800"},
        walk.CONSTANT: {"shape": "box", "style": "filled", "fillcolor": "#eeeeee", "color": "#aaaaaa",
                        "fontsize": "6", "height": "0.15", "width": "0.2", "margin": "0.02,0.01"},
        walk.PLACEHOLDER: {"shape": "invhouse", "style": "filled", "fillcolor": "#d4edda",
                           "color": "#2e7d32"},
        walk.SCOPE: {"shape": "box3d", "style": "filled", "fillcolor": "#cfe0f5", "color": "#3b5f8f"},
        walk.FOLDED: {"shape": "folder", "style": "filled,dashed", "fillcolor": "#f2f2f2", "color": "#888888",
                      "fontcolor": "#555555"},
        walk.INPUT_PORT: {"shape": "cds", "style": "filled", "fillcolor": "#a5d6a7", "color": "#1b5e20"},
        walk.OUTPUT_PORT: {"shape": "cds", "style": "filled", "fillcolor": "#ffcc80", "color": "#e65100"},
        walk.STUB: {"shape": "box", "style": "rounded,dashed", "color": "#b0b0b0", "fontcolor": "#777777",
                    "fontsize": "7", "height": "0.15", "width": "0.2", "margin": "0.03,0.01"},
    },
    data_edge={"color": "#555555"},
    control_edge={"style": "dashed", "color": "#9e9e9e", "arrowhead": "odot"},
    folded_edge={"color": "#c0c0c0", "fontcolor": "#9e9e9e"},
    cluster={"style": "rounded,filled", "color": "#9fb3c8", "fontsize": "10", "labeljust": "l",
             "fontname": FONT},
    cluster_fills=("#f7f9fc", "#eef3f9", "#e4ecf5", "#dae5f1"),
)
