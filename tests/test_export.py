"""SavedModel export, inspection and Python loading (graphkit.serving.export, graphkit.runtime.saved_model).

Two real models: the hello-world MNIST graph (briefly trained, with its in-graph
input pipeline) and a tiny word-lookup model whose vocabulary is an asset
and whose signatures take and return strings, ints and floats.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    LOOKUP_SIGNATURE,
    VOCABULARY,
    export_word_lookup,
    lookup_expected,
    train_and_export_hello,
)

from graphkit import constants as names
from graphkit.cli.main import main as cli_main
from graphkit.errors import DTypeError, FeedError, SavedModelError, ShapeError
from graphkit.graphs.saved_model import inspect_saved_model
from graphkit.models.hello_mnist import build_hello_mnist
from graphkit.runtime.model_session import ModelSession
from graphkit.runtime.saved_model import load_saved_model, run_signature
from graphkit.serving.export import Signature, export_saved_model, freeze_graph_def
from graphkit.viz.reports import format_saved_model

v1 = tf.compat.v1

@pytest.fixture(scope="module")
def hello_export(tmp_path_factory, blobs):
    return train_and_export_hello(str(tmp_path_factory.mktemp("hello")), blobs)


@pytest.fixture(scope="module")
def lookup_export(tmp_path_factory):
    return export_word_lookup(str(tmp_path_factory.mktemp("lookup")))


# -- constants --------------------------------------------------------------------------------------
def test_constants_equal_tensorflow_names():
    assert names.SERVING_TAG == tf.saved_model.SERVING
    assert names.TRAINING_TAG == tf.saved_model.TRAINING
    assert names.DEFAULT_SIGNATURE_KEY == tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
    assert names.PREDICT_METHOD_NAME == tf.saved_model.PREDICT_METHOD_NAME
    assert names.ASSETS_DIRECTORY == tf.saved_model.ASSETS_DIRECTORY
    assert names.VARIABLES_DIRECTORY == tf.saved_model.VARIABLES_DIRECTORY
    assert names.SAVED_MODEL_FILENAME_PB == tf.saved_model.SAVED_MODEL_FILENAME_PB


# -- hello world -------------------------------------------------------------------------------------
def test_inspect_describes_hello_signature(hello_export):
    path, _, _ = hello_export
    record = inspect_saved_model(path)
    assert record.has_variables and record.has_frozen_graph
    (meta_graph,) = record.meta_graphs
    assert meta_graph.tags == (names.SERVING_TAG,)
    assert meta_graph.assets == (names.LABELS_ASSET,)
    (signature,) = meta_graph.signatures
    assert signature.key == names.DEFAULT_SIGNATURE_KEY
    assert signature.method_name == names.PREDICT_METHOD_NAME
    (x,) = signature.inputs
    assert (x.key, x.name, x.dtype, x.shape) == ("x", "x:0", "float32", (None, 28, 28))
    assert [(o.key, o.dtype, o.shape) for o in signature.outputs] == [
        ("logits", "float32", (None, 10)), ("probabilities", "float32", (None, 10))]
    with open(os.path.join(path, names.ASSETS_DIRECTORY, names.LABELS_ASSET), encoding="utf-8") as stream:
        assert stream.read().splitlines()[3] == "class 3"
    text = format_saved_model(record)
    assert "MetaGraphDef with tag-set: 'serve'" in text
    assert "inputs['x'] tensor_info:" in text and "shape: (-1, 28, 28)" in text


def test_run_signature_equals_training_session(hello_export):
    path, images, predictions = hello_export
    with load_saved_model(path) as loaded:
        outputs = run_signature(loaded, {"x": images})
        only_logits = run_signature(loaded, {"x": images[:1]}, outputs=["logits"])
    assert set(outputs) == {"probabilities", "logits"}
    np.testing.assert_allclose(outputs["probabilities"], predictions["probabilities"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(outputs["logits"], predictions["logits"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert list(only_logits) == ["logits"] and only_logits["logits"].shape == (1, 10)


def test_frozen_graph_has_no_variables_and_no_pipeline(hello_export):
    path, images, predictions = hello_export
    graph_def = v1.GraphDef()
    with open(os.path.join(path, names.FROZEN_GRAPH_FILENAME), "rb") as stream:
        graph_def.ParseFromString(stream.read())
    ops = {node.op for node in graph_def.node}
    assert not ops & {"VarHandleOp", "VariableV2", "ReadVariableOp", "IteratorV2", "IteratorGetNext",
                      "MakeIterator", "ApplyAdam", "AssignVariableOp"}
    nodes = {node.name: node for node in graph_def.node}
    assert nodes["x"].op == "Placeholder" and not nodes["x"].input
    assert not any(name.startswith("input_pipeline") for name in nodes)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with v1.Session(graph=graph) as session:
        frozen = session.run("probabilities:0", {"x:0": images})
    np.testing.assert_allclose(frozen, predictions["probabilities"], atol=1e-6, rtol=0)


def test_freeze_graph_def_takes_any_signature(hello_export, blobs):
    model = build_hello_mnist(hidden=8, seed=0)
    with ModelSession(model) as model_session:
        frozen = freeze_graph_def(model_session.session,
                                  [Signature({"x": model.inputs["x"]}, {"logits": model.outputs["logits"]})])
    names_left = {node.name for node in frozen.node}
    assert "dense_1/bias_add" in names_left and "probabilities" not in names_left


def test_export_refuses_existing_dir_and_replaces_it_atomically(tmp_path):
    model = build_hello_mnist(hidden=4, seed=0, in_graph_pipeline=False)
    target = tmp_path / "model"
    sources = tmp_path / "sources"
    (sources / "a").mkdir(parents=True)
    (sources / "b").mkdir()
    (sources / "a" / names.LABELS_ASSET).write_text("first\n")
    (sources / "b" / names.LABELS_ASSET).write_text("second\n")
    with ModelSession(model) as model_session:
        export_saved_model(model_session.session, model, str(target),
                           assets=[str(sources / "a" / names.LABELS_ASSET)])
        first = (target / names.SAVED_MODEL_FILENAME_PB).read_bytes()
        with pytest.raises(SavedModelError, match="already exists"):
            export_saved_model(model_session.session, model, str(target))
        assert (target / names.SAVED_MODEL_FILENAME_PB).read_bytes() == first
        extra = {"logits_only": ({"x": model.inputs["x"]}, {"logits": model.outputs["logits"]})}
        export_saved_model(model_session.session, model, str(target), signatures=extra, overwrite=True,
                           assets=[str(sources / "b" / names.LABELS_ASSET)])
    keys = [s.key for s in inspect_saved_model(str(target)).meta_graphs[0].signatures]
    assert keys == ["logits_only", names.DEFAULT_SIGNATURE_KEY]
    # The second export ships the second file (same name, other path), not the first one again.
    assert (target / names.ASSETS_DIRECTORY / names.LABELS_ASSET).read_text() == "second\n"
    assert os.listdir(target / names.ASSETS_DIRECTORY) == [names.LABELS_ASSET]
    assert sorted(os.listdir(tmp_path)) == ["model", "sources"]  # no temporary directories left behind


def test_export_rejects_bad_arguments(tmp_path):
    model = build_hello_mnist(hidden=4, seed=0, in_graph_pipeline=False)
    other = build_hello_mnist(hidden=4, seed=0, in_graph_pipeline=False)
    with ModelSession(model) as model_session:
        with pytest.raises(SavedModelError, match="no signature"):
            export_saved_model(model_session.session, None, str(tmp_path / "a"))
        with pytest.raises(SavedModelError, match="not a tensor of the session's graph"):
            export_saved_model(model_session.session, None, str(tmp_path / "b"),
                               signatures={"s": ({"x": other.inputs["x"]}, {"p": model.outputs["logits"]})})
        with pytest.raises(SavedModelError, match="asset file does not exist"):
            export_saved_model(model_session.session, model, str(tmp_path / "c"),
                               assets=[str(tmp_path / "no")])
    with v1.Session(graph=model.graph) as uninitialized:
        with pytest.raises(SavedModelError, match="cannot save the session's variables: .*uninitialized"):
            export_saved_model(uninitialized, model, str(tmp_path / "d"))
    assert os.listdir(tmp_path) == []


# -- strings, ints, assets ------------------------------------------------------------------------
def test_lookup_model_strings_ints_and_assets(lookup_export):
    record = inspect_saved_model(lookup_export)
    (meta_graph,) = record.meta_graphs
    assert meta_graph.assets == (names.VOCABULARY_ASSET,)
    signatures = {s.key: s for s in meta_graph.signatures}
    assert set(signatures) == {LOOKUP_SIGNATURE, names.DEFAULT_SIGNATURE_KEY}
    dtypes = {t.key: (t.dtype, t.shape) for t in signatures[names.DEFAULT_SIGNATURE_KEY].inputs}
    assert dtypes == {"words": ("string", (None,)), "shift": ("int32", (None,))}

    words = ["dog", "zebra", "cat", "bird"]
    shift = np.array([1, 0, 10, -4], np.int32)
    ids, shifted, shifted_words, vectors = lookup_expected(words, shift)
    with load_saved_model(lookup_export) as loaded:
        outputs = run_signature(loaded, {"words": np.array(words), "shift": shift})
        lookup_only = run_signature(loaded, {"words": np.array([b"fish"], dtype=object)}, LOOKUP_SIGNATURE)
    np.testing.assert_array_equal(outputs["ids"], ids)
    np.testing.assert_array_equal(outputs["shifted"], shifted)
    assert list(outputs["shifted_words"]) == shifted_words
    assert list(outputs["upper"]) == [w.upper().encode() for w in words]
    np.testing.assert_allclose(outputs["vectors"], vectors, atol=1e-7)
    assert lookup_only == {"ids": np.array([VOCABULARY.index("fish")])}


# -- bad input, Python API --------------------------------------------------------------------------
def test_missing_and_corrupt_directories(tmp_path, hello_export):
    with pytest.raises(SavedModelError, match="directory does not exist"):
        inspect_saved_model(str(tmp_path / "nowhere"))
    with pytest.raises(SavedModelError, match="not a SavedModel directory"):
        load_saved_model(str(tmp_path))
    (tmp_path / names.SAVED_MODEL_FILENAME_PB).write_bytes(b"\x0a\xff\xff garbage, not a proto")
    with pytest.raises(SavedModelError, match="corrupt SavedModel file"):
        load_saved_model(str(tmp_path))
    truncated = tmp_path / "truncated_variables"
    shutil.copytree(hello_export[0], truncated)
    data_file = next((truncated / names.VARIABLES_DIRECTORY).glob("variables.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])
    with pytest.raises(SavedModelError, match="truncated_variables: cannot load SavedModel: ") as caught:
        load_saved_model(str(truncated))
    assert "\n" not in str(caught.value)


def test_unknown_tags_and_signature(hello_export):
    with pytest.raises(SavedModelError,
                       match=r"no MetaGraph with tags \[gpu,serve\]; available tag sets: \[serve\]"):
        load_saved_model(hello_export[0], tags=["serve", "gpu"])
    with load_saved_model(hello_export[0]) as loaded:
        with pytest.raises(SavedModelError, match=r"no signature 'classify'; known: \['serving_default'\]"):
            run_signature(loaded, {"x": np.zeros((1, 28, 28), np.float32)}, "classify")


@pytest.mark.parametrize("inputs, error, message", [
    ({"y": np.zeros((1, 28, 28), np.float32)}, FeedError, r"no input 'y'; known: \['x'\]"),
    ({}, FeedError, r"missing input 'x' \(x:0 \[\?,28,28\] float32\)"),
    ({"x": np.zeros((1, 28, 28), np.int64)}, DTypeError,
     r"input 'x': expected dtype float32 for x:0 \[\?,28,28\] float32, got int64"),
    ({"x": np.zeros((1, 28, 27), np.float32)}, ShapeError,
     r"input 'x': expected shape x:0 \[\?,28,28\] float32, got \[1, 28, 27\]"),
    ({"x": np.zeros((28, 28), np.float32)}, ShapeError,
     r"expected shape x:0 \[\?,28,28\] float32, got \[28, 28\]"),
])
def test_bad_inputs_are_one_line_errors(hello_export, inputs, error, message):
    with load_saved_model(hello_export[0]) as loaded:
        with pytest.raises(error, match=message) as caught:
            run_signature(loaded, inputs)
        with pytest.raises(SavedModelError, match="no output 'classes'"):
            run_signature(loaded, {"x": np.zeros((1, 28, 28), np.float32)}, outputs=["classes"])
    assert "\n" not in str(caught.value)


def test_string_input_rejects_numbers(lookup_export):
    with load_saved_model(lookup_export) as loaded:
        with pytest.raises(DTypeError,
                           match="input 'words': expected dtype string for words:0 .*, got int64"):
            run_signature(loaded, {"words": np.array([1, 2]), "shift": np.array([0, 0], np.int32)})


# -- command line ---------------------------------------------------------------------------------
def test_cli_inspect_text_json_and_error(hello_export, tmp_path, capsys):
    assert cli_main(["inspect", hello_export[0]]) == 0
    assert "signature_def['serving_default']" in capsys.readouterr().out
    assert cli_main(["inspect", hello_export[0], "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["meta_graphs"][0]["signatures"][0]["inputs"][0]["shape"] == [None, 28, 28]
    assert cli_main(["inspect", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("graphkit inspect: error: ") and "directory does not exist" in err[-1]


def test_cli_export_built_in_model_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "exported"
    assert cli_main(["export", str(out), "--model", "hello_mnist", "--frozen"]) == 0
    assert "fresh weights" in capsys.readouterr().out
    assert (out / names.FROZEN_GRAPH_FILENAME).is_file()
    assert cli_main(["export", str(out), "--model", "hello_mnist"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["export", str(tmp_path / "x"), "--model", "no_such_model"]) == 2
    assert "not a built-in model" in capsys.readouterr().err

    # Re-export of a checkpoint's .meta, naming the signature tensors.
    model = build_hello_mnist(hidden=4, seed=2, in_graph_pipeline=False)
    with ModelSession(model, checkpoint_dir=str(tmp_path / "ckpt")) as model_session:
        prefix = model_session.save()
        expected = model_session.predict({"x": np.ones((2, 28, 28), np.float32)})["logits"]
    meta_out = tmp_path / "from_meta"
    assert cli_main(["export", str(meta_out), "--meta", prefix + ".meta", "--input", "x=x:0",
                     "--output", "logits=dense_1/bias_add:0"]) == 0
    assert f"weights from {prefix}" in capsys.readouterr().out
    with load_saved_model(str(meta_out)) as loaded:
        logits = run_signature(loaded, {"x": np.ones((2, 28, 28), np.float32)})["logits"]
    np.testing.assert_allclose(logits, expected, atol=1e-6)
    assert cli_main(["export", str(tmp_path / "y"), "--meta", prefix + ".meta", "--input", "x=x:0",
                     "--output", "p=nope:0"]) == 2
    assert "no tensor 'nope:0'" in capsys.readouterr().err
