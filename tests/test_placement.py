"""Placement: policies, the report read from partition graphs and step stats, TensorFlow's own
placement log, the partition drawing, `graphkit place`, `render --color device`, example 04."""

import collections
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import Drawing
from tensorflow.core.framework import graph_pb2, types_pb2
from tensorflow.core.protobuf import config_pb2

from graphkit.cli import main as cli
from graphkit.errors import PlacementError
from graphkit.graphs import placement as gp
from graphkit.graphs.write import write_graph_def
from graphkit.runtime import placement as rp
from graphkit.runtime.placed_run import PlacedStep, open_placed_step, requested_cpu_count, run_placed_step
from graphkit.viz import reports
from graphkit.viz.partitions import partition_view, write_partitions

v1 = tf.compat.v1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU0 = "/job:localhost/replica:0/task:0/device:CPU:0"
CPU1 = "/job:localhost/replica:0/task:0/device:CPU:1"
BATCH = 256
# placer.cc LogDeviceAssignment: printf("%s: (%s): %s\n", name, type, assigned device) on stdout, and the
# same text through LOG(INFO) on stderr after a "... placer.cc:NNN] " prefix (TF_CPP_MIN_LOG_LEVEL=0).
PLACEMENT_LINE = re.compile(
    r"(?:^|\] )(?P<name>[^\s:()][^:]*): \((?P<op>[A-Za-z0-9_]+)\): (?P<device>/job:\S+)$")


def two_layer_graph_def(batch=BATCH):
    """first/ on CPU:0 computes a [batch, 512] float32 `first/hidden`; second/ on CPU:1 reads it."""
    policy = rp.scope_policy([("first", rp.cpu_device(0)), ("second", rp.cpu_device(1))])
    graph = tf.Graph()
    with graph.as_default(), graph.device(rp.device_function(policy)):
        x = v1.placeholder(tf.float32, [batch, 64], name="x")
        with tf.name_scope("first"):
            hidden = tf.nn.relu(tf.matmul(x, tf.constant(np.full([64, 512], 0.5, np.float32))), name="hidden")
        with tf.name_scope("second"):
            tf.reduce_sum(tf.matmul(hidden, tf.constant(np.ones([512, 3], np.float32))), name="out")
    return graph.as_graph_def()


@pytest.fixture(scope="module")
def two_layer_run():
    graph_def = two_layer_graph_def()
    feeds = {"x:0": np.random.default_rng(1).random([BATCH, 64], dtype=np.float32)}
    step = PlacedStep("two_layer", graph_def, ("second/out:0",), feeds, (), 2, "scope")
    placed = run_placed_step(step)
    return placed, gp.placement_report(placed.graph_def, placed.run_metadata)


@pytest.fixture(scope="module")
def round_robin_run():
    step = open_placed_step("hello_mnist", 2, "round-robin", batch=16)
    placed = run_placed_step(step)
    return step, placed, gp.placement_report(placed.graph_def, placed.run_metadata)


# -- policies -------------------------------------------------------------------------------------

def test_scope_policy_matches_scopes_globs_and_gradients():
    policy = rp.scope_policy([("dense_1", "/device:CPU:1"), ("drop*", "/device:CPU:2")], default="/cpu:0")
    assert policy("dense_1/MatMul") == "/device:CPU:1"
    assert policy("dense_1") == "/device:CPU:1"
    assert policy("gradients/dense_1/MatMul_grad/MatMul") == "/device:CPU:1"
    assert policy("gradients_3/dense_1/x") == "/device:CPU:1"
    assert policy("dense_10/MatMul") == "/cpu:0"            # a scope, not a prefix of the name
    assert policy("dropout/mask") == "/device:CPU:2"
    assert rp.scope_policy([("a", "/device:CPU:0")])("b") is None
    with pytest.raises(PlacementError, match="device 'gpu0': not a device name"):
        rp.scope_policy([("a", "gpu0")])


