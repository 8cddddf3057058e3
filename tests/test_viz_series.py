"""Series of numbered siblings, and stubs instead of edges across the canvas (parsed SVG)."""

import re

import pytest
import tensorflow as tf
from conftest import SVG, Drawing

from graphkit.nn import layers, losses
from graphkit.viz import ViewOptions, build_view, render
from graphkit.viz.series import find_series

v1 = tf.compat.v1
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _stack(blocks: int = 6) -> tf.Graph:
    """x -> block0 ... block{n-1} (dense relu + dropout on a training flag) -> logits; Adam; a Saver."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        training = v1.placeholder_with_default(False, [], name="training")
        hidden = x
        for block in range(blocks):
            with v1.variable_scope(f"block{block}"):
                hidden = layers.dense(hidden, 4, tf.nn.relu, scope="dense")
                hidden = layers.dropout(hidden, 0.1, training, scope="dropout")
        logits = layers.dense(hidden, 3, scope="logits")
        loss = losses.sparse_softmax_cross_entropy(labels, logits)
        v1.train.AdamOptimizer(0.01).minimize(loss, name="train_op")
        v1.train.Saver()
    return graph


@pytest.fixture(scope="module")
def stack():
    return _stack()


def test_numbered_siblings_form_one_chained_series(stack):
    series = find_series(stack.as_graph_def())
    one = series.series["block[0-5]"]
    assert one.members == tuple(f"block{i}" for i in range(6)) and one.chained and one.scopes
    assert one.label == "6 × block, chained"
    assert series.display("block3/dense/matmul") == "block[0-5]/block3/dense/matmul"
    assert series.real("block[0-5]/block3/dense") == "block3/dense"

    collapsed = build_view(stack.as_graph_def(), ViewOptions(max_boxes=12))
    [box] = [box for box in collapsed.boxes if box.id == "block[0-5]"]
    assert box.detail == "6 × block, chained" and box.name == "block[0-5]"
    assert collapsed.box_of["block4/dense/matmul"] == "block[0-5]"
    assert collapsed.accounting.balanced


def test_the_automatic_view_opens_a_series_members_together(stack):
    for budget in range(10, 80, 6):
        view = build_view(stack.as_graph_def(), ViewOptions(max_boxes=budget))
        opened = {path for path in view.expanded if re.fullmatch(r"block\[0-5\]/block\d", path)}
        assert len(opened) in (0, 6), (budget, sorted(opened))
        inner = {path.rsplit("/", 1)[-1] for path in view.expanded if path.count("/") == 2}
        for name in inner:  # a scope inside one member opens in every member
            assert sum(path.endswith("/" + name) for path in view.expanded if path.count("/") == 2) == 6
    assert len(opened) == 6
    # A depth counts real scope levels: the series level comes with its members.
    view = build_view(stack.as_graph_def(), ViewOptions(depth=1))
    assert "block[0-5]" in view.expanded and "block[0-5]/block2" in view.expanded


def _path_extent(edge) -> tuple:
    numbers = [float(n) for path in edge.iter(SVG + "path") for n in NUMBER.findall(path.get("d"))]
    xs, ys = numbers[0::2], numbers[1::2]
    return max(xs) - min(xs), max(ys) - min(ys)


def test_edges_to_training_machinery_are_short_stubs(stack, tmp_path):
    render(stack, str(tmp_path / "g.svg"), max_boxes=40)
    drawing = Drawing(tmp_path / "g.svg")
    svg = re.search(r'viewBox="([\d. -]+)"', (tmp_path / "g.svg").read_text()).group(1)
    width, height = [float(n) for n in svg.split()[2:]]
    assert width > 0 and height > 0

    folded = {title for title in drawing.nodes if title.startswith("[folded] ")}
    stubs = {title for title in drawing.nodes if title.startswith("[stub] ")}
    assert {"[folded] gradients", "[folded] optimizer"} <= folded and stubs
    touching = [(title, group) for title, groups in drawing.edges.items() for group in groups
                if any(end in folded | stubs for end in title.split("->"))]
    assert touching
    for title, edge in touching:
        dx, dy = _path_extent(edge)
        # No edge to or from the training machinery crosses the canvas: each stays within a
        # small part of it (stubs sit beside their box; folded boxes only link among themselves).
        assert dx <= 0.2 * width and dy <= 0.2 * height, (title, dx, dy, width, height)
    for title, _ in touching:
        tail, head = title.split("->")
        assert not (tail in folded and head not in folded | stubs)
        assert not (head in folded and tail not in folded | stubs)
