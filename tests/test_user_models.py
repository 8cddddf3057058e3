"""Every command and API call on models graphkit did not write.

Built here, in the test run: a Keras 3 CNN exported both ways (`model.export`
and `tf.saved_model.save`), a `tf.Module` SavedModel with a loop, a branch and
two signatures, frozen tf.compat.v1 graphs with a classic `while_loop` /
`cond` and with functional `While` / `If`, and a checkpoint `.meta` file.
`inspect`, `analyze`, `trace`, `render`, `export --meta`, `load_saved_model`,
`run_signature` and `compare_cpp_python` run on each, with real values checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from graphkit.cli.main import main as cli_main
from graphkit.graphs.load import load_graph
from graphkit.graphs.saved_model import inspect_saved_model
from graphkit.graphs.work_span import grappler_optimized, work_span
from graphkit.runtime.inputs import open_traceable
from graphkit.runtime.saved_model import load_saved_model, run_signature
from graphkit.runtime.tracing import run_traced

v1 = tf.compat.v1
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
IMAGES = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
ROWS = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], np.float32)


# -- the models ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    """(model.export dir, tf.saved_model.save dir, Keras' own predictions of IMAGES)."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 1), name="image")
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(keras.layers.Flatten()(hidden))
    model = keras.Model(inputs, outputs)
    root = tmp_path_factory.mktemp("keras")
    exported, saved = str(root / "exported"), str(root / "saved")
    model.export(exported, verbose=False)
    tf.saved_model.save(model, saved)
    return exported, saved, np.asarray(model.predict(IMAGES, verbose=0))


class LoopAndBranch(tf.Module):
    """y = x * scale^3 by a tf.while_loop; z = v * scale if v > 0 else -v."""

    def __init__(self):
        super().__init__()
        self.scale = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def loop(self, x):
        i = tf.constant(0)
        while i < 3:
            x = x * self.scale
            i += 1
        return {"y": x}

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def branch(self, v):
        if v > 0:
            out = v * self.scale
        else:
            out = -v
        return {"z": out}


@pytest.fixture(scope="module")
def module_model(tmp_path_factory):
    module = LoopAndBranch()
    path = str(tmp_path_factory.mktemp("module") / "saved")
    tf.saved_model.save(module, path, signatures={"serving_default": module.loop, "branch": module.branch})
    return path


def _loop_graph(scale: float):
    """x -> three matmuls by scale*I in a while_loop -> cond(sum > 0: *2, else: negate) -> out."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        weights = tf.constant(np.eye(3, dtype=np.float32) * scale, name="weights")
        _, y = v1.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.matmul(h, weights)),
                             [tf.constant(0), x], name="loop")
        branched = v1.cond(tf.reduce_sum(y) > 0, lambda: y * 2.0, lambda: -y, name="branch")
        tf.identity(branched, name="out")
    return graph


@pytest.fixture(scope="module")
def frozen_graphs(tmp_path_factory):
    """{"classic": .pb with Enter/Merge/Switch/NextIteration, "functional": .pb with While/If}."""
    root = tmp_path_factory.mktemp("frozen")
    paths = {}
    v1.disable_control_flow_v2()
    try:
        classic = _loop_graph(0.5).as_graph_def()
    finally:
        v1.enable_control_flow_v2()
    functional = _loop_graph(0.5).as_graph_def()
    for name, graph_def in (("classic", classic), ("functional", functional)):
        paths[name] = str(root / f"{name}.pb")
        with open(paths[name], "wb") as stream:
            stream.write(graph_def.SerializeToString())
    ops = {name: {node.op for node in tf.compat.v1.GraphDef.FromString(open(p, "rb").read()).node}
           for name, p in paths.items()}
    assert {"Enter", "Merge", "Switch", "NextIteration", "Exit"} <= ops["classic"]
    assert {"While", "If"} <= ops["functional"] or {"StatelessWhile", "StatelessIf"} <= ops["functional"]
    return paths


@pytest.fixture(scope="module")
def checkpoint_meta(tmp_path_factory):
    """(.meta path, expected `y` of ROWS): y = tanh(x @ w) with w restored from the checkpoint."""
    root = tmp_path_factory.mktemp("ckpt")
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=np.arange(9, dtype=np.float32).reshape(3, 3) / 10)
        tf.tanh(tf.matmul(x, w), name="y")
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            session.run(w.assign(w * 2.0))  # differs from the initializer: a restore must show
            prefix = saver.save(session, str(root / "model.ckpt"), global_step=3)
    expected = np.tanh(ROWS @ (np.arange(9, dtype=np.float32).reshape(3, 3) / 5))
    return prefix + ".meta", expected


def _cli(capsys, *argv):
    code = cli_main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv):
    code, out, err = _cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


# -- inspect: the signatures saved_model_cli lists ------------------------------------------------
def _saved_model_cli_signatures(paths) -> list[list[str]]:
    """Signature keys of each SavedModel as the venv's `saved_model_cli show --all` prints them.

    The script runs once per path inside one interpreter, so TensorFlow is imported once.
    """
    runner = ("import runpy, sys\n"
              "script, paths = sys.argv[1], sys.argv[2:]\n"
              "for path in paths:\n"
              "    sys.argv = [script, 'show', '--all', '--dir', path]\n"
              "    print('=== next ===', flush=True)\n"
              "    try:\n"
              "        runpy.run_path(script, run_name='__main__')\n"
              "    except SystemExit:\n"
              "        pass\n")
    shown = subprocess.run([sys.executable, "-c", runner, SAVED_MODEL_CLI, *paths], check=True,
                           capture_output=True, text=True).stdout
    parts = shown.split("=== next ===")[1:]
    return [sorted(re.findall(r"signature_def\['([^']+)'\]", part)) for part in parts]


def test_inspect_lists_every_signature_saved_model_cli_does(keras_models, module_model, capsys):
    exported, saved, _ = keras_models
    expected = {"exported": ["__saved_model_init_op", "serve", "serving_default"],
                "saved": ["__saved_model_init_op", "serving_default"],
                "module": ["__saved_model_init_op", "branch", "serving_default"]}
    sources = (("exported", exported), ("saved", saved), ("module", module_model))
    listed = _saved_model_cli_signatures([path for _, path in sources])
    assert listed == [expected[name] for name, _ in sources]
    for name, path in sources:
        described = _json(capsys, "inspect", path)
        (meta_graph,) = described["meta_graphs"]
        assert sorted(s["key"] for s in meta_graph["signatures"]) == expected[name]
        runnable = {s["key"]: s["runnable"] for s in meta_graph["signatures"]}
        assert runnable.pop("__saved_model_init_op") is False and all(runnable.values())
        assert described["has_variables"] is True
        code, text, err = _cli(capsys, "inspect", path)
        assert code == 0 and not err
        assert re.findall(r"signature_def\['([^']+)'\]", text) == expected[name]
        assert "signature_def['__saved_model_init_op']: not runnable by key:" in text
    record = inspect_saved_model(module_model)
    (loop,) = [s for s in record.meta_graphs[0].signatures if s.key == "serving_default"]
    assert [(t.key, t.dtype, t.shape) for t in loop.inputs] == [("x", "float32", (None, 3))]


# -- load_saved_model / run_signature / compare_cpp_python ----------------------------------------
def test_keras_exports_run_by_signature_as_keras_predicts(keras_models):
    exported, saved, predicted = keras_models
    for path in (exported, saved):
        with load_saved_model(path) as loaded:
            (output,) = run_signature(loaded, {"image": IMAGES}).values() if path == exported else \
                run_signature(loaded, {"inputs": IMAGES}).values()
        np.testing.assert_allclose(output, predicted, rtol=1e-5, atol=1e-6)
    with load_saved_model(exported) as loaded:
        np.testing.assert_allclose(run_signature(loaded, {"image": IMAGES}, "serve")["output_0"], predicted,
                                   rtol=1e-5, atol=1e-6)


def test_module_loop_and_branch_signatures(module_model):
    with load_saved_model(module_model) as loaded:
        np.testing.assert_allclose(run_signature(loaded, {"x": ROWS})["y"], ROWS * 8.0)
        assert run_signature(loaded, {"v": np.float32(3.0)}, "branch")["z"] == 6.0
        assert run_signature(loaded, {"v": np.float32(-3.0)}, "branch")["z"] == 3.0
        from graphkit.errors import SavedModelError

        with pytest.raises(SavedModelError, match="'__saved_model_init_op': cannot be run by key: "
                                                  "the SavedModel's initialiser"):
            run_signature(loaded, {}, "__saved_model_init_op")


def test_compare_cpp_python_on_tf2_saved_models(keras_models, module_model, cpp_binary):
    from graphkit.serving.cpp_run import compare_cpp_python

    comparison = compare_cpp_python(keras_models[0], {"image": IMAGES}, binary=cpp_binary)
    assert comparison.max_abs_diff <= 1e-6
    np.testing.assert_allclose(comparison.python["output_0"], keras_models[2], rtol=1e-5, atol=1e-6)
    # tf.saved_model.save of a Keras 3 model: its signature reads handles the v1 restore op leaves
    # empty; both loaders fill them from the checkpoint (restore_captured_variables)
    saved = compare_cpp_python(keras_models[1], {"inputs": IMAGES}, binary=cpp_binary)
    np.testing.assert_allclose(saved.cpp["output_0"], keras_models[2], rtol=1e-5, atol=1e-6)
    loop = compare_cpp_python(module_model, {"x": ROWS}, binary=cpp_binary)
    np.testing.assert_array_equal(loop.cpp["y"], ROWS * 8.0)
    branch = compare_cpp_python(module_model, {"v": np.float32(-2.0)}, "branch", binary=cpp_binary)
    assert branch.cpp["z"] == 2.0 and branch.max_abs_diff == 0.0


# -- analyze: function bodies and both forms of control flow --------------------------------------
def test_analyze_keras_export_looks_inside_the_calls(keras_models, capsys):
    written = _json(capsys, "analyze", keras_models[0])
    assert "function call(s) inlined" in written["graph_form"]
    assert written["ops"] > 20  # the outer graph alone has a placeholder, handles and one call
    assert any("conv2d" in name for name in written["critical_path"])
    # the serial CNN by FLOPs: conv, bias, relu, matmul, bias, softmax one after another
    as_written = _json(capsys, "analyze", keras_models[0], "--cost", "flops", "--batch", "4")
    assert as_written["graph_form"] == "as written, function calls inlined by Grappler"
    assert as_written["work"] > 10000 and 1.0 <= as_written["work_span"] <= 1.05
    flops = _json(capsys, "analyze", keras_models[0], "--optimized", "--cost", "flops", "--batch", "4")
    assert flops["graph_form"] == "optimised by Grappler"
    assert flops["work"] == as_written["work"] and 1.0 <= flops["work_span"] <= 1.05


def test_analyze_tf_module_names_its_functional_loop(module_model, capsys):
    code, out, err = _cli(capsys, "analyze", module_model)
    assert code == 0 and not err
    assert "functional control-flow op(s) (If/While) counted as one op each" in out
    branch = _json(capsys, "analyze", module_model, "--signature", "branch")
    assert branch["feeds"] == ["branch_v"] and branch["ops"] > 5
    code, out, err = _cli(capsys, "analyze", module_model, "--cost", "flops")
    assert code == 2 and err.count("\n") == 1
    assert "function call(s) remain that Grappler does not inline" in err


@pytest.mark.parametrize("form", ["classic", "functional"])
def test_analyze_frozen_loops_as_written_and_optimized(frozen_graphs, form, capsys):
    path = frozen_graphs[form]
    written = _json(capsys, "analyze", path, "--fetch", "out", "--feed", "x")
    optimized = _json(capsys, "analyze", path, "--fetch", "out", "--feed", "x", "--optimized")
    graph_def = load_graph(path).graph_def
    report = work_span(graph_def, ["out"], ["x"])
    assert written["ops"] == report.op_count and written["span"] == report.span
    if form == "classic":
        kept = {node.op for node in graph_def.node if node.name in report.costs}
        assert {"NextIteration", "Merge", "Exit", "Enter", "Switch"} <= kept  # the back edge kept the body
    optimized_graph = grappler_optimized(graph_def, ["out"], ["x"])
    assert optimized["ops"] == len(optimized_graph.node)
    assert any(node.op in ("Enter", "Merge", "NextIteration") for node in optimized_graph.node) or \
        any(node.op in ("While", "StatelessWhile") for node in optimized_graph.node)


# -- trace: op counts with the function bodies ----------------------------------------------------
def test_trace_counts_ops_inside_functions(keras_models, module_model, tmp_path, capsys):
    np.save(tmp_path / "images.npy", IMAGES)
    traced = _json(capsys, "trace", keras_models[0], "--feed", f"image={tmp_path / 'images.npy'}")
    assert traced["fed_from_files"] == ["image"] and traced["random_inputs"] == 0
    assert traced["ops"][0] > 15  # the outer graph needs 6: a placeholder, 4 handles, one call
    session, fetches, feeds = open_traceable(keras_models[0], feeds={"image": IMAGES})
    with session:
        (metadata,) = run_traced(session, fetches, feeds)
    ops = {node.timeline_label.split(" = ")[-1].split("(")[0]
           for device in metadata.step_stats.dev_stats for node in device.node_stats}
    assert {"Conv2D", "MatMul", "Softmax"} <= ops or any(op.endswith("Conv2D") for op in ops)
    session, fetches, feeds = open_traceable(module_model, feeds={"x": ROWS})
    with session:
        (metadata,) = run_traced(session, fetches, feeds)
        np.testing.assert_allclose(session.run(fetches, feeds)[0], ROWS * 8.0)
    labels = [node.timeline_label for device in metadata.step_stats.dev_stats for node in device.node_stats]
    assert sum(" = NextIteration(" in label for label in labels) >= 3  # the lowered loop ran its body 3 times


@pytest.mark.parametrize("form", ["classic", "functional"])
def test_trace_frozen_loop_with_fed_array(frozen_graphs, form, tmp_path, capsys):
    np.save(tmp_path / "x.npy", ROWS)
    traced = _json(capsys, "trace", frozen_graphs[form], "--fetch", "out",
                   "--feed", f"x={tmp_path / 'x.npy'}")
    analysed = _json(capsys, "analyze", frozen_graphs[form], "--fetch", "out", "--feed", "x")
    assert traced["fed_from_files"] == ["x"]
    if form == "classic":
        assert traced["ops"][0] > analysed["ops"]  # the loop's body ran three times
    session, fetches, feeds = open_traceable(frozen_graphs[form], ["out:0"], feeds={"x": ROWS})
    with session:
        np.testing.assert_allclose(session.run(fetches, feeds)[0], ROWS / 8 * 2.0)  # sum(x / 8) > 0: doubled


# -- checkpoint .meta: analyze, trace (restored), render, export --meta ---------------------------
def test_checkpoint_meta_every_command(checkpoint_meta, tmp_path, capsys):
    meta, expected = checkpoint_meta
    analysed = _json(capsys, "analyze", meta, "--fetch", "y", "--feed", "x")
    assert analysed["critical_path"][-1] == "y" and analysed["ops"] >= 4
    np.save(tmp_path / "x.npy", ROWS)
    traced = _json(capsys, "trace", meta, "--fetch", "y", "--feed", f"x={tmp_path / 'x.npy'}")
    assert traced["ops"][0] >= 3
    session, fetches, feeds = open_traceable(meta, ["y:0"], feeds={"x": ROWS})
    with session:
        # the checkpoint's values (twice the initializer's), restored
        np.testing.assert_allclose(session.run(fetches, feeds)[0], expected, rtol=1e-6)
    code, out, err = _cli(capsys, "render", meta, "-o", tmp_path / "ckpt.svg")
    assert code == 0 and (tmp_path / "ckpt.svg").read_text().startswith("<?xml")
    code, out, err = _cli(capsys, "export", tmp_path / "sm", "--meta", meta, "--input", "x=x:0",
                          "--output", "y=y:0")
    assert code == 0, err
    with load_saved_model(str(tmp_path / "sm")) as loaded:
        np.testing.assert_allclose(run_signature(loaded, {"x": ROWS})["y"], expected, rtol=1e-6)


def test_render_works_on_every_kind(keras_models, module_model, frozen_graphs, tmp_path, capsys):
    sources = [keras_models[0], keras_models[1], module_model, *frozen_graphs.values()]
    for index, source in enumerate(sources):
        target = tmp_path / f"drawing{index}.svg"
        code, out, err = _cli(capsys, "render", source, "-o", target)
        assert code == 0, err
        assert "<svg" in target.read_text()