def test_parse_rule():
    assert rp.parse_rule("dense_1=1") == ("dense_1", "/device:CPU:1")
    assert rp.parse_rule(" tower_* = /device:CPU:0 ") == ("tower_*", "/device:CPU:0")
    for bad in ("dense_1", "=1", "dense_1="):
        with pytest.raises(PlacementError, match="expected PATTERN=DEVICE"):
            rp.parse_rule(bad)


def test_round_robin_puts_layers_on_devices_in_turn_and_keeps_colocation_groups():
    step = open_placed_step("hello_mnist", 2, "round-robin", batch=4)
    requested = {node.name: node.device for node in step.graph_def.node}
    assert rp.layer_scopes(step.graph_def)[:2] == ["dense", "dense_1"]
    assert requested["dense/matmul"] == "/device:CPU:0" and requested["dense_1/matmul"] == "/device:CPU:1"
    assert requested["gradients/dense_1/matmul_grad/MatMul"] == "/device:CPU:1"
    # Adam's update of dense_1/kernel is colocated with the variable (_class: loc:@dense_1/kernel).
    update = next(node for node in step.graph_def.node if node.op == "ResourceApplyAdam"
                  and "dense_1/kernel" in node.name)
    assert update.device == "/device:CPU:1"
    for node in step.graph_def.node:
        for value in node.attr["_class"].list.s if "_class" in node.attr else ():
            assert node.device == requested[value.decode()[len("loc:@"):]]


def test_towers_policy_and_its_errors():
    step = open_placed_step("hello_mnist", 3, "towers", batch=6)
    requested = {node.name: node.device for node in step.graph_def.node}
    assert requested["tower_2/dense/matmul"] == "/device:CPU:2"
    assert requested["gradients/tower_1/dense_1/matmul_grad/MatMul"] == "/device:CPU:1"
    with pytest.raises(PlacementError, match="no tower_<k> name scopes"):
        rp.towers_policy(two_layer_graph_def(8), 2)
    with pytest.raises(PlacementError, match="no layers"):
        rp.round_robin_policy(two_layer_graph_def(8), 2)
    with pytest.raises(PlacementError, match="policy: expected one of"):
        rp.policy_for("diagonal", two_layer_graph_def(8), 2)
    with pytest.raises(PlacementError, match=r"devices: expected an int in 1\.\.64, got 0"):
        open_placed_step("hello_mnist", 0, "towers")


def test_device_names_parse_and_match():
    assert gp.device_matches("/device:CPU:1", CPU1) and gp.device_matches("/cpu:1", CPU1)
    assert not gp.device_matches("/device:CPU:1", CPU0)
    assert gp.device_matches("", CPU0) and gp.device_matches("/job:localhost", CPU0)
    assert not gp.device_matches("/job:worker/device:CPU:0", CPU0)
    assert gp.short_device(CPU1) == "CPU:1"
    with pytest.raises(PlacementError, match="device 'CPU-1': not a device name"):
        gp.parse_device("CPU-1")
    graph_def = two_layer_graph_def(8)
    assert requested_cpu_count(graph_def) == 2
    rp.check_devices(graph_def, [CPU0, CPU1], soft_placement=False)
    with pytest.raises(PlacementError, match=r"requested device /device:CPU:1 does not exist; this process "
                                             r"has CPU:0 \(soft placement"):
        rp.check_devices(graph_def, [CPU0], soft_placement=False)
    rp.check_devices(graph_def, [CPU0], soft_placement=True)


# -- the report from hand-built protos --------------------------------------------------------------

def _send_recv(graph, name, op, tensor_name, send_device, recv_device, source=None):
    node = graph.node.add(name=name, op=op, device=send_device if op == "_Send" else recv_device)
    if source:
        node.input.append(source)
    node.attr["tensor_name"].s = tensor_name.encode()
    node.attr["send_device"].s = send_device.encode()
    node.attr["recv_device"].s = recv_device.encode()
    node.attr["T"].type = types_pb2.DT_FLOAT
    return node


