"""`render(source, path)`: read a graph, decide the view, write DOT/SVG/PNG/PDF.

    from graphkit.viz import render
    result = render(model, "out/hello_mnist.svg")               # default readable view
    result = render("out/saved_model", "sm.svg", signature="serving_default")
    result = render(graph, "g.dot", depth=2, hide=["save"], prune_to="probabilities")
    result.accounting.balanced   # every op drawn, collapsed, folded, hidden or pruned
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Mapping, Optional, Sequence, Union

import graphviz

from graphkit.graphs.load import LoadedGraph, Source, load_graph
from graphkit.viz import output
from graphkit.viz.color_groups import BoxColors, color_boxes
from graphkit.viz.dot import to_digraph
from graphkit.viz.html import html_document
from graphkit.viz.style import DEFAULT_STYLE, STRAIGHT_EDGES, Style
from graphkit.viz.walk import DEFAULT_MAX_BOXES, GraphView, OpAccounting, ViewOptions, build_view


@dataclasses.dataclass(frozen=True)
class RenderResult:
    """What `render` wrote and what the drawing holds.

    Attributes:
      path: the file written.
      format: one of output.FORMATS.
      kind: the kind of source (graphio.KINDS).
      ops: ops in the GraphDef (accounting.total adds the ops of inlined function bodies).
      visible_nodes: boxes in the drawing (ops, collapsed scopes, folded groups, ports).
      edges: arrows in the drawing.
      clusters: expanded scopes drawn as frames.
      depth: deepest expanded scope level.
      expanded: the expanded scope paths.
      accounting: where every op went (visible, collapsed, folded, hidden, pruned).
      load_s: seconds to read the source into a GraphDef.
      dot_s: seconds from GraphDef to DOT text (walk and DOT formatting).
      layout_s: seconds Graphviz took (0 for DOT output).
    """

    path: str
    format: str
    kind: str
    ops: int
    visible_nodes: int
    edges: int
    clusters: int
    depth: int
    expanded: tuple
    accounting: OpAccounting
    load_s: float
    dot_s: float
    layout_s: float

    @property
    def drawing_s(self) -> float:
        """Seconds from GraphDef to finished drawing (DOT text plus layout)."""
        return self.dot_s + self.layout_s

    def summary(self) -> str:
        """One line for a terminal."""
        a = self.accounting
        parts = [f"{a.visible} ops drawn", f"{a.collapsed} in collapsed scopes", f"{a.folded} folded"]
        parts += [f"{count} {what}" for count, what in ((a.hidden, "hidden"), (a.pruned, "pruned")) if count]
        ops = f"{self.ops} ops" + (f" ({a.total} with function bodies)" if a.total != self.ops else "")
        return (f"wrote {self.path} ({self.format}): {ops} as {self.visible_nodes} boxes "
                f"and {self.edges} edges; {', '.join(parts)}")


def draw(loaded: LoadedGraph, options: Optional[ViewOptions] = None, style: Style = DEFAULT_STYLE,
         color_groups: Optional[Mapping[str, str]] = None,
         color_title: str = "") -> tuple[GraphView, graphviz.Digraph]:
    """The view and the Digraph of a loaded graph (no file written, no `dot` run).

    Args:
      color_groups, color_title: as for `render`.
    """
    options = options or ViewOptions()
    view = build_view(loaded.graph_def, options, loaded.signature_inputs, loaded.signature_outputs)
    return view, to_digraph(view, style, colors=_colors(loaded, view, style, color_groups, color_title))


def _colors(loaded: LoadedGraph, view: GraphView, style: Style, color_groups, color_title: str
            ) -> Optional[BoxColors]:
    if color_groups is None:
        return None
    ops = {node.name for node in loaded.graph_def.node}
    return color_boxes(view.box_of, color_groups, ops, style.group_palette, color_title)


def render(
    source: Union[Source, LoadedGraph],
    output_path: str,
    format: Optional[str] = None,
    *,
    depth: Optional[int] = None,
    expand: Sequence[str] = (),
    hide: Sequence[str] = (),
    prune_to: Optional[str] = None,
    show_training_noise: bool = False,
    max_boxes: int = DEFAULT_MAX_BOXES,
    series: bool = True,
    fold_rules: Optional[Sequence] = None,
    tags: Union[str, Sequence[str], None] = None,
    signature: Optional[str] = None,
    style: Style = DEFAULT_STYLE,
    color_groups: Optional[Mapping[str, str]] = None,
    color_title: str = "",
) -> RenderResult:
    """Draws a graph to a file.

    Args:
      source: GraphModel, tf.Graph, GraphDef, MetaGraphDef, LoadedGraph, or a path
        (SavedModel directory, .pb, .pbtxt, .meta).
      output_path: file to write (parent directories are created).
      format: svg, dot, png, pdf or html; None takes it from the path's suffix (svg if unknown).
        html is one self-contained offline page whose scopes, series and function bodies open
        and close on click (graphkit.viz.html); it needs no Graphviz.
      depth: scope levels to expand; None picks a view of at most `max_boxes` boxes.
      expand: scopes to draw expanded. hide: scopes or ops to leave out.
      prune_to: op, tensor or signature output; keep only what it depends on.
      show_training_noise: draw gradients, optimizer slots, initializers and
        save/restore ops instead of folding each group into one box.
      series: draw numbered siblings of one structure (`block0` ... `block35`) as one series box.
      fold_rules: op chains drawn as one labelled block: FoldRules or "LABEL=OpType>OpType" text;
        None: graphkit.viz.fold_rules.DEFAULT_FOLD_RULES (dense layers, dropout); (): none.
      tags, signature: SavedModel tag set and signature (default serve / serving_default).
      style: the look (graphkit.viz.style.DEFAULT_STYLE).
      color_groups: op name -> group label (a device, an XLA cluster ...): each box is filled
        with its group's colour (a box of several ops: its majority group's, drawn with a
        double border when mixed) and a legend lists the groups. Ops not named keep their look.
      color_title: the legend's heading ("device", "XLA cluster").
    Returns:
      a RenderResult.
    Raises:
      RenderError: bad format or option, unreadable source, unknown scope or op,
        color_groups that is not op -> group strings or names no op of the graph,
        Graphviz `dot` missing (for svg/png/pdf) or failing.
      SavedModelError: unknown tag set or signature.
    """
    fmt = output.output_format(output_path, format)
    options = ViewOptions(depth=depth, expand=expand, hide=hide, prune_to=prune_to,
                          show_training_noise=show_training_noise, max_boxes=max_boxes, series=series,
                          fold_rules=None if fold_rules is None else tuple(fold_rules))
    dot_binary = None if fmt in ("dot", "html") else output.find_dot()  # fail before the slow part
    start = time.perf_counter()
    loaded = source if isinstance(source, LoadedGraph) else load_graph(source, tags=tags, signature=signature)
    loaded_at = time.perf_counter()
    if fmt == "html":
        view = build_view(loaded.graph_def, options, loaded.signature_inputs, loaded.signature_outputs)
        data = html_document(loaded, options, style, os.path.basename(output_path), view).encode("utf-8")
        done_at = time.perf_counter()
        output.write_atomic(output_path, data)
        return _result(output_path, fmt, loaded, view, loaded_at - start, done_at - loaded_at, 0.0)
    view = build_view(loaded.graph_def, options, loaded.signature_inputs, loaded.signature_outputs)
    colors = _colors(loaded, view, style, color_groups, color_title)
    digraph = to_digraph(view, style, colors=colors)
    dot_source = digraph.source
    dot_at = time.perf_counter()
    if fmt == "dot":
        data = dot_source.encode("utf-8")
    else:
        straight = dataclasses.replace(style, graph={**style.graph, **STRAIGHT_EDGES})
        data = output.run_dot(dot_source, fmt, dot_binary,
                              fallback=lambda: to_digraph(view, straight, colors=colors).source)
    laid_out_at = time.perf_counter()
    output.write_atomic(output_path, data)
    return _result(output_path, fmt, loaded, view, loaded_at - start, dot_at - loaded_at,
                   laid_out_at - dot_at if fmt != "dot" else 0.0)


def _result(path: str, fmt: str, loaded: LoadedGraph, view: GraphView, load_s: float, dot_s: float,
            layout_s: float) -> RenderResult:
    return RenderResult(
        path=path, format=fmt, kind=loaded.kind, ops=len(loaded.graph_def.node),
        visible_nodes=view.visible_nodes, edges=len(view.edges), clusters=len(view.clusters),
        depth=view.depth, expanded=view.expanded, accounting=view.accounting,
        load_s=load_s, dot_s=dot_s, layout_s=layout_s)
