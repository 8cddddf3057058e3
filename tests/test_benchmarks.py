"""Benchmarks' own arithmetic and output, checked on small inputs (no timings asserted)."""

import json
import os
import subprocess
import sys
import types

import pytest
from conftest import load_script

from graphkit.graphs import work_span as analysis
from graphkit.models.hello_mnist import build_hello_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("batch", [32, 256])
def test_step_flops_match_tensorflows_op_statistics(batch):
    """The benchmark's hand-counted matmul FLOPs equal TensorFlow's count for the step that runs."""
    bench = load_script("benchmarks/mnist_vs_keras.py")
    model = build_hello_mnist(seed=1)
    graph_def = model.graph_def()
    optimized = analysis.grappler_optimized(graph_def, [model.train_op.name], ["x", "labels"])
    costs, _ = analysis.flop_costs(optimized, unknown_dim=batch)
    matmuls = {node.name for node in optimized.node if "MatMul" in node.op}
    assert sum(costs[name] for name in matmuls) == bench.step_matmul_flops(batch)
    assert bench.epoch_flops(100, 32) == 3 * bench.step_matmul_flops(32) + bench.step_matmul_flops(4)


def test_render_large_prints_its_figures_as_json():
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "render_large.py"),
         "--stages", "1", "--blocks", "2", "--repeat", "1", "--no-peer", "--json"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for view in ("default", "detailed"):
        assert {"ops", "visible_nodes", "dot_s", "svg_s"} <= set(figures[view])
        assert sum(figures[view]["accounting"].values()) == figures["ops"]
    assert figures["visible_nodes"] <= 60 < figures["ops"]


def test_mnist_summary_takes_the_fastest_steady_epoch_and_the_best_matmul_rate():
    bench = load_script("benchmarks/mnist_vs_keras.py")
    args = types.SimpleNamespace(dataset="fashion-mnist", epochs=3, batch_size=256, repeats=2, towers=2)

    def run(seconds, accuracy, rss):
        return {"epoch_seconds": seconds, "test_accuracy": accuracy, "peak_rss_mb": rss,
                "examples": 60000, "source": "test"}

    graphkit = [run([1.0, 0.7, 0.8], 0.87, 1000), run([1.0, 0.72, 0.71], 0.88, 1001)]
    keras = [run([0.5, 1.5, 1.7], 0.87, 1100)]  # a fast first epoch is warm-up all the same
    summary = bench.summarize(args, keras, graphkit, [{"matmul_gflops": 150.0}, {"matmul_gflops": 200.0}])
    assert summary["graphkit_epoch_s"] == 0.7 and summary["keras_epoch_s"] == 1.5
    assert summary["graphkit_mean_epoch_s"] == pytest.approx(0.715)
    assert summary["speedup_vs_keras"] == pytest.approx(1.5 / 0.7)
    bound = bench.epoch_flops(60000, 256) / 200e9
    assert summary["matmul_bound_epoch_s"] == pytest.approx(bound)
    assert summary["graphkit_vs_bound"] == pytest.approx(0.7 / bound)
    assert summary["graphkit_test_accuracy"] == pytest.approx(0.875)
    assert summary["accuracy_gap_points"] == pytest.approx(-0.5)
