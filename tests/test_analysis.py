"""graphkit.graphs.work_span: levels, work/span and critical path on graphs with known answers."""

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from graphkit.cli.main import main as cli_main
from graphkit.errors import AnalysisError
from graphkit.graphs import work_span as analysis
from graphkit.graphs.write import write_graph_def
from graphkit.viz import reports

v1 = tf.compat.v1


def hand_graph(edges: dict) -> graph_pb2.GraphDef:
    """A GraphDef of NoOps: name -> list of input strings, in the given order."""
    graph_def = graph_pb2.GraphDef()
    for name, inputs in edges.items():
        node = graph_def.node.add(name=name, op="NoOp")
        node.input.extend(inputs)
    return graph_def


def test_chain_is_fully_sequential():
    report = analysis.work_span(hand_graph({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}))
    assert report.levels == (("a",), ("b",), ("c",), ("d",))
    assert (report.work, report.span) == (4.0, 4.0)
    assert report.critical_path == ("a", "b", "c", "d")
    assert report.parallelism == 1.0
    assert report.speedup_bound(4) == 1.0
    assert report.brent_time(2) == 4 / 2 + 4
    assert report.brent_speedup(2) == pytest.approx(4 / 6)
    assert report.graph_form == analysis.GRAPH_AS_WRITTEN and report.cost_model == "unit"


def test_diamond_has_a_level_of_two():
    report = analysis.work_span(hand_graph({"a": [], "b": ["a"], "c": ["a:1"], "d": ["b", "^c"]}))
    assert report.levels == (("a",), ("b", "c"), ("d",))
    assert (report.widest_level, report.width) == (1, 2)
    assert (report.work, report.span) == (4.0, 3.0)
    assert report.critical_path[0] == "a" and report.critical_path[-1] == "d"
    assert report.critical_path[1] in ("b", "c") and len(report.critical_path) == 3
    assert report.speedup_bound(8) == pytest.approx(4 / 3)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_k_wide_fan(k):
    edges = {"source": []}
    edges.update({f"branch_{i}": ["source"] for i in range(k)})
    edges["join"] = [f"branch_{i}" for i in range(k)]
    report = analysis.work_span(hand_graph(edges))
    assert len(report.levels) == 3 and report.width == k and report.levels[2] == ("join",)
    assert (report.work, report.span) == (k + 2.0, 3.0)
    for workers in (1, 2, 4, 16):
        assert report.speedup_bound(workers) == pytest.approx(min(workers, (k + 2) / 3))
        assert report.brent_speedup(workers) == pytest.approx((k + 2) / ((k + 2) / workers + 3))
        assert report.brent_speedup(workers) <= report.speedup_bound(workers) + 1e-12