def hand_built_run():
    """a [256,512] float32 and s (a string, 100 bytes allocated) cross CPU:0 -> CPU:1; u: no stats."""
    graph_def = graph_pb2.GraphDef()
    for name, op, device in (("a", "MatMul", "/device:CPU:0"), ("s", "Const", ""), ("u", "Const", ""),
                             ("b", "Relu", "/device:CPU:1"), ("c", "Relu", "/device:CPU:1"),
                             ("x", "Placeholder", "")):
        graph_def.node.add(name=name, op=op, device=device)
    metadata = config_pb2.RunMetadata()
    first = metadata.partition_graphs.add()
    first.node.add(name="a", op="_MklMatMul", device=CPU0, input=["_arg_x_0_0"])
    first.node.add(name="_arg_x_0_0", op="_Arg", device=CPU0)
    first.node.add(name="s", op="Const", device=CPU0)
    first.node.add(name="u", op="Const", device=CPU0)
    _send_recv(first, "a/_0", "_Send", "edge_1_a", CPU0, CPU1, "a")
    _send_recv(first, "s/_2", "_Send", "edge_2_s", CPU0, CPU1, "s")
    _send_recv(first, "u/_4", "_Send", "edge_3_u", CPU0, CPU1, "u:0")
    second = metadata.partition_graphs.add()
    second.node.add(name="b", op="Relu", device=CPU1, input=["a/_1"])
    _send_recv(second, "a/_1", "_Recv", "edge_1_a", CPU0, CPU1)
    _send_recv(second, "s/_3", "_Recv", "edge_2_s", CPU0, CPU1)
    _send_recv(second, "u/_5", "_Recv", "edge_3_u", CPU0, CPU1)
    dev = metadata.step_stats.dev_stats.add(device=CPU0)
    out = dev.node_stats.add(node_name="a").output.add(slot=0)
    out.tensor_description.dtype = types_pb2.DT_FLOAT
    for size in (256, 512):
        out.tensor_description.shape.dim.add(size=size)
    out.tensor_description.allocation_description.requested_bytes = 999  # the shape wins when it is known
    text = dev.node_stats.add(node_name="s").output.add(slot=0)
    text.tensor_description.dtype = types_pb2.DT_STRING
    text.tensor_description.allocation_description.requested_bytes = 100
    return graph_def, metadata


def test_report_from_hand_built_protos():
    graph_def, metadata = hand_built_run()
    report = gp.placement_report(graph_def, metadata)
    by_name = {op.name: op for op in report.ops}
    assert by_name["a"] == gp.OpPlacement("a", "MatMul", "/device:CPU:0", CPU0, gp.RAN, "_MklMatMul")
    assert by_name["b"].actual == CPU1 and by_name["b"].requested == "/device:CPU:1"
    assert by_name["c"].status == gp.NOT_RUN and by_name["c"].actual == ""
    assert by_name["x"].status == gp.FED and by_name["x"].actual == CPU0
    assert report.actual_devices() == {"a": CPU0, "s": CPU0, "u": CPU0, "b": CPU1}
    assert report.device_groups()["x"] == "CPU:0"
    transfers = {t.tensor: t for t in report.transfers}
    assert transfers["a:0"].bytes == 256 * 512 * 4 == 524288
    assert transfers["a:0"].shape == (256, 512) and transfers["a:0"].dtype == "float32"
    assert (transfers["a:0"].send_op, transfers["a:0"].recv_op, transfers["a:0"].key) == ("a/_0", "a/_1",
                                                                                          "edge_1_a")
    assert transfers["s:0"].bytes == 100 and transfers["s:0"].dtype == "string"
    assert transfers["u:0"].bytes is None and transfers["u:0"].dtype == "float32"  # from the _Send's T
    assert report.bytes_per_step == 524388 and report.unknown_transfers == 1
    assert report.links == (gp.DeviceLink(CPU0, CPU1, 3, 524388),)
    assert [(p.device, p.graph_ops, p.sends, p.recvs) for p in report.partitions] == [
        (CPU0, 3, 3, 0), (CPU1, 1, 0, 3)]
    assert report.moved == ()
    text = reports.format_placement(report)
    assert "bytes moved per step: 524,388 (1 of unknown size)" in text
    assert "link CPU:0 -> CPU:1: 3 tensor(s), 524,388 bytes" in text


