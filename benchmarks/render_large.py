"""Draws a ~10,000-op training graph: graphkit's default and detailed views against tfgraphviz.

The graph is built by hand with graphkit.nn.layers: model/stage_S/block_B/{expand,
dropout, project, norm} residual blocks (nested scopes), a softmax head, Adam,
a global step and a Saver; 4 stages of 7 blocks make 10,297 ops.

For each view it measures, as the median of --repeat runs:
  * dot_s: GraphDef -> DOT text (graph walk, folding, styling);
  * svg_s: GraphDef -> SVG bytes (dot_s plus Graphviz `dot -Tsvg`).
Views: "default" (automatic, at most 60 boxes plus stubs) and "detailed"
(--detailed-depth, about 1,900 boxes). The detailed view must keep 1,000 boxes or
more (`detailed_boxes`), or its timing would prove nothing. The peer, tfgraphviz
0.0.8 (`board(graph, depth)`), draws the same tf.Graph at its default depth 1 and
at depth 3; its `dot` run is cut off at --peer-timeout seconds.
Every op must be accounted for in graphkit's drawings.

    python benchmarks/render_large.py [--stages 4] [--blocks 7] [--repeat 3] [--no-peer] [--json]
    python benchmarks/render_large.py --quick --json    # one run per view, no peer (make bench)

Timings are wall-clock seconds on whatever machine runs this; on a shared
machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.parse

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from graphkit.graphs.load import load_graph  # noqa: E402
from graphkit.nn import layers, losses  # noqa: E402
from graphkit.viz import ViewOptions  # noqa: E402
from graphkit.viz.html import TRAINING_SCOPE, html_document  # noqa: E402
from graphkit.viz.output import find_dot, run_dot  # noqa: E402
from graphkit.viz.renderer import draw  # noqa: E402

v1 = tf.compat.v1
TARGETS = {"default": {"dot_s": 0.5, "svg_s": 1.0}, "detailed": {"svg_s": 10.0}}
MIN_DETAILED_BOXES = 1000
HTML_TARGETS = {"html_open_ms": 2000.0, "html_expand_ms": 500.0}
_BODY_DATA = re.compile(r'data-([a-z-]+)="([^"]*)"')


def build_training_graph(stages: int, blocks: int, width: int = 32) -> tf.Graph:
    """Residual MLP blocks in nested scopes, trained with Adam, with a Saver."""
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        x = v1.placeholder(tf.float32, [None, width], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        training = v1.placeholder_with_default(False, [], name="training")
        with v1.variable_scope("model"):
            hidden = layers.dense(x, width, tf.nn.relu, scope="embed")
            for stage in range(stages):
                with v1.variable_scope(f"stage_{stage}"):
                    for block in range(blocks):
                        with v1.variable_scope(f"block_{block}"):
                            update = layers.dense(hidden, width, tf.nn.relu, scope="expand")
                            update = layers.dropout(update, 0.1, training, scope="dropout")
                            update = layers.dense(update, width, scope="project")
                            hidden = layers.layer_norm(tf.add(hidden, update, name="residual"), scope="norm")
            logits = layers.dense(hidden, 10, scope="logits")
        tf.nn.softmax(logits, name="probabilities")
        loss = losses.sparse_softmax_cross_entropy(labels, logits)
        global_step = v1.train.get_or_create_global_step()
        v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=global_step, name="train_op")
        v1.train.Saver()
    return graph


def build_plain_tf_graph(blocks: int = 36, layers_per_block: int = 4, width: int = 32) -> tf.Graph:
    """The same kind of model in plain TensorFlow, as a new user writes it: block0 ... block35, each
    with layer0 ... layer3 (get_variable, matmul, bias_add, relu) and tf.nn.dropout, Adam; ~10,300 ops."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, width], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        keep = v1.placeholder_with_default(1.0, [], name="keep_prob")
        hidden = x
        for block in range(blocks):
            with v1.variable_scope(f"block{block}"):
                for layer in range(layers_per_block):
                    with v1.variable_scope(f"layer{layer}"):
                        weights = v1.get_variable("w", [width, width])
                        bias = v1.get_variable("b", [width], initializer=v1.zeros_initializer())
                        hidden = tf.nn.relu(tf.nn.bias_add(tf.matmul(hidden, weights), bias))
                hidden = tf.nn.dropout(hidden, rate=1.0 - keep)
        with v1.variable_scope("logits"):
            logits = tf.matmul(hidden, v1.get_variable("w", [width, 10]))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=v1.train.get_or_create_global_step())
    return graph


