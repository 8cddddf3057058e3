"""examples/02_eager_vs_graph.py: quick mode as a subprocess, and its forward pass against numpy."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import load_script

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "02_eager_vs_graph.py")
KEYS = {"eager_ms", "graph_ms", "function_ms", "ratio", "function_ratio", "eager_first_ms", "graph_first_ms",
        "function_first_ms", "startup_ms", "max_abs_diff", "graph_ops", "batch", "width", "layers", "repeats",
        "eager_still_on"}


@pytest.fixture(scope="module")
def quick_run():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, EXAMPLE, "--quick", "--json"], capture_output=True, text=True,
                            env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quick_json_figures(quick_run):
    figures = json.loads(quick_run.strip().splitlines()[-1])
    assert set(figures) == KEYS
    assert figures["max_abs_diff"] < 1e-5  # eager, graph and tf.function give the same numbers
    assert figures["eager_still_on"] is True  # the graph ran beside eager mode, which stayed on
    assert (figures["batch"], figures["width"], figures["layers"], figures["repeats"]) == (8, 32, 3, 20)
    # placeholder + (W, b) constants per layer + (matmul, add, relu) per hidden layer + matmul, add, softmax
    assert figures["graph_ops"] == 1 + 2 * (figures["layers"] + 1) + 3 * figures["layers"] + 3
    for mode in ("eager", "graph", "function"):
        assert figures[f"{mode}_ms"] > 0 and figures[f"{mode}_first_ms"] > 0, mode
    assert figures["ratio"] == pytest.approx(figures["eager_ms"] / figures["graph_ms"], rel=1e-2)
    assert figures["function_ratio"] == pytest.approx(figures["eager_ms"] / figures["function_ms"], rel=1e-2)


def test_quick_table_shows_values_then_symbols(quick_run):
    out = quick_run
    assert 'y = forward(x_placeholder) -> Tensor("probabilities:0", shape=(None, 10), dtype=float32)' in out
    assert "y = forward(x)             -> EagerTensor (8, 10)" in out
    modes = ("eager ", "graph + Session", "tf.function ")
    rows = [line.split() for line in out.splitlines() if line.startswith(modes)]
    assert [row[0] for row in rows] == ["eager", "graph", "tf.function"]
    assert rows[0][-1] == "1.00x"


def test_forward_matches_numpy():
    example = load_script("examples/02_eager_vs_graph.py")
    x, params = example.make_problem(batch=4, features=784, width=16, layers=2, seed=3)
    hidden = x.astype(np.float64)
    for weights, bias in params[:-1]:
        hidden = np.maximum(hidden @ weights + bias, 0.0)
    logits = hidden @ params[-1][0] + params[-1][1]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    actual = example.forward(x, params).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)
