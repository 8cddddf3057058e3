"""Draws GraphDefs as Graphviz DOT, SVG, PNG or PDF, readable at every size.

    from graphkit.viz import render
    render(model, "out/hello_mnist.svg")           # GraphModel, tf.Graph, GraphDef or path

Modules, one job each: `walk` decides boxes, clusters and edges (content only);
`series` finds numbered siblings (`block[0-35]`); `fold_rules` folds op chains
(`dense (relu)`, `dropout`); `functions` inlines function bodies (PartitionedCall,
If, While) for drawing; `noise` finds training machinery to fold; `tensor_facts`
reads shapes, dtypes and attrs from NodeDefs; `color_groups` fills boxes by a
grouping of ops; `style` holds the look; `dot` makes a graphviz.Digraph; `html`
writes the offline interactive page (`html_view.js`); `output` runs Graphviz and
writes files atomically; `renderer` ties them together.
Beside the drawings: `chrome_trace` and `gantt` write traced steps, `partitions`
draws a run's partition graphs (one cluster per device, `_Send`/`_Recv` between), and
`reports` formats every text report. Protos and records in; no Session runs here.
"""

from graphkit.viz.renderer import RenderResult, draw, render
from graphkit.viz.walk import GraphView, OpAccounting, ViewOptions, build_view

__all__ = ["render", "draw", "RenderResult", "build_view", "ViewOptions", "GraphView", "OpAccounting"]