def test_measured_costs_weight_the_diamond():
    graph_def = hand_graph({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"]})
    report = analysis.work_span(graph_def, cost="measured", measured_costs={"a": 1, "b": 5, "c": 2, "d": 1})
    assert (report.work, report.span) == (9.0, 7.0)
    assert report.critical_path == ("a", "b", "d", "e") and report.unknown_cost_ops == ("e",)
    assert report.cost_model == "measured" and report.costs["e"] == 0.0
    with pytest.raises(AnalysisError, match="measured_costs"):
        analysis.work_span(graph_def, cost="measured")
    with pytest.raises(AnalysisError, match="measured_costs"):
        analysis.work_span(graph_def, measured_costs={"a": 1})


def test_fetches_prune_unrelated_ops():
    report = analysis.work_span(hand_graph({"a": [], "b": ["a"], "other": [], "sink2": ["other"]}), ["b:0"])
    assert report.op_count == 2 and report.levels == (("a",), ("b",))
    assert analysis.sink_ops(hand_graph({"a": [], "b": ["a"], "c": []})) == ["b", "c"]


def test_feeds_cut_what_they_depend_on():
    graph_def = hand_graph({"source": [], "expensive": ["source"], "x": ["expensive"], "y": ["x"]})
    graph_def.node[2].op = "PlaceholderWithDefault"
    report = analysis.work_span(graph_def, ["y"], ["x:0"])
    assert report.levels == (("x",), ("y",))
    pruned = analysis.prune(graph_def, ["y"], ["x"])
    assert [(node.name, node.op, list(node.input)) for node in pruned.node] == [
        ("x", "Placeholder", []), ("y", "NoOp", ["x"])]
    assert graph_def.node[2].op == "PlaceholderWithDefault"  # the input is not modified
    with pytest.raises(AnalysisError, match="feed 'ghost'"):
        analysis.work_span(graph_def, ["y"], ["ghost"])


def test_grappler_sees_fed_defaults_as_placeholders():
    graph = tf.Graph()
    with graph.as_default():
        source = v1.placeholder(tf.float32, [4, 4], name="source")
        x = v1.placeholder_with_default(tf.matmul(source, source, name="default"), [4, 4], name="x")
        tf.nn.relu(x, name="y")
    graph_def = graph.as_graph_def()
    optimized = analysis.grappler_optimized(graph_def, ["y"], feeds=["x:0"])
    assert {node.name for node in optimized.node} == {"x", "y"}
    assert "default" in {node.name for node in analysis.grappler_optimized(graph_def, ["y"]).node}


def test_while_loop_back_edge_is_not_a_cycle():
    graph_def = hand_graph({"enter": [], "merge": ["enter", "next"], "switch": ["merge"],
                            "body": ["switch:1"], "next": ["body"], "exit": ["switch"]})
    for node in graph_def.node:
        node.op = {"merge": "Merge", "next": "NextIteration"}.get(node.name, "NoOp")
    report = analysis.work_span(graph_def)
    assert report.levels[:2] == (("enter",), ("merge",))
    assert report.critical_path == ("enter", "merge", "switch", "body", "next")  # one iteration


def test_bad_graphs_and_arguments_raise():
    with pytest.raises(AnalysisError, match="cycle"):
        analysis.work_span(hand_graph({"a": ["b"], "b": ["a"]}))
    with pytest.raises(AnalysisError, match="b: input 'ghost:0' names no node"):
        analysis.work_span(hand_graph({"a": [], "b": ["ghost:0"]}))
    with pytest.raises(AnalysisError, match="cost"):
        analysis.work_span(hand_graph({"a": []}), cost="seconds")
    with pytest.raises(AnalysisError, match="fetch 'nope'"):
        analysis.work_span(hand_graph({"a": []}), ["nope"])
    report = analysis.work_span(hand_graph({"a": []}))
    with pytest.raises(AnalysisError, match="workers"):
        report.speedup_bound(0)
    with pytest.raises(AnalysisError, match="fetches"):
        analysis.grappler_optimized(hand_graph({"a": []}), [])
    with pytest.raises(AnalysisError, match="partition graphs"):
        analysis.merge_partition_graphs(v1.RunMetadata())


def two_branch_matmuls(batch=8):
    """x[batch,16] -> 2 matmuls (16->32->32) on one branch, 1 matmul (16->64) on the other."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [batch, 16], name="x")
        w1 = tf.constant(np.ones((16, 32), np.float32), name="w1")
        w2 = tf.constant(np.ones((32, 32), np.float32), name="w2")
        w3 = tf.constant(np.ones((16, 64), np.float32), name="w3")
        long_branch = tf.matmul(tf.matmul(x, w1, name="long_1"), w2, name="long_2")
        short_branch = tf.matmul(x, w3, name="short")
        tf.concat([long_branch, short_branch], axis=1, name="out")
    return graph


def test_flop_costs_match_matmul_arithmetic():
    report = analysis.work_span(two_branch_matmuls().as_graph_def(), ["out"], cost="flops")
    assert report.costs["long_1"] == 2 * 8 * 16 * 32
    assert report.costs["long_2"] == 2 * 8 * 32 * 32
    assert report.costs["short"] == 2 * 8 * 16 * 64
    assert report.costs["w1"] == 0 and report.unknown_cost_ops == ()
    assert report.work == 2 * 8 * (16 * 32 + 32 * 32 + 16 * 64)
    assert report.span == 2 * 8 * (16 * 32 + 32 * 32)
    assert "long_1" in report.critical_path and "short" not in report.critical_path


def test_unknown_batch_dims_are_reported_or_filled():
    graph_def = two_branch_matmuls(batch=None).as_graph_def()
    unknown = analysis.work_span(graph_def, ["out"], cost="flops")
    assert set(unknown.unknown_cost_ops) >= {"long_1", "long_2", "short"} and unknown.work == 0
    filled = analysis.work_span(graph_def, ["out"], cost="flops", unknown_dim=8)
    assert filled.unknown_cost_ops == () and filled.costs["short"] == 2 * 8 * 16 * 64


def cse_graph():
    """Two identical branches and a constant expression: Grappler merges and folds them."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [4, 4], name="x")
        w = tf.constant(np.eye(4, dtype=np.float32), name="w")
        scale = tf.multiply(tf.constant(2.0), tf.constant(3.0), name="scale")
        left = tf.matmul(x, w, name="left")
        right = tf.matmul(x, w, name="right")
        tf.multiply(tf.add(left, right), scale, name="out")
    return graph


def test_grappler_merges_identical_branches_and_says_so():
    graph_def = cse_graph().as_graph_def()
    written = analysis.work_span(graph_def, ["out"])
    optimized_def = analysis.grappler_optimized(graph_def, ["out"])
    optimized = analysis.work_span(optimized_def, ["out"], graph_form=analysis.GRAPH_OPTIMIZED)
    assert written.graph_form == "as written" and optimized.graph_form == "optimised by Grappler"
    matmuls = [node.name for node in optimized_def.node if node.op == "MatMul"]
    assert len(matmuls) == 1  # CSE kept one of left/right
    assert "scale" not in {node.name for node in optimized_def.node if node.op == "Mul"}  # folded
    assert optimized.op_count < written.op_count
    assert written.width >= 2 and "as written" in reports.format_work_span(written)


def test_partition_graphs_of_a_run_can_be_analysed():
    graph = two_branch_matmuls()
    run_metadata = v1.RunMetadata()
    with v1.Session(graph=graph) as session:
        session.run("out:0", {"x:0": np.ones((8, 16), np.float32)},
                    options=v1.RunOptions(output_partition_graphs=True), run_metadata=run_metadata)
    merged = analysis.merge_partition_graphs(run_metadata)
    report = analysis.work_span(merged, graph_form=analysis.GRAPH_PARTITIONS)
    assert report.op_count == len(merged.node) > 0
    assert any(name.startswith("_retval") for name in report.critical_path)


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("analyze") / "two_branch.pb")
    write_graph_def(two_branch_matmuls(batch=None).as_graph_def(), path)
    return path


def test_cli_analyze_prints_report_and_json(graph_file, capsys):
    assert cli_main(["analyze", graph_file, "--cost", "flops", "--batch", "8", "--fetch", "out"]) == 0
    text = capsys.readouterr().out
    assert "as written" in text and "work/span" in text
    assert cli_main(["analyze", graph_file, "--optimized", "--json", "--fetch", "out", "--workers", "2"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["graph_form"] == analysis.GRAPH_OPTIMIZED and figures["feeds"] == []
    assert figures["speedup_bound"]["2"] == pytest.approx(min(2, figures["work"] / figures["span"]))


@pytest.mark.parametrize("argv, message", [
    (["analyze", "/nonexistent/graph.pb"], "no such file"),
    (["analyze", "GRAPH", "--fetch", "nope"], "fetch 'nope'"),
    (["analyze", "GRAPH", "--cost", "flops", "--batch", "0"], "--batch"),
    (["analyze", "GRAPH", "--workers", "0"], "workers"),
])
def test_cli_analyze_bad_input_exits_2_with_one_line(graph_file, capsys, argv, message):
    argv = [graph_file if arg == "GRAPH" else arg for arg in argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
