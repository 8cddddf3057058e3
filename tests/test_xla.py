"""XLA switches and the cluster report (graphkit.runtime.xla, graphkit.graphs.xla_clusters).

TensorFlow reads its XLA flags once, at a process's first session or eager op,
and this test process has run sessions before: every run that needs
`--tf_xla_cpu_global_jit` or `--tf_xla_clustering_debug` happens in a fresh
`graphkit xla` process. They start together (module fixture) to share the
waiting. Scope and function compilation need no flag and run in this process.
"""

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_mnist_npz
from google.protobuf import text_format
from tensorflow.core.framework import attr_value_pb2, graph_pb2

from graphkit.errors import XlaError
from graphkit.graphs import xla_clusters
from graphkit.graphs.load import load_graph
from graphkit.models import elementwise
from graphkit.models.hello_mnist import XLA_SCOPES, build_hello_mnist
from graphkit.runtime import xla
from graphkit.viz.renderer import draw

v1 = tf.compat.v1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 3000  # floats of the chain in the CLI runs: small, the clusters do not depend on it
CHAIN_TYPES = {"Mul", "AddV2", "Sub", "Maximum", "Minimum", "Abs"}


def _chain_ops(length: int = 16) -> set:
    """Names of the chain's computing ops, as build_elementwise_chain names them."""
    model = elementwise.build_elementwise_chain(size=4, length=length)
    return {op.name for op in model.graph.get_operations() if op.type in CHAIN_TYPES}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The JSON reports of `graphkit xla elementwise` in session, scope and function mode (one
    fresh process, so that the flags are set before TensorFlow reads them); the exit code, stdout
    and stderr of a process that sets the auto-clustering flag too late and of example 01 trained
    with the whole step compiled. The three processes run at once."""
    root = tmp_path_factory.mktemp("xla")
    common = ["--size", str(SIZE), "--json"]
    runs = {
        # XLA reads XLA_FLAGS (--hlo-dir) at its first compilation: in the first run.
        "session": ["--mode", "session", "--dump-dir", str(root / "session_dumps"),
                    "--hlo-dir", str(root / "hlo")],
        "scope": ["--mode", "scope", "--dump-dir", str(root / "scope_dumps"),
                  "--draw", str(root / "scope.dot")],
        "function": ["--mode", "function"],
    }
    chain = elementwise.build_elementwise_chain(size=SIZE)
    tf.io.write_graph(chain.graph.as_graph_def(), str(root), "chain.pb", as_text=False)
    render = ["render", str(root / "chain.pb"), "-o", str(root / "render.dot"), "--color", "xla",
              "--prune-to", "y"]
    script = "from graphkit.cli.main import main\n" + "".join(
        f"print({name!r}, flush=True)\nassert main(['xla', 'elementwise', *{args + common!r}]) == 0\n"
        for name, args in runs.items()) + f"assert main({render!r}) == 0\n" + (
        "import tensorflow as tf\n"
        "from graphkit.models import elementwise\n"
        "from graphkit.runtime import xla\n"
        "model = elementwise.build_elementwise_chain(size=8, build=xla.compile_in_jit_scope)\n"
        "with model.graph.as_default():\n"
        "    init = tf.compat.v1.global_variables_initializer()\n"
        "session = tf.compat.v1.Session(graph=model.graph)\n"
        "session.run(init)\n"
        f"with xla.clustered_graph_dumps({str(root / 'api_dumps')!r}):\n"
        "    session.run(model.outputs['y'])\n")
    late = ("import tensorflow as tf\n"
            "tf.compat.v1.Session().close()\n"
            "from graphkit.runtime import xla\n"
            "xla.enable_xla_flags(auto_clustering=True)\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_XLA_FLAGS", None)
    env.pop("XLA_FLAGS", None)
    data = write_mnist_npz(root / "mnist.npz", train_count=1200, test_count=300)
    example_01 = [os.path.join(ROOT, "examples", "01_hello_mnist.py"), "--dataset", "mnist", "--data", data,
                  "--epochs", "3", "--xla", "step", "--json"]
    processes = {name: subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env)
                 for name, command in (("reports", ["-c", script]), ("late", ["-c", late]),
                                       ("example_01", example_01))}
    done = {name: (process.communicate(timeout=600), process.returncode)
            for name, process in processes.items()}
    (out, err), code = done["reports"]
    assert code == 0, err[-3000:]
    lines = out.strip().splitlines()
    results = {"root": root, "late": (done["late"][1], *done["late"][0]),
               "example_01": (done["example_01"][1], *done["example_01"][0])}
    for name in runs:
        results[name] = json.loads(lines[lines.index(name) + 1])
    return results


def _report(cli_runs, name) -> dict:
    return cli_runs[name]


def _dumped_clusters(directory) -> dict:
    """Cluster -> node names, read straight from the `_XlaCluster` attrs of TensorFlow's dump files."""
    clusters = {}
    for path in glob.glob(os.path.join(directory, "*", "mark_for_compilation*.pbtxt")):
        if "annotated" in os.path.basename(path):
            continue
        graph_def = text_format.Parse(open(path).read(), graph_pb2.GraphDef())
        for node in graph_def.node:
            if "_XlaCluster" in node.attr:
                clusters.setdefault(node.attr["_XlaCluster"].s.decode(), set()).add(node.name)
    return clusters


