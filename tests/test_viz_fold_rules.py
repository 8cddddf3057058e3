"""Fold rules on hand-made graphs: dense layers, dropout, user rules, v1 loop plumbing."""

import pytest
import tensorflow as tf

from graphkit.errors import RenderError
from graphkit.nn import layers
from graphkit.viz import ViewOptions, build_view
from graphkit.viz.fold_rules import FoldRule
from graphkit.viz.noise import training_noise

v1 = tf.compat.v1


def _boxes(view) -> dict:
    return {box.id: box for box in view.boxes}


def _mlp() -> tf.Graph:
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        training = v1.placeholder_with_default(False, [], name="training")
        hidden = layers.dense(x, 8, tf.nn.relu, scope="hidden")
        dropped = layers.dropout(hidden, 0.2, training, scope="drop")
        tf.nn.dropout(layers.dense(dropped, 3, scope="logits"), rate=0.5, name="tf_dropout")
    return graph


def test_dense_and_dropout_scopes_become_labelled_blocks():
    graph = _mlp()
    noise = training_noise(graph.as_graph_def())  # the variables' initializers fold apart
    names = [op.name for op in graph.get_operations() if op.name not in noise]
    view = build_view(graph.as_graph_def(), ViewOptions(depth=3))
    boxes = _boxes(view)
    hidden, drop, logits = boxes["hidden"], boxes["drop"], boxes["logits"]
    assert (hidden.name, hidden.op_type) == ("hidden", "dense (relu)")
    assert hidden.op_count == sum(name.startswith("hidden/") for name in names)
    assert "kernel [4,8] float32" in hidden.detail
    assert (drop.op_type, drop.op_count) == ("dropout", sum(name.startswith("drop/") for name in names))
    assert logits.op_type == "dense"
    # TensorFlow's own tf.nn.dropout: its mask arithmetic is one block too.
    assert boxes["tf_dropout"].op_type == "dropout" and boxes["tf_dropout"].op_count >= 4
    assert {(edge.tail, edge.head) for edge in view.edges} >= {("x", "hidden"), ("hidden", "drop")}
    assert view.accounting.balanced

    plain = _boxes(build_view(graph.as_graph_def(), ViewOptions(depth=3, fold_rules=())))
    assert "hidden/kernel" in plain and "hidden/matmul" in plain and "hidden" not in plain


def test_a_chain_read_elsewhere_does_not_fold():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        with tf.name_scope("layer"):
            product = tf.matmul(x, tf.ones([4, 4]), name="MatMul")
            tf.nn.relu(tf.nn.bias_add(product, tf.zeros([4]), name="BiasAdd"), name="Relu")
        tf.identity(product, name="tap")  # the MatMul's output is read outside the chain
    boxes = _boxes(build_view(graph.as_graph_def(), ViewOptions(depth=2)))
    assert "layer/MatMul" in boxes and boxes["layer/MatMul"].op_type == "MatMul"
    assert "dense" not in {box.name for box in boxes.values()}


def test_user_rules_and_bad_rules():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        with tf.name_scope("energy"):
            tf.reduce_sum(tf.square(x, name="Square"), axis=1, name="Sum")
    rule = FoldRule.parse(" square sum = Square > Sum ")
    assert rule == FoldRule("square sum", ("Square", "Sum"))
    view = build_view(graph.as_graph_def(), ViewOptions(depth=2, fold_rules=("square sum=Square>Sum",)))
    energy = _boxes(view)["energy"]
    assert energy.op_type == "square sum" and energy.op_count == 3  # Square, Sum and its axis constant
    with pytest.raises(RenderError, match="fold rule: expected LABEL=OpType>OpType"):
        ViewOptions(fold_rules=("Square>Sum",))
    with pytest.raises(RenderError, match="fold rule: expected a FoldRule"):
        ViewOptions(fold_rules=(3,))


def test_v1_loop_plumbing_folds_into_one_loop_control_block():
    v1.disable_control_flow_v2()
    try:
        graph = tf.Graph()
        with graph.as_default():
            x = v1.placeholder(tf.float32, [3], name="x")
            v1.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 2.0), [tf.constant(0), x],
                          name="repeat")
    finally:
        v1.enable_control_flow_v2()
    plumbing = [op for op in graph.get_operations()
                if op.type in ("Enter", "Merge", "Switch", "NextIteration", "LoopCond", "Exit")
                and op.name.count("/") == 1]
    view = build_view(graph.as_graph_def(), ViewOptions(depth=2))
    [control] = [box for box in view.boxes if box.name == "loop control"]
    assert control.op_count == len(plumbing) and control.cluster == "repeat"
    assert view.accounting.balanced


def test_cli_fold_rule_options(tmp_path, capsys):
    from graphkit.cli import main as cli

    graph_path = tmp_path / "mlp.pb"
    graph_path.write_bytes(_mlp().as_graph_def().SerializeToString())
    out = tmp_path / "g.dot"
    assert cli.main(["render", str(graph_path), "-o", str(out), "--depth", "3",
                     "--fold-rule", "scaled relu=MatMul>BiasAdd>Relu"]) == 0
    assert 'hidden [label="hidden\\nscaled relu' in out.read_text()  # a user rule is tried first
    assert cli.main(["render", str(graph_path), "-o", str(out), "--depth", "3", "--no-fold-rules"]) == 0
    assert '"hidden/matmul"' in out.read_text() and "dense (relu)" not in out.read_text()
    capsys.readouterr()
    assert cli.main(["render", str(graph_path), "-o", str(out), "--fold-rule", "MatMul>Relu"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "fold rule: expected LABEL=OpType>OpType" in err
