"""Function bodies, loops and conditionals as frames: a Keras SavedModel, functional and v1 control flow."""

import pytest
import tensorflow as tf
from conftest import Drawing

from graphkit.graphs.load import load_graph
from graphkit.viz import build_view, render
from graphkit.viz.functions import inline_bodies
from graphkit.viz.style import CLUSTER_KINDS

v1 = tf.compat.v1
SVG = "{http://www.w3.org/2000/svg}"


def _frame_colour(cluster) -> str:
    return next(cluster.iter(SVG + "path"), None).get("stroke")


@pytest.fixture(scope="module")
def keras_saved_model(tmp_path_factory):
    import keras

    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.Dropout(0.1)(hidden))
    model = keras.Model(inputs, logits, name="classifier")
    path = str(tmp_path_factory.mktemp("keras") / "saved_model")
    tf.saved_model.save(model, path)
    return path


def test_keras_saved_model_draws_its_layers_inside_the_function_bodies(keras_saved_model, tmp_path):
    loaded = load_graph(keras_saved_model)
    assert [node.op for node in loaded.graph_def.node].count("StatefulPartitionedCall") >= 1
    result = render(keras_saved_model, str(tmp_path / "keras.svg"))
    drawing = Drawing(tmp_path / "keras.svg")

    call = "cluster_StatefulPartitionedCall"
    assert call in drawing.clusters and call + "/StatefulPartitionedCall" in drawing.clusters
    assert _frame_colour(drawing.clusters[call]) == CLUSTER_KINDS["function"]["color"]
    assert "__inference_signature_wrapper" in " ".join(drawing.texts(drawing.clusters[call]))
    # The layers are scopes of the inner function's body, each one dense block.
    layers = {title.rsplit("/", 1)[-1]: drawing.texts(node) for title, node in drawing.nodes.items()
              if title.startswith("StatefulPartitionedCall/") and "/classifier" in title}
    assert layers["hidden_1"][:2] == ["hidden_1", "dense (relu) · 5 ops"]
    assert layers["logits_1"][:2] == ["logits_1", "dense · 4 ops"]
    assert drawing.edges["StatefulPartitionedCall->[output] output_0"]
    # Every op of the inlined graph is accounted for; the saver's functions are folded.
    assert result.accounting.balanced and result.accounting.total > result.ops
    assert "[folded] save/restore" in drawing.nodes

    render(keras_saved_model, str(tmp_path / "keras.html"))  # the offline page has the bodies too
    page = (tmp_path / "keras.html").read_text()
    assert '"StatefulPartitionedCall/StatefulPartitionedCall/' in page and "hidden_1/MatMul" in page


def test_functional_while_and_if_become_loop_and_branch_frames(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        with tf.name_scope("loop"):
            _, y = tf.while_loop(lambda i, v: i < 5, lambda i, v: (i + 1, tf.nn.relu(v * 2.0)),
                                 [tf.constant(0), x])
        with tf.name_scope("branch"):
            z = tf.cond(tf.reduce_sum(y) > 0, lambda: tf.sigmoid(y) * 2.0, lambda: tf.tanh(y) * 3.0)
        tf.identity(z, name="out")
    graph_def = graph.as_graph_def()
    assert {"StatelessWhile", "StatelessIf"} <= {node.op for node in graph_def.node}
    drawn = {node.name: node for node in inline_bodies(graph_def).node}
    relu = [name for name in drawn if name.startswith("loop/while/body/") and drawn[name].op == "Relu"]
    assert relu and drawn[relu[0]].input[0].startswith("loop/while/body/")

    render(graph, str(tmp_path / "cf.svg"))
    drawing = Drawing(tmp_path / "cf.svg")
    loop, branch = drawing.clusters["cluster_loop/while"], drawing.clusters["cluster_branch/cond"]
    assert _frame_colour(loop) == CLUSTER_KINDS["loop"]["color"]
    assert _frame_colour(branch) == CLUSTER_KINDS["branch"]["color"]
    assert {"cluster_loop/while/body", "cluster_loop/while/cond"} <= set(drawing.clusters)
    assert {"cluster_branch/cond/then", "cluster_branch/cond/else"} <= set(drawing.clusters)
    assert any(title.startswith("loop/while/body/") and title.endswith("Relu") for title in drawing.nodes)
    assert "Sigmoid" in " ".join(" ".join(drawing.texts(node)) for node in drawing.nodes.values())


def test_v1_while_loop_and_cond_frames(tmp_path):
    v1.disable_control_flow_v2()
    try:
        graph = tf.Graph()
        with graph.as_default():
            x = v1.placeholder(tf.float32, [3], name="x")
            _, y = v1.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 2.0), [tf.constant(0), x],
                                 name="repeat")
            v1.cond(tf.reduce_sum(y) > 0, lambda: y + 1.0, lambda: y - 1.0, name="sign")
    finally:
        v1.enable_control_flow_v2()
    assert "LoopCond" in {op.type for op in graph.get_operations()}
    view = build_view(graph.as_graph_def())
    frames = {cluster.path: cluster for cluster in view.clusters}
    assert frames["repeat"].kind == "loop" and frames["repeat"].name == "repeat · while_loop"
    assert frames["sign"].kind == "branch" and frames["sign"].name == "sign · cond"
    assert view.accounting.balanced