# -- the three switches, and TensorFlow's own record -----------------------------------------

def test_scope_mode_clusters_the_chain_and_nothing_else(cli_runs):
    report = _report(cli_runs, "scope")
    [cluster] = report["clusters"]
    assert cluster["kind"] == "cluster" and cluster["ran"]
    computing = {op for op in cluster["ops"] if not op.endswith(("/y", "/x"))}
    assert computing == _chain_ops()
    left_out = {op["name"]: op["reason"] for op in report["unclustered"]}
    assert {"x", "y", "Read/ReadVariableOp", "x_data"} <= set(left_out)
    assert "outside every jit scope" in left_out["x"]
    assert report["max_rel_diff"] <= 1e-5


def test_session_mode_clusters_beyond_the_chain(cli_runs):
    report = _report(cli_runs, "session")
    [cluster] = report["clusters"]
    assert cluster["ran"]
    assert _chain_ops() | {"x", "y", "Read/ReadVariableOp"} <= set(cluster["ops"])
    assert "x_data" in {op["name"] for op in report["unclustered"]}  # a variable handle never clusters
    assert report["max_rel_diff"] <= 1e-5


def test_function_mode_compiles_the_whole_function(cli_runs):
    report = _report(cli_runs, "function")
    [cluster] = report["clusters"]
    assert cluster["kind"] == "function" and cluster["ran"]
    assert cluster["name"].startswith("__inference_elementwise_chain")
    call = cluster["ops"][0]
    body_types = cluster["op_types"]
    assert sum(body_types[t] for t in CHAIN_TYPES) == 16
    assert call == "chain/PartitionedCall"
    assert report["dump_files"] == 0 and report["max_rel_diff"] <= 1e-5


@pytest.mark.parametrize("mode", ["scope", "session"])
def test_report_equals_tensorflows_clustering_dump(cli_runs, mode):
    report = _report(cli_runs, mode)
    dumped = _dumped_clusters(cli_runs["root"] / f"{mode}_dumps")
    assert dumped, "TensorFlow wrote no clustering dump"
    assert {c["name"]: set(c["ops"]) for c in report["clusters"]} == dumped


def test_render_color_xla_fills_the_chain(cli_runs):
    drawn = {match.group(1): match.group(2) for match in re.finditer(
        r'^\s*"?([^"\s]+)"? \[(.*)\]$', (cli_runs["root"] / "render.dot").read_text(), re.MULTILINE)}
    assert all("XLA cluster: cluster_" in drawn[op] for op in _chain_ops())
    assert "XLA cluster" in (cli_runs["root"] / "render.dot").read_text().split("legend", 1)[1]