def write_figures(directory: str) -> None:
    """The README's drawings: the default view of the plain-TensorFlow graph and of a Keras SavedModel."""
    import keras

    from graphkit.viz import render

    result = render(build_plain_tf_graph(), os.path.join(directory, "render_plain_tf_10k.svg"))
    print(result.summary())
    inputs = keras.Input((784,), name="pixels")
    hidden = keras.layers.Dense(128, activation="relu", name="hidden")(inputs)
    hidden = keras.layers.Dropout(0.2, name="dropout")(hidden)
    hidden = keras.layers.Dense(64, activation="relu", name="hidden_2")(hidden)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(hidden)
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(keras.Model(inputs, outputs, name="mnist_mlp"), saved)
        result = render(saved, os.path.join(directory, "render_keras_saved_model.svg"))
    print(result.summary())


def measure_graphkit(loaded, options: ViewOptions, repeat: int) -> dict:
    """Median DOT and SVG times of one view, with its box count and op accounting."""
    dot_times, svg_times = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        view, digraph = draw(loaded, options)
        source = digraph.source
        dot_done = time.perf_counter()
        svg = run_dot(source, "svg")
        svg_done = time.perf_counter()
        dot_times.append(dot_done - start)
        svg_times.append(svg_done - start)
    accounting = view.accounting
    if not accounting.balanced or accounting.total != len(loaded.graph_def.node):
        raise SystemExit(f"accounting does not add up: {accounting}")
    return {"ops": accounting.total, "visible_nodes": view.visible_nodes, "edges": len(view.edges),
            "depth": view.depth, "dot_s": round(statistics.median(dot_times), 3),
            "svg_s": round(statistics.median(svg_times), 3), "svg_bytes": len(svg),
            "accounting": {"visible": accounting.visible, "collapsed": accounting.collapsed,
                           "folded": accounting.folded}}


