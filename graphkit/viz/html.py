"""`--format html`: one self-contained HTML file to explore a graph too large for one static view.

The file embeds every drawn op (name as the walk sees it, with series and
function scopes; op type; kind), the edges between them, and the automatic
view's expanded scopes; `html_view.js`, inlined, lays out and draws the view in
the browser and opens or closes a scope, series or function body on click. No
network, no external script or style: it opens from disk, offline.

    html = html_document(loaded, ViewOptions())
    graphkit.files.atomic_write_text("graph.html", html)
"""

from __future__ import annotations

import html as html_escape
import json
import os
from typing import Optional

from graphkit.graphs.load import LoadedGraph
from graphkit.graphs.names import op_name
from graphkit.viz import walk
from graphkit.viz.functions import inline_bodies
from graphkit.viz.series import SeriesNames, find_series
from graphkit.viz.style import DEFAULT_STYLE, Style

SCRIPT = os.path.join(os.path.dirname(__file__), "html_view.js")
TRAINING_SCOPE = "[training machinery]"


def html_document(loaded: LoadedGraph, options: Optional[walk.ViewOptions] = None,
                  style: Style = DEFAULT_STYLE, title: str = "graph",
                  view: Optional[walk.GraphView] = None) -> str:
    """The interactive view of `loaded` as one HTML document.

    Args:
      loaded: the graph (from graphkit.graphs.load.load_graph).
      options: what to draw; `depth`/`expand`/`max_boxes` choose the view it opens with.
      style: box colours (the kinds' fill and line colours are reused).
      title: the page title.
      view: the view of `options`, when the caller has it already.
    Returns:
      the HTML text.
    """
    graph_def = inline_bodies(loaded.graph_def)  # as the walk sees it: function bodies under their calls
    options = options or walk.ViewOptions()
    if view is None:
        view = walk.build_view(graph_def, options, loaded.signature_inputs, loaded.signature_outputs)
    names = find_series(graph_def) if options.series else SeriesNames({}, {})
    index, ops, folded_index = {}, [], {}
    for node in graph_def.node:
        box = view.box_of.get(node.name)
        if box is None:
            continue
        if box.startswith(walk.FOLDED_PREFIX):
            group = box[len(walk.FOLDED_PREFIX):]
            if group not in folded_index:
                folded_index[group] = len(ops)
                ops.append([f"{TRAINING_SCOPE}/{group}", "folded training machinery", "folded", 0, group])
            ops[folded_index[group]][3] += 1
            continue
        index[node.name] = len(ops)
        tip = f"{node.name}\nop: {node.op}\ndevice: {node.device or '(unplaced)'}"
        ops.append([names.display(node.name), node.op, walk.box_kind(node.op), 1, tip])
    edges = []
    for node in graph_def.node:
        head = index.get(node.name)
        if head is None:
            continue
        for tensor in node.input:
            tail = index.get(op_name(tensor))
            if tail is not None and tail != head:
                edges.append([tail, head])
    data = {"ops": ops, "edges": edges, "expanded": list(view.expanded),
            "series": {path: one.label for path, one in names.series.items()}}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    with open(SCRIPT, encoding="utf-8") as handle:
        script = handle.read()
    return _PAGE.format(title=html_escape.escape(title), css=_css(style), data=payload, script=script)


def _css(style: Style) -> str:
    rules = []
    for kind in (walk.OP, walk.VARIABLE, walk.CONSTANT, walk.PLACEHOLDER, walk.SCOPE, walk.FOLDED):
        look = style.boxes[kind]
        rules.append(f"g.{kind} > rect {{ fill: {look.get('fillcolor', '#ffffff')}; "
                     f"stroke: {look.get('color', '#555555')}; }}")
    fills = style.cluster_fills
    frame = style.cluster["color"]
    rules.append(f"g.frame > rect {{ fill: {fills[0]}; fill-opacity: 0.6; stroke: {frame}; }}")
    return "\n".join(rules)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; font-family: Helvetica, Arial, sans-serif; }}
#bar {{ position: fixed; top: 0; left: 0; right: 0; padding: 4px 8px; font-size: 12px; color: #444;
        background: rgba(255,255,255,0.9); border-bottom: 1px solid #ddd; }}
#canvas {{ width: 100%; height: 100%; display: block; cursor: grab; }}
text {{ font-size: 11px; fill: #222; pointer-events: none; }}
text.title {{ font-weight: bold; fill: #3b5f8f; pointer-events: all; cursor: pointer; }}
g.scope, g.folded {{ cursor: pointer; }}
g.node > rect {{ stroke-width: 1; }}
g.scope > rect {{ stroke-width: 1.5; }}
g.folded > rect {{ stroke-dasharray: 4 2; }}
.edges path {{ fill: none; stroke: #777; stroke-width: 1; }}
{css}
</style>
</head>
<body>
<div id="bar">{title}: click a scope to open it, an open scope's title to close it;
drag to pan, wheel to zoom.</div>
<svg id="canvas" xmlns="http://www.w3.org/2000/svg"><g id="viewport"></g></svg>
<script type="application/json" id="graph-data">{data}</script>
<script>
{script}
</script>
</body>
</html>
"""