def test_clustered_graph_dumps_writes_one_graphs_decisions(cli_runs):
    dumps = xla_clusters.read_clustering_dumps(str(cli_runs["root"] / "api_dumps"))
    [dump] = dumps
    [(name, ops)] = xla_clusters.clusters_from_attrs(dump.marked).items()
    assert _chain_ops() <= set(ops)


def test_hlo_dump_written(cli_runs):
    texts = glob.glob(str(cli_runs["root"] / "hlo" / "*.txt"))
    assert texts and any("fusion" in open(path).read() for path in texts)


def test_drawing_colours_every_clustered_op(cli_runs):
    report = _report(cli_runs, "session")
    model = elementwise.build_elementwise_chain(size=SIZE)
    loaded = load_graph(model.graph)
    graph_ops = {node.name for node in loaded.graph_def.node}
    groups = {op: c["name"] for c in report["clusters"] for op in c["ops"] if op in graph_ops}
    assert _chain_ops() <= set(groups)
    view, digraph = draw(loaded, color_groups=groups, color_title="XLA cluster")
    nodes = {match.group(1): match.group(2)
             for match in re.finditer(r'^\s*"?([^"\s]+)"? \[(.*)\]$', digraph.source, re.MULTILINE)}
    fills = set()
    for op, cluster in groups.items():
        box = view.box_of[op]
        attrs = nodes[box]
        assert f"XLA cluster: {cluster}" in attrs, (op, box)
        fills.add(re.search(r'fillcolor="([^"]+)"', attrs).group(1))
    assert len(fills) == 1  # one cluster, one colour
    assert "XLA cluster" in digraph.source  # the legend's heading
    drawn = {match.group(1): match.group(2) for match in re.finditer(
        r'^\s*"?([^"\s]+)"? \[(.*)\]$', (cli_runs["root"] / "scope.dot").read_text(), re.MULTILINE)}
    assert all("XLA cluster: cluster_" in drawn[op] for op in _chain_ops())  # `graphkit xla --draw`


# -- results with and without XLA ------------------------------------------------------------

@pytest.mark.parametrize("build", [xla.compile_in_jit_scope, xla.compile_function])
def test_chain_matches_the_plain_graph_and_numpy(build):
    outputs = {}
    for name, builder in (("plain", None), ("xla", build)):
        model = elementwise.build_elementwise_chain(size=5000, build=builder)
        with model.graph.as_default():
            init = v1.global_variables_initializer()
        with v1.Session(graph=model.graph) as session:
            session.run(init)
            for _ in range(xla.WARMUP_RUNS + 1):
                outputs[name], x = session.run([model.outputs["y"], model.inputs["x"]])
    reference = elementwise.chain_numpy(x)
    np.testing.assert_allclose(outputs["plain"], reference, rtol=1e-6)
    np.testing.assert_allclose(outputs["xla"], outputs["plain"], rtol=1e-5)


def test_hello_world_step_matches_with_the_whole_step_compiled():
    rng = np.random.default_rng(0)
    batch = {"x": rng.random((16, 28, 28), dtype=np.float32),
             "labels": rng.integers(0, 10, 16).astype(np.int32)}
    losses = {}
    for name in ("none", "step"):
        model = build_hello_mnist(in_graph_pipeline=False, seed=3)
        if name == "step":
            marked = xla.mark_scopes(model.graph, XLA_SCOPES["step"])
            assert {"dense/matmul", "loss/value"} <= set(marked)
            assert not any("Initializer" in op for op in marked)
            assert not any("Random" in model.graph.get_operation_by_name(op).type for op in marked)
        with model.graph.as_default():
            init = v1.global_variables_initializer()
        feed = {model.inputs["x"]: batch["x"], model.targets["labels"]: batch["labels"]}
        with v1.Session(graph=model.graph) as session:
            session.run(init)
            values = [session.run(model.loss, feed)]
            for _ in range(xla.WARMUP_RUNS + 1):
                session.run(model.train_op, feed)
            values.append(session.run(model.loss, feed))
        losses[name] = np.array(values)
    np.testing.assert_allclose(losses["step"], losses["none"], rtol=1e-5)
    assert losses["none"][1] < losses["none"][0]  # the steps trained