def test_report_errors():
    graph_def, metadata = hand_built_run()
    with pytest.raises(PlacementError, match="holds no partition graphs"):
        gp.placement_report(graph_def, config_pb2.RunMetadata())
    del metadata.partition_graphs[1].node[1:]  # drop the _Recvs
    with pytest.raises(PlacementError, match="_Send of 'edge_1_a' from .*CPU:0 to .*CPU:1 has no _Recv"):
        gp.placement_report(graph_def, metadata)


# -- real runs --------------------------------------------------------------------------------------

def test_two_device_send_recv_pair_and_bytes(two_layer_run):
    placed, report = two_layer_run
    assert report.devices == (CPU0, CPU1)
    actual = report.actual_devices()
    assert actual["first/hidden"] == CPU0 and actual["second/out"] == CPU1
    hidden = [t for t in report.transfers if t.tensor == "first/hidden:0"]
    assert len(hidden) == 1
    transfer = hidden[0]
    assert (transfer.send_device, transfer.recv_device) == (CPU0, CPU1)
    assert transfer.bytes == BATCH * 512 * 4 == 524288 and transfer.shape == (BATCH, 512)
    # The pair is in the partition graphs TensorFlow ran, joined by one rendezvous key.
    nodes = {node.name: node for graph in placed.run_metadata.partition_graphs for node in graph.node}
    send, recv = nodes[transfer.send_op], nodes[transfer.recv_op]
    assert (send.op, recv.op) == ("_Send", "_Recv") and send.input[0] == "first/hidden"
    for node in (send, recv):
        assert node.attr["tensor_name"].s.decode() == transfer.key
        assert node.attr["send_device"].s.decode() == CPU0 and node.attr["recv_device"].s.decode() == CPU1
    # The fetched scalar goes back to the client's device: 4 bytes CPU:1 -> CPU:0.
    back = [t for t in report.transfers if t.tensor == "second/out:0"]
    assert [(t.send_device, t.recv_device, t.bytes) for t in back] == [(CPU1, CPU0, 4)]
    assert report.bytes_per_step == 524288 + 4 and len(report.transfers) == 2


def test_round_robin_hello_mnist_moves_activations_and_their_gradients(round_robin_run):
    _, _, report = round_robin_run
    actual = report.actual_devices()
    assert actual["dense/matmul/ReadVariableOp"] == CPU0 and actual["dense_1/kernel"] == CPU1
    sizes = {(t.tensor, gp.short_device(t.send_device)): t.bytes for t in report.transfers}
    assert sizes[("dropout/output:0", "CPU:0")] == 16 * 512 * 4
    assert sizes[("gradients/dense_1/matmul_grad/tuple/control_dependency:0", "CPU:1")] == 16 * 512 * 4
    assert report.bytes_per_step == sum(t.bytes for t in report.transfers)


