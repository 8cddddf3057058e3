"""graphkit.graphs.step_stats and its formatters: hand-built StepStats, a traced run, the CLI, the example."""

import collections
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import step_stats_pb2
from tensorflow.python.client import timeline

from graphkit.cli.main import main as cli_main
from graphkit.errors import TraceError
from graphkit.graphs import step_stats as trace
from graphkit.graphs import work_span as analysis
from graphkit.graphs.write import write_graph_def
from graphkit.runtime import tracing
from graphkit.viz import reports
from graphkit.viz.chrome_trace import chrome_trace, write_chrome_trace
from graphkit.viz.gantt import gantt_svg, write_gantt_svg

v1 = tf.compat.v1
CPU = "/job:localhost/replica:0/task:0/device:CPU:0"
OTHER = "/job:localhost/replica:0/task:0/device:CPU:1"
SVG = "{http://www.w3.org/2000/svg}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_op(dev_stats, name, op, start, duration, inputs=(), thread=0, allocations=()):
    stats = dev_stats.node_stats.add(node_name=name, all_start_micros=start, all_end_rel_micros=duration,
                                     thread_id=thread, timeline_label=f"{name} = {op}({', '.join(inputs)})")
    if allocations:
        memory = stats.memory.add(allocator_name="cpu")
        for at, size in allocations:
            memory.allocation_records.add(alloc_micros=at, alloc_bytes=size)


def diamond_step_stats(offset=1000):
    """a [0,10) -> b [10,30) and c [10,20) -> d [30,35) on CPU:0; e on CPU:1 threads 7 and 9."""
    step_stats = step_stats_pb2.StepStats()
    cpu = step_stats.dev_stats.add(device=CPU)
    add_op(cpu, "a", "Const", offset, 10, allocations=[(offset + 1, 400)])
    add_op(cpu, "b", "MatMul", offset + 10, 20, ["a"], allocations=[(offset + 12, 100), (offset + 29, -100)])
    add_op(cpu, "c", "Relu", offset + 10, 10, ["a:1"])
    add_op(cpu, "d", "AddN", offset + 30, 5, ["b", "^c"])
    other = step_stats.dev_stats.add(device=OTHER)
    add_op(other, "e", "NoOp", offset + 2, 3, thread=7)
    add_op(other, "f", "NoOp", offset + 4, 6, thread=9)
    return step_stats


def test_parse_label():
    assert trace.parse_label("y = MatMul(x, ^w, z:1)") == ("MatMul", ("x", "w", "z"))
    assert trace.parse_label("_SOURCE = NoOp()") == ("NoOp", ())
    assert trace.parse_label("garbage") == ("unknown", ())


def test_hand_built_step_stats_give_exact_figures():
    step = trace.parse_step_stats(diamond_step_stats(), run=3)
    assert [interval.name for interval in step.intervals] == ["a", "e", "f", "b", "c", "d"]
    by_name = {interval.name: interval for interval in step.intervals}
    assert by_name["b"].lane != by_name["c"].lane  # overlapping on one thread: two lanes
    assert by_name["a"].lane == by_name["b"].lane == by_name["d"].lane
    assert by_name["d"].inputs == ("b", "c") and by_name["c"].inputs == ("a",)
    assert by_name["b"].op == "MatMul" and by_name["b"].duration_us == 20 and by_name["b"].run == 3
    assert [(lane.device, lane.label) for lane in step.lanes] == [
        (CPU, "lane 0"), (CPU, "lane 1"), (OTHER, "thread 7"), (OTHER, "thread 9")]
    summary = trace.summarize(step)
    assert (step.start_us, step.wall_us) == (1000, 35)
    assert summary.busy_us == 10 + 20 + 10 + 5 + 3 + 6
    assert summary.average_parallelism == pytest.approx(54 / 35)
    assert summary.max_concurrency == 3  # b, c and f at t = 10
    assert summary.critical_path == ("a", "b", "d")
    assert summary.critical_path_busy_us == 35
    cpu, other = summary.devices
    assert (cpu.device, cpu.op_count, cpu.busy_us, cpu.lanes) == (CPU, 4, 45, 2)
    assert (other.op_count, other.busy_us, other.lanes, other.start_us, other.end_us) == (2, 9, 2, 1002, 1010)
    samples = [(sample.time_us, sample.bytes) for sample in step.memory]
    assert samples == [(1001, 400), (1012, 500), (1029, 400)]
    assert "average parallelism: 1.543" in reports.format_trace_summary(summary)


