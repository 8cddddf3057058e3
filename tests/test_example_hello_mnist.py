"""examples/01_hello_mnist.py end to end on a tiny generated MNIST-format npz file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_blobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    x_train, y_train = make_blobs(1200, seed=1)
    x_test, y_test = make_blobs(300, seed=2)
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    to_uint8 = lambda x: (np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    np.savez(path, x_train=to_uint8(x_train), y_train=y_train.astype(np.uint8),
             x_test=to_uint8(x_test), y_test=y_test.astype(np.uint8))
    return str(path)


def run_example(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", "01_hello_mnist.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("input_mode", ["pipeline", "feed"])
def test_hello_mnist_learns_the_generated_problem(tiny_npz, input_mode, tmp_path):
    done = run_example("--dataset", "mnist", "--data", tiny_npz, "--epochs", "3", "--input", input_mode,
                       "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["epochs"] == 3 and figures["input"] == input_mode
    assert figures["test_accuracy"] > 0.95
    assert "test accuracy" in done.stdout
    assert os.path.exists(os.path.join(tmp_path, "checkpoints", "checkpoint"))


def test_hello_mnist_bad_data_path_is_one_line(tmp_path):
    done = run_example("--data", str(tmp_path / "missing.npz"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "missing.npz" in done.stderr