def test_report_agrees_with_tensorflows_placement_log(tmp_path):
    """The actual device of every op equals what TensorFlow's placer prints with log_device_placement."""
    out = tmp_path / "actual.json"
    script = (
        "import json, sys\n"
        "from graphkit.quiet import import_tensorflow\n"
        "import_tensorflow()\n"
        "from graphkit.graphs.placement import placement_report\n"
        "from graphkit.runtime.placed_run import open_placed_step, run_placed_step\n"
        "step = open_placed_step('hello_mnist', 2, 'towers', batch=8)\n"
        "placed = run_placed_step(step, log_device_placement=True)\n"
        "report = placement_report(placed.graph_def, placed.run_metadata)\n"
        "json.dump({'actual': report.actual_devices(), 'moved': [op.name for op in report.moved]},\n"
        "          open(sys.argv[1], 'w'))\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    logged = {"stdout": collections.defaultdict(set), "stderr": collections.defaultdict(set)}
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        for line in text.splitlines():
            match = PLACEMENT_LINE.search(line.strip())
            if match:
                logged[stream][match.group("name")].add(match.group("device"))
    result = json.loads(out.read_text())
    actual, moved = result["actual"], result["moved"]
    printed = logged["stdout"]
    assert len(actual) > 100 and set(actual.values()) == {CPU0, CPU1}
    assert moved  # towers: tower_1's variable reads were asked onto CPU:1 and ran beside their variable
    for name, device in actual.items():
        assert printed[name] == {device}, name
    for name, device in actual.items():  # the LOG(INFO) copy on stderr says the same
        assert logged["stderr"][name] == {device}, name


def test_partition_drawing_has_a_cluster_per_device_and_the_transfers(two_layer_run, tmp_path):
    placed, report = two_layer_run
    drawing = write_partitions(placed.run_metadata.partition_graphs, report, str(tmp_path / "p.svg"))
    svg = Drawing(tmp_path / "p.svg")
    assert sorted(svg.clusters) == ["cluster_CPU_0", "cluster_CPU_1"]
    assert svg.texts(svg.clusters["cluster_CPU_1"])[0].startswith(CPU1)
    for transfer in report.transfers:
        tail = f"{gp.short_device(transfer.send_device).replace(':', '_')}/{transfer.send_op}"
        head = f"{gp.short_device(transfer.recv_device).replace(':', '_')}/{transfer.recv_op}"
        label = svg.texts(svg.edges[f"{tail}->{head}"][0])
        assert label == [transfer.tensor, f"{transfer.bytes:,} B"]
    cross = drawing.view.cross_device_edges
    assert len(cross) == len(report.transfers) == 2
    assert all(edge.tail.split("/")[0] != edge.head.split("/")[0] for edge in cross)
    local = [edge for edge in drawing.view.edges if not edge.cross_device]
    assert local and all(edge.tail.split("/")[0] == edge.head.split("/")[0] for edge in local)


def test_partition_view_collapses_scopes_but_keeps_send_and_recv(round_robin_run):
    _, placed, report = round_robin_run
    view = partition_view(placed.run_metadata.partition_graphs, report, depth=1)
    assert view.depth == 1 and len(view.cross_device_edges) == len(report.transfers)
    kinds = collections.Counter(box.kind for box in view.boxes)
    assert kinds["send"] == kinds["recv"] == len(report.transfers)
    nodes = sum(len(graph.node) for graph in placed.run_metadata.partition_graphs)
    assert sum(box.ops for box in view.boxes) == nodes
    auto = partition_view(placed.run_metadata.partition_graphs, report, max_boxes=80)
    assert len(auto.boxes) <= 80


# -- the command line ---------------------------------------------------------------------------------

def test_cli_place_json(capsys, tmp_path):
    code = cli.main(["place", "hello_mnist", "--devices", "2", "--policy", "round-robin", "--batch", "8",
                     "--partitions", str(tmp_path / "p.dot"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out.strip().splitlines()[-1])
    assert record["ops"]["dense_1/kernel"]["actual"] == CPU1
    assert record["ops"]["dense_1/kernel"]["requested"] == "/device:CPU:1"
    assert record["ops"]["x"]["status"] == "fed"
    sizes = {t["tensor"]: t["bytes"] for t in record["transfers"] if t["from"] == CPU0}
    assert sizes["dropout/output:0"] == 8 * 512 * 4
    assert record["bytes_per_step"] == sum(t["bytes"] for t in record["transfers"])
    assert "cluster_CPU_1" in (tmp_path / "p.dot").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--policy", "scope", "--rule", "dense_1=/device:CPU:7"],
     "requested device /device:CPU:7 does not exist; this process has CPU:0, CPU:1"),
    (["--policy", "scope", "--rule", "dense_1=/device:QPU:x"], "device '/device:QPU:x': not a device name"),
    (["--policy", "scope"], "scope: expected at least one PATTERN=DEVICE rule"),
    (["--devices", "0"], "devices: expected an int in 1..64, got 0"),
    (["--partitions", "p.svg", "--depth", "0"], "--depth: expected an int >= 1, got 0"),
])
def test_cli_place_bad_input_is_one_line(capsys, argv, message):
    code = cli.main(["place", "hello_mnist", "--devices", "2", "--batch", "4", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_cli_place_table_lists_ops_with_both_devices(capsys):
    code = cli.main(["place", "hello_mnist", "--devices", "2", "--batch", "4", "--ops"])
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("dense")}
    assert rows["dense_1/kernel"] == ["VarHandleOp", "/device:CPU:1", "CPU:1"]
    assert rows["dense/kernel"] == ["VarHandleOp", "/device:CPU:0", "CPU:0"]
    assert "_Send/_Recv pairs: " in out and "link CPU:0 -> CPU:1: " in out


def test_cli_place_unknown_model_is_one_line(capsys, tmp_path):
    code = cli.main(["place", str(tmp_path / "hello_mnst"), "--devices", "2"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "hello_mnst: no such file or directory (MODEL is hello_mnist or a GraphDef" in err


def test_cli_soft_placement_runs_what_the_device_lacks_elsewhere(capsys):
    code = cli.main(["place", "hello_mnist", "--devices", "2", "--batch", "4", "--policy", "scope",
                     "--rule", "dense_1=7", "--soft-placement", "--json"])
    out, err = capsys.readouterr()
    record = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and "dense_1/kernel" in record["moved"]
    assert record["ops"]["dense_1/kernel"]["requested"] == "/device:CPU:7"
    assert record["ops"]["dense_1/kernel"]["actual"] == CPU0


def test_cli_place_saved_model_fetches_its_signature_outputs(capsys, tmp_path):
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.serving.export import export_saved_model

    model = build_hello_mnist(in_graph_pipeline=False, seed=0, hidden=32)
    with v1.Session(graph=model.graph) as session:
        session.run(v1.global_variables_initializer())
        export_saved_model(session, model, str(tmp_path / "sm"))
    code = cli.main(["place", str(tmp_path / "sm"), "--devices", "2", "--batch", "4", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out.strip().splitlines()[-1])
    assert sorted(record["fetches"]) == ["dense_1/bias_add:0", "probabilities:0"]
    assert record["ops"]["dense_1/kernel"]["actual"] == CPU1
    assert {t["tensor"]: t["bytes"] for t in record["transfers"]}["dropout/output:0"] == 4 * 32 * 4


def test_render_color_device_fills_ops_by_the_device_they_ran_on(capsys, tmp_path):
    graph_path = str(tmp_path / "two_layer.pb")
    write_graph_def(two_layer_graph_def(8), graph_path)
    target = tmp_path / "placed.svg"
    code = cli.main(["render", graph_path, "-o", str(target), "--color", "device", "--prune-to", "second/out",
                     "--depth", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    drawing = Drawing(target)
    legend = {drawing.texts(node)[0]: drawing.fill(node) for title, node in drawing.nodes.items()
              if title.startswith("[legend] ")}
    assert sorted(legend) == ["CPU:0", "CPU:1"] and legend["CPU:0"] != legend["CPU:1"]
    assert drawing.fill(drawing.nodes["first/hidden"]) == legend["CPU:0"]
    assert drawing.fill(drawing.nodes["second/out"]) == legend["CPU:1"]


def test_example_04_json(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "04_device_placement.py"),
                           "--batch", "8", "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    cases = {case["case"]: case for case in record["cases"]}
    assert cases["two_layer"]["hidden_bytes"] == cases["two_layer"]["hidden_expected"] == 8 * 512 * 4
    assert set(cases["hello_mnist towers"]["ops_per_device"]) == {"CPU:0", "CPU:1"}
    assert "does not exist" in cases["soft placement"]["refused_without"]
    assert cases["soft placement"]["moved"] > 0
    assert "bytes/step" in done.stdout