def test_critical_path_follows_a_wait_for_the_thread():
    step_stats = step_stats_pb2.StepStats()
    cpu = step_stats.dev_stats.add(device=CPU)
    add_op(cpu, "x", "Const", 100, 10)
    add_op(cpu, "y", "Const", 110, 10)  # unrelated to z, but held the only thread
    add_op(cpu, "z", "Neg", 120, 5, ["x"])
    summary = trace.summarize(trace.parse_step_stats(step_stats))
    assert summary.critical_path == ("x", "y", "z")
    assert summary.critical_path_busy_us == summary.wall_us == 25 and summary.max_concurrency == 1


def test_missing_step_stats_raise():
    with pytest.raises(TraceError, match="no step stats"):
        trace.parse_run_metadata(v1.RunMetadata())
    with pytest.raises(TraceError, match="no executed op"):
        empty = step_stats_pb2.StepStats()
        empty.dev_stats.add(device=CPU)
        trace.parse_step_stats(empty)
    with pytest.raises(TraceError, match="at least one"):
        chrome_trace([])


def test_chrome_trace_of_hand_built_runs():
    runs = [trace.parse_step_stats(diamond_step_stats(1000), run=0),
            trace.parse_step_stats(diamond_step_stats(2000), run=1)]
    document = json.loads(json.dumps(chrome_trace(runs)))
    events = document["traceEvents"]
    ops = [event for event in events if event["ph"] == "X" and event["cat"] != "Session.run"]
    assert len(ops) == 12
    b_run1 = next(e for e in ops if e["name"] == "b" and e["args"]["run"] == 1)
    assert (b_run1["ts"], b_run1["dur"], b_run1["cat"]) == (1010, 20, "MatMul")
    assert [(e["name"], e["ts"], e["dur"]) for e in events if e.get("cat") == "Session.run"] == [
        ("run 0", 0, 35), ("run 1", 1000, 35)]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    assert set(starts) == set(finishes) and len(starts) == 2 * 4  # a->b, a->c, b->d, c->d per run
    assert all(finishes[i]["ts"] >= starts[i]["ts"] and finishes[i]["bp"] == "e" for i in starts)
    counters = [e for e in events if e["ph"] == "C"]
    assert [e["args"]["bytes"] for e in counters] == [400, 500, 400, 400, 500, 400]
    names = {(e["pid"], e["args"]["name"]) for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert {name for _, name in names} == {"Session.run", "Memory", CPU, OTHER}
    threads = [e for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
    assert len(threads) == 4


def test_gantt_svg_has_one_lane_per_thread(tmp_path):
    step = trace.parse_step_stats(diamond_step_stats())
    path = write_gantt_svg(step, str(tmp_path / "step.svg"))
    root = ET.parse(path).getroot()
    lanes = root.findall(f".//{SVG}g[@class='lane']")
    assert len(lanes) == len(step.lanes) == 4
    bars = {rect.get("data-name"): lane.get("data-lane") for lane in lanes
            for rect in lane.findall(f"{SVG}rect[@class='op']")}
    assert sorted(bars) == ["a", "b", "c", "d", "e", "f"]
    assert bars["b"] != bars["c"] and bars["a"] == bars["b"]
    widths = {rect.get("data-name"): float(rect.get("width")) for rect in root.iter(f"{SVG}rect")}
    assert widths["b"] == pytest.approx(2 * widths["c"], rel=1e-3)
    assert gantt_svg(step).count("<title>") == 1 + 6
    assert os.listdir(tmp_path) == ["step.svg"]


# -- a real traced run --------------------------------------------------------------

def three_branch_graph():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [64, 64], name="x")
        ends = []
        for branch in range(3):
            weights = tf.constant(np.random.default_rng(branch).random((64, 64), dtype=np.float32))
            ends.append(tf.matmul(tf.matmul(x, weights), weights, name=f"branch_{branch}"))
        tf.reduce_sum(tf.add_n(ends), name="out")
    return graph


@pytest.fixture(scope="module")
def traced():
    """Two traced runs of the three-branch graph with 2 inter-op threads, and the wall clock around them."""
    graph = three_branch_graph()
    config = v1.ConfigProto(inter_op_parallelism_threads=2, intra_op_parallelism_threads=1)
    feeds = {"x:0": np.ones((64, 64), np.float32)}
    with v1.Session(graph=graph, config=config) as session:
        before_us = time.time() * 1e6
        run_metadata = tracing.run_traced(session, ["out:0"], feeds, runs=2, partition_graphs=True, warmup=1)
        after_us = time.time() * 1e6
    return graph, run_metadata, before_us, after_us


def test_real_run_every_executed_op_has_an_interval(traced):
    _, run_metadata, before_us, after_us = traced
    assert len(run_metadata) == 2
    steps = [trace.parse_run_metadata(md, run=i) for i, md in enumerate(run_metadata)]
    for step, md in zip(steps, run_metadata):
        names = {interval.name for interval in step.intervals}
        executed = {node.name for partition in md.partition_graphs for node in partition.node}
        assert executed <= names
        assert {"branch_0", "branch_1", "branch_2", "out"} <= names
        for interval in step.intervals:
            assert before_us - 1 <= interval.start_us <= interval.end_us <= after_us + 1
    assert steps[0].end_us <= steps[1].start_us  # runs follow each other


def test_real_run_respects_dataflow_and_has_a_critical_path(traced):
    _, run_metadata, _, _ = traced
    step = trace.parse_run_metadata(run_metadata[-1])
    by_name = {interval.name: interval for interval in step.intervals}
    for interval in step.intervals:
        for name in interval.inputs:
            if name in by_name:
                assert by_name[name].end_us <= interval.start_us + 1  # microsecond rounding
    summary = trace.summarize(step)
    assert summary.critical_path[-1].startswith("_retval")
    assert any(name.startswith("branch_") for name in summary.critical_path)
    assert 0 < summary.average_parallelism <= summary.max_concurrency
    assert summary.devices[0].op_count == len(step.intervals)
    assert step.memory and all(sample.allocator for sample in step.memory)


def test_traced_op_times_cost_the_partition_graph(traced):
    _, run_metadata, _, _ = traced
    step = trace.parse_run_metadata(run_metadata[-1])
    durations = trace.op_durations(step)
    report = analysis.work_span(analysis.merge_partition_graphs(run_metadata[-1]), cost="measured",
                                measured_costs=durations, graph_form=analysis.GRAPH_PARTITIONS)
    assert report.unknown_cost_ops == ()
    assert report.work == sum(durations[name] for name in report.costs)
    # ops on a dependency chain ran one after another, so the span fits in the wall time
    assert report.span <= step.wall_us + len(report.critical_path)


def test_trace_agrees_with_tensorflow_timeline(traced):
    _, run_metadata, _, _ = traced
    for md in run_metadata:
        events = json.loads(timeline.Timeline(md.step_stats).generate_chrome_trace_format())["traceEvents"]
        theirs = collections.Counter((e["args"]["name"], e["ts"], e["dur"]) for e in events if e["ph"] == "X")
        ours = collections.Counter((i.name, i.start_us, i.duration_us)
                                   for i in trace.parse_run_metadata(md).intervals)
        assert ours == theirs and len(ours) > 10


def test_real_runs_merge_into_one_chrome_trace(traced, tmp_path):
    _, run_metadata, _, _ = traced
    steps = [trace.parse_run_metadata(md, run=i) for i, md in enumerate(run_metadata)]
    path = write_chrome_trace(steps, str(tmp_path / "trace.json"))
    with open(path) as handle:
        events = json.load(handle)["traceEvents"]
    runs = [e for e in events if e.get("cat") == "Session.run"]
    assert [e["name"] for e in runs] == ["run 0", "run 1"]
    assert runs[0]["ts"] + runs[0]["dur"] <= runs[1]["ts"]
    op_events = [e for e in events if e["ph"] == "X" and e.get("cat") != "Session.run"]
    assert len(op_events) == sum(len(step.intervals) for step in steps)
    assert any(e["ph"] == "s" for e in events) and any(e["ph"] == "C" for e in events)
    assert os.listdir(tmp_path) == ["trace.json"]


def test_run_traced_rejects_bad_fetches_and_feeds():
    graph = three_branch_graph()
    with v1.Session(graph=graph) as session:
        with pytest.raises(TraceError, match="fetch 'nope:0'"):
            tracing.run_traced(session, ["nope:0"], {"x:0": np.ones((64, 64), np.float32)})
        with pytest.raises(TraceError, match="feed 'ghost:0'"):
            tracing.run_traced(session, ["out:0"], {"ghost:0": np.ones((64, 64), np.float32)})
        with pytest.raises(TraceError, match=r"feed 'x:0'.*expected shape"):
            tracing.run_traced(session, ["out:0"], {"x:0": np.ones((3, 64), np.float32)})
        with pytest.raises(TraceError, match="You must feed a value for placeholder tensor 'x'"):
            tracing.run_traced(session, ["out:0"], {})
        with pytest.raises(TraceError, match="runs"):
            tracing.run_traced(session, ["out:0"], {"x:0": np.ones((64, 64), np.float32)}, runs=0)
        other = tf.Graph()
        with other.as_default():
            foreign = tf.constant(1.0, name="foreign")
        with pytest.raises(TraceError, match="fetch 'foreign:0': belongs to another graph"):
            tracing.run_traced(session, [foreign])


# -- the CLI --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 8], name="x")
        tf.nn.relu(tf.matmul(x, tf.ones([8, 4])), name="y")
    path = str(tmp_path_factory.mktemp("trace") / "graph.pbtxt")
    write_graph_def(graph.as_graph_def(), path)
    return path


def test_cli_trace_graph_def_writes_chrome_and_gantt(graph_file, tmp_path, capsys):
    chrome, gantt = str(tmp_path / "t.json"), str(tmp_path / "t.svg")
    code = cli_main(["trace", graph_file, "--fetch", "y", "--runs", "2", "--batch", "3",
                     "--chrome", chrome, "--gantt", gantt, "--json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["runs"] == 2 and len(figures["average_parallelism"]) == 2
    with open(chrome) as handle:
        assert sum(e["cat"] == "Session.run" for e in json.load(handle)["traceEvents"] if "cat" in e) == 2
    assert ET.parse(gantt).getroot().findall(f".//{SVG}g[@class='lane']")


def test_cli_trace_initialises_variables_of_a_graph_def(tmp_path, capsys):
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        weights = v1.get_variable("w", [3, 2])
        tf.matmul(x, weights, name="y")
    path = write_graph_def(graph.as_graph_def(), str(tmp_path / "variables.pb"))
    assert cli_main(["trace", path, "--fetch", "y"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "reads variable w that nothing initialised or restored" in err
    assert cli_main(["trace", path, "--fetch", "y", "--init-variables", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "y" in figures["critical_path"]


def test_cli_trace_saved_model(tmp_path, capsys):
    export_dir = str(tmp_path / "saved")
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 5], name="x")
        weights = v1.get_variable("w", [5, 2])
        probabilities = tf.nn.softmax(tf.matmul(x, weights), name="probabilities")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            v1.saved_model.simple_save(session, export_dir, {"x": x}, {"probabilities": probabilities})
    assert cli_main(["trace", export_dir, "--runs", "1", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "probabilities:0" in out and "average parallelism" in out
    assert cli_main(["trace", export_dir, "--fetch", "probabilities", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fetches"] == ["probabilities:0"]
    assert cli_main(["analyze", export_dir, "--json"]) == 0  # the same SavedModel, statically
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["fetches"], figures["feeds"]) == (["probabilities"], ["x"])
    assert figures["critical_path"][0] in ("x", "w") and figures["critical_path"][-1] == "probabilities"


@pytest.mark.parametrize("argv, message", [
    (["trace", "GRAPH", "--fetch", "nope"], "fetch 'nope'"),
    (["trace", "GRAPH"], "--fetch"),
    (["trace", "GRAPH", "--fetch", "y", "--runs", "0"], "--runs"),
    (["trace", "GRAPH", "--fetch", "y", "--init-variables"], "no <variable>/Assign ops"),
    (["trace", "/nonexistent.pb", "--fetch", "y"], "no such file"),
])
def test_cli_trace_bad_input_exits_2_with_one_line(graph_file, capsys, argv, message):
    argv = [graph_file if arg == "GRAPH" else arg for arg in argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


# -- the example ------------------------------------------------------------------------

def test_example_quick_prints_json_last():
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "03_dataflow_parallelism.py"), "--quick", "--json"],
        capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["branches"] == 2 and figures["cores"] == len(os.sched_getaffinity(0))
    assert figures["work_span"] == pytest.approx(2.0, rel=0.01)  # two equal branches
    assert 0 < figures["work_span_bound"] <= figures["cores"]
    # The speedup is the ratio of the two step times it printed; parallelism is busy/wall of a trace,
    # so at most the number of threads that ran it.
    step_ms = figures["step_ms"]
    parallel_ms = step_ms[str(figures["cores"])]
    assert figures["measured_speedup"] == pytest.approx(step_ms["1"] / parallel_ms, rel=1e-2)
    assert 0.5 <= figures["measured_parallelism"] <= figures["cores"] + 0.05
    assert any("work/span" in line for line in lines[:-1])
    # The training step is one chain; split into one tower per core it is that many chains wide.
    assert figures["training"]["work_span"] < 1.1
    assert figures["training_towers"]["work_span"] > min(1.8, 0.9 * figures["cores"])
