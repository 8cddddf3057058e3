"""graphkit.graphs.load: every kind of graph source read into one LoadedGraph, bad sources rejected.

The builders here (a tiny training graph and the files made from it) are shared
with tests/test_viz*.py.
"""

import os

import pytest
import tensorflow as tf
from conftest import build_training_model, write_sources
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.framework import op_def_registry

from graphkit.errors import GraphFileError, SavedModelError
from graphkit.graphs.load import (
    KIND_GRAPH,
    KIND_GRAPH_DEF,
    KIND_META_GRAPH,
    KIND_MODEL,
    KIND_SAVED_MODEL,
    load_graph,
)

v1 = tf.compat.v1


@pytest.fixture(scope="session")
def training_model():
    return build_training_model()


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    return write_sources(str(tmp_path_factory.mktemp("graph_sources")))


def _names(graph_def):
    return [node.name for node in graph_def.node]


def _all_outputs_have_shapes(graph_def) -> bool:
    with_outputs = [node for node in graph_def.node if op_def_registry.get(node.op).output_arg]
    return bool(with_outputs) and all("_output_shapes" in node.attr for node in with_outputs)


def test_graph_model_gives_graph_def_with_shapes_and_signature(training_model):
    loaded = load_graph(training_model)
    assert loaded.kind == KIND_MODEL
    assert _names(loaded.graph_def) == [op.name for op in training_model.graph.get_operations()]
    assert _all_outputs_have_shapes(loaded.graph_def)
    assert loaded.signature_inputs["x"].name == "x:0"
    assert loaded.signature_inputs["x"].shape == (None, 4)
    assert loaded.signature_outputs["probabilities"].op_name == "probabilities"
    assert loaded.signature_outputs["logits"].dtype == "float32"


def test_tf_graph_and_graph_def_have_no_signature(training_model):
    from_graph = load_graph(training_model.graph)
    from_proto = load_graph(training_model.graph.as_graph_def())
    assert (from_graph.kind, from_proto.kind) == (KIND_GRAPH, KIND_GRAPH_DEF)
    assert _names(from_graph.graph_def) == _names(from_proto.graph_def)
    assert not from_graph.signature_inputs and not from_proto.signature_outputs
    assert _all_outputs_have_shapes(from_proto.graph_def)  # inferred


@pytest.mark.parametrize("kind", ["pb", "pbtxt"])
def test_graph_def_files_are_read_and_shapes_inferred(sources, kind):
    loaded = load_graph(sources[kind])
    assert loaded.kind == KIND_GRAPH_DEF
    assert _all_outputs_have_shapes(loaded.graph_def)
    assert _names(loaded.graph_def) == sources["ops"]
    shapes = {node.name: node.attr["_output_shapes"].list.shape[0] for node in loaded.graph_def.node
              if node.name == "model/hidden/matmul"}
    assert [d.size for d in shapes["model/hidden/matmul"].dim] == [-1, 8]


def test_meta_graph_file(sources):
    loaded = load_graph(sources["meta"])
    assert loaded.kind == KIND_META_GRAPH
    assert "save/SaveV2" in _names(loaded.graph_def)
    assert _names(loaded.graph_def) == sources["ops"]
    assert _all_outputs_have_shapes(loaded.graph_def)
    proto = meta_graph_pb2.MetaGraphDef.FromString(open(sources["meta"], "rb").read())
    assert load_graph(proto).kind == KIND_META_GRAPH


def test_saved_model_default_tags_and_signature(sources):
    loaded = load_graph(sources["saved_model"])
    assert loaded.kind == KIND_SAVED_MODEL
    assert loaded.tags == ("serve",)
    assert loaded.signature == "serving_default"
    assert set(loaded.signature_inputs) == {"x"} and set(loaded.signature_outputs) == {"probabilities"}
    assert loaded.signature_inputs["x"].shape == (None, 4)
    assert loaded.signature_outputs["probabilities"].name == "probabilities:0"
    assert "model/hidden/matmul" in _names(loaded.graph_def)


def test_saved_model_chosen_tags_and_signature(sources):
    loaded = load_graph(sources["saved_model"], signature="logits")
    assert loaded.tags == ("serve",)
    assert set(loaded.signature_outputs) == {"logits"}
    assert loaded.signature_outputs["logits"].op_name == "model/logits/bias_add"
    train = load_graph(sources["saved_model"], tags="train")
    assert train.tags == ("train",) and train.signature == "" and not train.signature_inputs
    direct = load_graph(os.path.join(sources["saved_model"], "saved_model.pb"), tags=["serve"])
    assert direct.kind == KIND_SAVED_MODEL and direct.signature == "serving_default"


def test_unknown_tag_set_lists_the_available_ones(sources):
    with pytest.raises(SavedModelError, match=r"no MetaGraph with tags \[gpu,serve\]; "
                                              r"available tag sets: \[serve\], \[train\]"):
        load_graph(sources["saved_model"], tags="serve,gpu")


def test_unknown_signature_lists_the_available_ones(sources):
    with pytest.raises(SavedModelError,
                       match="no signature 'predict'; available signatures: logits, serving_default"):
        load_graph(sources["saved_model"], signature="predict")


def test_directory_that_is_not_a_saved_model(tmp_path):
    with pytest.raises(SavedModelError, match="not a SavedModel directory"):
        load_graph(str(tmp_path))


@pytest.mark.parametrize("name, data", [
    ("random.pb", bytes(range(256)) * 4),
    ("notes.pb", b"just some text, not a protocol buffer\n"),
    ("notes.pbtxt", b"node { name: 'a' op: 'Const' } this is not text format"),
    ("empty.pb", b""),
    ("binary.pbtxt", b"\xff\xfe\x00\x01"),
])
def test_file_that_is_not_a_graph(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(GraphFileError, match=f"{name}: not a GraphDef"):
        load_graph(str(path))


def test_missing_path_and_wrong_type(tmp_path):
    with pytest.raises(GraphFileError, match="no such file or directory"):
        load_graph(str(tmp_path / "nothing.pb"))
    with pytest.raises(GraphFileError,
                       match="expected a GraphModel, tf.Graph, GraphDef, MetaGraphDef or path, got int"):
        load_graph(42)