def measure_html(loaded, directory: str) -> dict:
    """The --format html page of the default view in headless Chromium: ms to its first drawing
    (from navigation start: HTML and JSON parsing, layout, SVG), and ms for one click that opens
    the default view's largest collapsed scope. Empty when Debian's `chromium` is not installed."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return {}
    view, _ = draw(loaded, ViewOptions())
    page = os.path.join(directory, "graph.html")
    with open(page, "w", encoding="utf-8") as handle:
        handle.write(html_document(loaded, ViewOptions(), view=view))
    scopes = [box for box in view.boxes if box.kind == "scope" and "[" not in box.name]
    if scopes:
        largest = max(scopes, key=lambda box: box.op_count)
        target = f"{largest.cluster}/{largest.name}" if largest.cluster else largest.name
    else:  # a small graph drawn whole: open the training machinery's frame instead
        target = TRAINING_SCOPE

    def body(fragment: str) -> dict:
        url = "file://" + os.path.abspath(page) + fragment
        profile = os.path.join(directory, "profile")
        done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                               "--virtual-time-budget=20000", "--dump-dom", url],
                              capture_output=True, text=True, timeout=300, check=True)
        return dict(_BODY_DATA.findall(re.search(r"<body([^>]*)>", done.stdout).group(1)))

    opened = body("")
    clicked = body("#" + urllib.parse.urlencode({"expand": target}))
    return {"html_bytes": os.path.getsize(page), "html_open_ms": float(opened["open-ms"]),
            "html_boxes": int(opened["nodes"]), "html_expand_ms": float(clicked["expand-ms"]),
            "html_expanded": target, "html_boxes_after": int(clicked["nodes"])}


def import_tfgraphviz():
    """tfgraphviz, or None; its package __init__ imports IPython for Jupyter helpers we do not use."""
    if "IPython" not in sys.modules:
        try:
            import IPython  # noqa: F401
        except ImportError:
            display = types.ModuleType("IPython.display")
            display.HTML = None
            sys.modules["IPython"] = types.ModuleType("IPython")
            sys.modules["IPython.display"] = display
    try:
        import tfgraphviz
    except ImportError:
        return None
    return tfgraphviz


def measure_tfgraphviz(tfgraphviz, graph: tf.Graph, depth: int, timeout_s: float) -> dict:
    """tfgraphviz.board at `depth`: DOT time, node count, and `dot -Tsvg` time (None past the timeout)."""
    start = time.perf_counter()
    source = tfgraphviz.board(graph, depth=depth).source
    dot_s = time.perf_counter() - start
    nodes = sum(1 for line in source.splitlines() if "[label=" in line and " -> " not in line)
    layout_start = time.perf_counter()
    try:
        done = subprocess.run([find_dot(), "-Tsvg"], input=source.encode(), capture_output=True,
                              timeout=timeout_s, check=False)
        svg_s = dot_s + time.perf_counter() - layout_start if done.returncode == 0 else None
    except subprocess.TimeoutExpired:
        svg_s = None
    return {"depth": depth, "visible_nodes": nodes, "dot_s": round(dot_s, 3),
            "svg_s": None if svg_s is None else round(svg_s, 3), "timeout_s": timeout_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--detailed-depth", type=int, default=5, help="scope depth of the detailed view")
    parser.add_argument("--repeat", type=int, default=3, help="runs per view; the median is reported")
    parser.add_argument("--no-peer", action="store_true", help="skip tfgraphviz")
    parser.add_argument("--peer-timeout", type=float, default=120.0,
                        help="seconds allowed to tfgraphviz's dot")
    parser.add_argument("--quick", action="store_true", help="one run per view and no peer (make bench)")
    parser.add_argument("--figures", metavar="DIR", help="only write the README's drawings to DIR (docs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.no_peer = 1, True
    if args.figures:
        write_figures(args.figures)
        return 0

    start = time.perf_counter()
    graph = build_training_graph(args.stages, args.blocks)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    loaded = load_graph(graph)
    load_s = time.perf_counter() - start

    views = {
        "default": measure_graphkit(loaded, ViewOptions(), args.repeat),
        # Every op of depth 5, fold rules off: the view must stay over MIN_DETAILED_BOXES boxes.
        "detailed": measure_graphkit(loaded, ViewOptions(depth=args.detailed_depth, fold_rules=()),
                                     args.repeat),
    }
    with tempfile.TemporaryDirectory() as directory:
        html = measure_html(loaded, directory)
    peer = {}
    tfgraphviz = None if args.no_peer else import_tfgraphviz()
    if tfgraphviz is not None:
        peer = {"default": measure_tfgraphviz(tfgraphviz, graph, 1, args.peer_timeout),
                "detailed": measure_tfgraphviz(tfgraphviz, graph, 3, args.peer_timeout)}

    ops = views["default"]["ops"]
    print(f"graph: {ops} ops (built in {build_s:.1f} s; GraphDef with shapes in {load_s:.2f} s)")
    print(f"{'view':<28}{'boxes':>7}{'edges':>7}{'dot_s':>9}{'svg_s':>9}   target")
    for name, figures in views.items():
        target = " ".join(f"{key}<{value:g}" for key, value in TARGETS[name].items())
        met = all(figures[key] < value for key, value in TARGETS[name].items())
        title = f"graphkit {name} (depth {figures['depth']})"
        print(f"{title:<28}{figures['visible_nodes']:>7}{figures['edges']:>7}"
              f"{figures['dot_s']:>9.3f}{figures['svg_s']:>9.3f}   {target} "
              f"{'met' if met else 'MISSED'}")
    if html:
        met = all(html[key] < value for key, value in HTML_TARGETS.items())
        print(f"html in headless chromium ({html['html_bytes'] / 1e6:.1f} MB): first drawing "
              f"{html['html_open_ms']:.0f} ms ({html['html_boxes']} boxes), opening {html['html_expanded']} "
              f"{html['html_expand_ms']:.0f} ms ({html['html_boxes_after']} boxes)   "
              f"{' '.join(f'{k}<{v:g}' for k, v in HTML_TARGETS.items())} {'met' if met else 'MISSED'}")
    else:
        print("html: Debian's chromium not installed, not measured")
    ratios = {}
    for name, figures in peer.items():
        svg = "timeout" if figures["svg_s"] is None else f"{figures['svg_s']:.3f}"
        print(f"{'tfgraphviz depth ' + str(figures['depth']):<28}{figures['visible_nodes']:>7}{'':>7}"
              f"{figures['dot_s']:>9.3f}{svg:>9}")
        svg_ratio = None if figures["svg_s"] is None else round(figures["svg_s"] / views[name]["svg_s"], 1)
        ratios[name] = {"dot_s": round(figures["dot_s"] / views[name]["dot_s"], 1), "svg_s": svg_ratio}
    for name, ratio in ratios.items():
        svg = f">{args.peer_timeout / views[name]['svg_s']:.0f}" if ratio["svg_s"] is None else ratio["svg_s"]
        print(f"tfgraphviz / graphkit, {name} view: DOT x{ratio['dot_s']}, SVG x{svg}")
    for name, figures in views.items():
        a = figures["accounting"]
        print(f"{name}: {ops} ops = {a['visible']} drawn + {a['collapsed']} in collapsed scopes "
              f"+ {a['folded']} folded training machinery")
    if args.json:
        result = {"ops": ops, "visible_nodes": views["default"]["visible_nodes"],
                  "dot_s": views["default"]["dot_s"], "svg_s": views["default"]["svg_s"],
                  "detailed_svg_s": views["detailed"]["svg_s"],
                  "detailed_boxes": views["detailed"]["visible_nodes"],
                  "default": views["default"], "detailed": views["detailed"], "load_s": round(load_s, 3),
                  **html}
        if peer:
            result["tfgraphviz"] = peer
            result["ratios"] = ratios
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
