"""examples/01_hello_mnist.py end to end on a tiny generated MNIST-format npz file."""

import json
import os
import subprocess
import sys

import pytest
from conftest import write_mnist_npz

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    return write_mnist_npz(tmp_path_factory.mktemp("data") / "mnist.npz", train_count=1200, test_count=300)


def run_example(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", "01_hello_mnist.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("input_mode,towers", [("pipeline", 1), ("feed", 1), ("pipeline", 2)])
def test_hello_mnist_learns_the_generated_problem(tiny_npz, input_mode, towers, tmp_path):
    done = run_example("--dataset", "mnist", "--data", tiny_npz, "--epochs", "3", "--input", input_mode,
                       "--towers", str(towers), "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["epochs"] == 3 and figures["input"] == input_mode and figures["towers"] == towers
    assert figures["test_accuracy"] > 0.95
    assert "test accuracy" in done.stdout
    assert os.path.exists(os.path.join(tmp_path, "checkpoints", "checkpoint"))


def test_hello_mnist_bad_data_path_is_one_line(tmp_path):
    done = run_example("--data", str(tmp_path / "missing.npz"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "missing.npz" in done.stderr