def test_mark_scopes_marks_the_scope_and_confines_the_rest():
    model = build_hello_mnist(in_graph_pipeline=False, seed=1)
    marked = set(xla.mark_scopes(model.graph, XLA_SCOPES["loss"]))
    assert marked and all(op.startswith(("loss/", "gradients/loss/")) for op in marked)
    for op in model.graph.get_operations():
        flag = op.get_attr(xla.COMPILE_ATTR)
        assert flag == (op.name in marked), op.name


# -- bad input -------------------------------------------------------------------------------

def test_op_without_xla_kernel_in_a_jit_scope_is_named():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [3], name="x")
        with pytest.raises(XlaError, match=r"^as_text: op type AsString has no XLA_CPU_JIT kernel"):
            with xla.jit_scope():
                tf.strings.as_string(x * 2.0, name="as_text")


def test_op_without_xla_kernel_in_a_compiled_function_is_named():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [3], name="x")
        with pytest.raises(XlaError, match=r"AsString has no XLA_CPU_JIT kernel.*compile_function\(_to_te"):
            xla.compile_function(_to_text, x)


def _to_text(values):
    return tf.strings.as_string(values * 2.0)


def test_mark_scopes_rejects_unknown_scope_and_uncompilable_op():
    model = build_hello_mnist(in_graph_pipeline=False, seed=1)
    with pytest.raises(XlaError, match=r"^no_such_scope: no op of the graph is in this name scope"):
        xla.mark_scopes(model.graph, ["no_such_scope"])
    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("report"):
            tf.strings.as_string(tf.constant([1.0]), name="text")
    with pytest.raises(XlaError, match=r"^report/text: op type AsString"):
        xla.mark_scopes(graph, ["report"])


def test_flag_set_after_tensorflow_started_is_named(cli_runs):
    code, _, err = cli_runs["late"]
    assert code != 0
    assert ("XlaError: TF_XLA_FLAGS=--tf_xla_cpu_global_jit: TensorFlow read its XLA flags at this "
            "process's first session or eager op") in err


