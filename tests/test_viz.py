"""graphkit.viz: every input kind drawn by real Graphviz, the SVG parsed and checked against the GraphDef."""

import subprocess

import pytest
import tensorflow as tf
from conftest import OP_COUNT, SVG, Drawing, build_training_model, write_sources

from graphkit.graphs.load import load_graph
from graphkit.viz import ViewOptions, build_view, render
from graphkit.viz.style import DEFAULT_STYLE

v1 = tf.compat.v1
@pytest.fixture(scope="module")
def model():
    return build_training_model()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return write_sources(str(tmp_path_factory.mktemp("viz_sources")))


KINDS = ["graph_model", "tf_graph", "graph_def_proto", "pb", "pbtxt", "meta", "saved_model"]


def _source(kind, model, sources):
    in_memory = {"graph_model": model, "tf_graph": model.graph, "graph_def_proto": model.graph.as_graph_def()}
    return in_memory[kind] if kind in in_memory else sources[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_every_input_kind_draws_scopes_shapes_control_edges_and_variables(kind, model, sources, tmp_path):
    source = _source(kind, model, sources)
    result = render(source, str(tmp_path / "graph.dot"), depth=2, fold_rules=())
    # Graphviz itself must accept the DOT; the SVG it makes is what gets checked.
    subprocess.run(["dot", "-Tsvg", "-o", str(tmp_path / "graph.svg"), str(tmp_path / "graph.dot")],
                   check=True)
    drawing = Drawing(tmp_path / "graph.svg")

    assert {"cluster_model", "cluster_model/hidden", "cluster_model/logits"} <= set(drawing.clusters)
    assert drawing.edge_labels("x", "model/hidden/matmul") == ["[?,4] float32"]
    assert drawing.edge_labels("model/hidden/Relu", "model/gated") == ["[?,8] float32"]
    [control] = drawing.edges["model/check->model/gated"]
    assert drawing.dashed(control) and not drawing.dashed(drawing.edges["x->model/hidden/matmul"][0])

    kernel = drawing.nodes["model/hidden/kernel"]
    assert drawing.fill(kernel) == DEFAULT_STYLE.boxes["variable"]["fillcolor"]
    assert drawing.fill(drawing.nodes["model/hidden/Relu"]) == DEFAULT_STYLE.boxes["op"]["fillcolor"]
    assert "[4,8] float32" in drawing.texts(kernel)
    tooltip = drawing.tooltip(drawing.nodes["model/check"])
    assert tooltip.splitlines()[:2] == ["model/check", "op: CheckNumerics"]
    assert "device: (unplaced)" in tooltip and "T: float32" in tooltip

    graph_def = load_graph(source).graph_def
    assert result.ops == len(graph_def.node)
    assert result.accounting.balanced
    assert drawing.ops_drawn() == result.ops  # every op is a box or counted inside one
    assert len(drawing.nodes) == result.visible_nodes


@pytest.mark.parametrize("kind", ["graph_model", "saved_model"])
def test_signature_inputs_and_outputs_are_labelled_ports(kind, model, sources, tmp_path):
    render(_source(kind, model, sources), str(tmp_path / "g.svg"))
    drawing = Drawing(tmp_path / "g.svg")
    assert drawing.texts(drawing.nodes["[input] x"]) == ["input x", "[?,4] float32"]
    assert drawing.edges["[input] x->x"]
    assert drawing.edge_labels("probabilities", "[output] probabilities") == ["[?,3] float32"]
    fills = DEFAULT_STYLE.boxes
    assert drawing.fill(drawing.nodes["[output] probabilities"]) == fills["output"]["fillcolor"]


def test_default_view_folds_each_kind_of_training_noise_into_one_box(model, tmp_path):
    result = render(model, str(tmp_path / "g.svg"))
    drawing = Drawing(tmp_path / "g.svg")
    names = [op.name for op in model.graph.get_operations()]
    folded = {title: int(OP_COUNT.search(" ".join(drawing.texts(node))).group(1))
              for title, node in drawing.nodes.items() if title.startswith("[folded] ")}
    assert set(folded) == {"[folded] gradients", "[folded] optimizer", "[folded] initializers",
                           "[folded] save/restore"}
    assert folded["[folded] gradients"] == sum(name.startswith("gradients/") for name in names)
    assert folded["[folded] save/restore"] == sum(name.startswith("save/") for name in names)
    optimizer_ops = [n for n in names if n.startswith("train_op/") or "/Adam" in n or n.startswith("beta")]
    assert folded["[folded] optimizer"] == len(optimizer_ops)
    assert result.accounting.folded == sum(folded.values())
    assert "train_op" in drawing.nodes  # the train op itself stays in the model
    assert result.visible_nodes <= 60 and drawing.ops_drawn() == result.ops


def test_show_training_noise_and_expanding_a_noise_scope(model, tmp_path):
    render(model, str(tmp_path / "all.svg"), depth=1, show_training_noise=True)
    everything = Drawing(tmp_path / "all.svg")
    assert not [title for title in everything.nodes if title.startswith("[folded]")]
    assert {"cluster_gradients", "cluster_save", "cluster_train_op"} <= set(everything.clusters)

    render(model, str(tmp_path / "grads.svg"), expand="gradients")  # one scope may be a plain string
    grads = Drawing(tmp_path / "grads.svg")
    assert "cluster_gradients" in grads.clusters and "[folded] gradients" not in grads.nodes
    assert "[folded] optimizer" in grads.nodes


def test_depth_zero_draws_one_box_per_top_level_name(model, tmp_path):
    result = render(model, str(tmp_path / "g.svg"), depth=0, show_training_noise=True)
    drawing = Drawing(tmp_path / "g.svg")
    top_level = {op.name.split("/")[0] for op in model.graph.get_operations()}
    ports = {"[input] x", "[output] probabilities", "[output] logits"}
    assert set(drawing.nodes) == top_level | ports
    assert not drawing.clusters and result.depth == 0
    # A collapsed scope counts its ops and merges its edges: labels feeds loss/cross_entropy and its Shape.
    assert "[?] int32 ×2" in drawing.edge_labels("labels", "loss")
    model_ops = sum(op.name.startswith("model/") for op in model.graph.get_operations())
    assert f"{model_ops} ops" in drawing.texts(drawing.nodes["model"])


def test_hide_and_prune_account_for_every_op(model, tmp_path):
    names = [op.name for op in model.graph.get_operations()]
    hidden = render(model, str(tmp_path / "h.svg"), hide=["loss", "global_step"])
    drawing = Drawing(tmp_path / "h.svg")
    assert not [t for t in drawing.nodes if t.startswith(("loss", "global_step"))]
    expected = sum(n == "global_step" or n.startswith(("loss/", "global_step/")) for n in names)
    assert hidden.accounting.hidden == expected and hidden.accounting.balanced
    assert drawing.ops_drawn() == hidden.ops - expected

    pruned = render(model, str(tmp_path / "p.svg"), prune_to="probabilities", depth=3)
    kept = v1.graph_util.extract_sub_graph(model.graph.as_graph_def(), ["probabilities"])
    assert pruned.accounting.pruned == len(names) - len(kept.node)
    drawing = Drawing(tmp_path / "p.svg")
    assert drawing.ops_drawn() == len(kept.node)
    assert "loss" not in " ".join(drawing.nodes)
    assert not [title for title in drawing.nodes if title.startswith("[folded]")]


def test_several_edges_between_two_ops_stay_apart(tmp_path):
    graph = tf.Graph()
    with graph.as_default(), tf.device("/cpu:0"):
        a = v1.placeholder(tf.float32, [None, 4], name="a")
        squared = tf.multiply(a, a, name="squared")
        left, right = tf.split(squared, 2, axis=1, name="halves")
        tf.add(left, right, name="sum")
        tf.constant(3.0, name="three")
    render(graph, str(tmp_path / "g.svg"))
    drawing = Drawing(tmp_path / "g.svg")
    assert drawing.edge_labels("a", "squared") == ["[?,4] float32", "[?,4] float32"]
    assert drawing.edge_labels("halves", "sum") == [":1 [?,2] float32", "[?,2] float32"]
    assert "device: /device:CPU:0" in drawing.tooltip(drawing.nodes["squared"])
    three = drawing.nodes["three"]
    assert {text.get("font-size") for text in three.iter(SVG + "text")} == {
        f"{float(DEFAULT_STYLE.boxes['constant']['fontsize']):.2f}"}
    assert "value: float32 3.0" in drawing.tooltip(three)


def _wide_graph(scopes: int, blocks: int, ops_per_block: int) -> tf.Graph:
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        for s in range(scopes):
            with tf.name_scope(f"stage{s}"):
                for b in range(blocks):
                    with tf.name_scope(f"block{b}"):
                        for _ in range(ops_per_block):
                            x = tf.nn.relu(x)
    return graph


def test_automatic_view_stays_within_the_box_budget_at_any_size():
    for scopes, blocks in ((3, 2), (30, 5), (60, 20)):
        graph_def = _wide_graph(scopes, blocks, 3).as_graph_def(add_shapes=True)
        view = build_view(graph_def)
        assert view.visible_nodes <= 60
        assert view.accounting.balanced and view.accounting.total == len(graph_def.node)
    # 60 top-level stages of the same structure are one series box, too many to open together.
    [series] = [box for box in view.boxes if box.id == "stage[0-59]"]
    assert (series.name, series.op_count, series.detail) == ("stage[0-59]", 3600, "60 × stage, chained")
    small = build_view(_wide_graph(3, 2, 3).as_graph_def())
    assert small.accounting.visible == 19  # small enough to draw every op
    budget = build_view(graph_def, ViewOptions(max_boxes=200))
    assert 60 < budget.visible_nodes <= 200


def test_view_names_must_exist(model):
    from graphkit.errors import RenderError

    graph_def = model.graph.as_graph_def()
    typo = r"expand: 'modle' is not a scope of the graph; did you mean model\?"
    with pytest.raises(RenderError, match=typo):
        build_view(graph_def, ViewOptions(expand=("modle",)))
    with pytest.raises(RenderError, match="expand: 'probabilities' is an op, not a scope"):
        build_view(graph_def, ViewOptions(expand=("probabilities",)))
    with pytest.raises(RenderError, match="hide: no scope or op named 'nothing'"):
        build_view(graph_def, ViewOptions(hide=("nothing",)))
    with pytest.raises(RenderError, match="prune-to: no op, tensor or signature output named 'probs'"):
        build_view(graph_def, ViewOptions(prune_to="probs"))
    with pytest.raises(RenderError, match="depth: expected an integer >= 0, got -1"):
        ViewOptions(depth=-1)