def test_unwritable_dump_dir_is_one_line(tmp_path, capsys):
    from graphkit.cli.main import main

    (tmp_path / "a_file").write_text("not a directory")
    assert main(["xla", "elementwise", "--mode", "scope", "--dump-dir", str(tmp_path / "a_file")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert line.startswith("graphkit xla: error: dump_dir=")
    assert "a_file: cannot write XLA dumps there" in line


def test_check_writable_dir_names_the_setting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(XlaError, match=r"^hlo_dump_dir=.*file.*: cannot write XLA dumps there"):
        xla.check_writable_dir(str(blocker / "sub"), "hlo_dump_dir")
    assert xla.check_writable_dir(str(tmp_path / "new" / "dir")) == str(tmp_path / "new" / "dir")


# -- the report from hand-built protos -------------------------------------------------------

def _node(name, op, cluster=None, compile_flag=None):
    node = graph_pb2.GraphDef().node.add()
    node.name, node.op = name, op
    if cluster:
        node.attr["_XlaCluster"].s = cluster.encode()
    if compile_flag is not None:
        node.attr["_XlaCompile"].CopyFrom(attr_value_pb2.AttrValue(b=compile_flag))
    return node


def _dump(nodes, renamed):
    marked, annotated = graph_pb2.GraphDef(), graph_pb2.GraphDef()
    for node, new_name in zip(nodes, renamed):
        marked.node.add().CopyFrom(node)
        copy = annotated.node.add()
        copy.CopyFrom(node)
        copy.name = new_name
    return xla_clusters.ClusteringDump(0, marked, annotated)


def test_report_from_hand_built_dump_and_partition_graph():
    nodes = [_node("a", "Mul", "cluster_7"), _node("b", "AddV2", "cluster_7"), _node("s", "AsString"),
             _node("off", "Mul", compile_flag=False), _node("_arg_x_0_0", "_Arg"), _node("v", "VarHandleOp")]
    dump = _dump(nodes, ["cluster_7/a", "cluster_7/b", "unclustered/s", "unclustered/off",
                         "unclustered/_arg_x_0_0", "varhandle/v"])
    partition = graph_pb2.GraphDef()
    compile_node = partition.node.add(name="cluster_7_1/xla_compile", op="_XlaCompile")
    compile_node.attr["function"].func.name = "cluster_7"
    partition.node.add(name="cluster_7_1/xla_run", op="_XlaRun")
    report = xla_clusters.cluster_report([dump], [partition], no_xla_kernel={"AsString", "VarHandleOp"})
    [cluster] = report.clusters
    assert (cluster.name, cluster.ops, cluster.ran) == ("cluster_7", ("a", "b"), True)
    assert dict(cluster.op_types) == {"Mul": 1, "AddV2": 1}
    reasons = {op.name: op.reason for op in report.unclustered}
    assert reasons == {"s": "no XLA_CPU_JIT kernel registered for AsString",
                       "off": "_XlaCompile=false (a scope with compilation off)",
                       "_arg_x_0_0": "_Arg: a feed or fetch of the session run",
                       "v": "no XLA_CPU_JIT kernel registered for VarHandleOp"}
    assert report.cluster_of == {"a": "cluster_7", "b": "cluster_7"}
    assert report.graph_op_groups({"a", "zzz"}) == {"a": "cluster_7"}
    not_run = xla_clusters.cluster_report([dump], [])
    assert not not_run.clusters[0].ran


def test_report_rejects_a_dump_whose_names_and_attrs_disagree():
    dump = _dump([_node("a", "Mul", "cluster_1"), _node("b", "Mul")], ["cluster_1/a", "cluster_1/b"])
    with pytest.raises(XlaError, match="annotated names and the _XlaCluster attrs disagree"):
        xla_clusters.cluster_report([dump])
    bad = _dump([_node("a", "Mul")], ["a"])
    with pytest.raises(XlaError, match=r"^a: expected cluster_N/<op>"):
        xla_clusters.cluster_report([bad])


def test_read_clustering_dumps_pairs_files_by_index(tmp_path):
    graph_def = graph_pb2.GraphDef()
    graph_def.node.add().CopyFrom(_node("a", "Mul", "cluster_0"))
    annotated = graph_pb2.GraphDef()
    annotated.node.add().CopyFrom(_node("cluster_0/a", "Mul", "cluster_0"))
    for suffix in ("", "_2"):
        (tmp_path / f"mark_for_compilation{suffix}.pbtxt").write_text(text_format.MessageToString(graph_def))
        (tmp_path / f"mark_for_compilation_annotated{suffix}.pbtxt").write_text(
            text_format.MessageToString(annotated))
    (tmp_path / "before_mark_for_compilation.pbtxt").write_text("")
    dumps = xla_clusters.read_clustering_dumps(str(tmp_path))
    assert [d.index for d in dumps] == [0, 2]
    report = xla_clusters.cluster_report(dumps)
    assert [c.name for c in report.clusters] == ["cluster_0", "cluster_0@2"]
    (tmp_path / "mark_for_compilation_5.pbtxt").write_text(text_format.MessageToString(graph_def))
    with pytest.raises(XlaError, match="clustering dump 5 lacks"):
        xla_clusters.read_clustering_dumps(str(tmp_path))
    with pytest.raises(XlaError, match="no such directory"):
        xla_clusters.read_clustering_dumps(str(tmp_path / "missing"))



def test_example_01_trains_with_the_whole_step_compiled(cli_runs):
    code, out, err = cli_runs["example_01"]
    assert code == 0, err[-2000:]
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["xla"] == "step" and figures["test_accuracy"] > 0.95
    assert re.search(r"XLA compiles \d+ ops of the step", out)
