"""Shared test set-up: quiet TensorFlow, and a tiny generated classification problem."""

import contextlib
import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from graphkit.quiet import import_tensorflow  # noqa: E402

import_tensorflow()

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def make_blobs(count: int = 512, seed: int = 0, image_shape=(28, 28), classes: int = 10):
    """Images whose class is the brightest of `classes` horizontal bands (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=count).astype(np.int32)
    images = rng.random((count, *image_shape), dtype=np.float32) * 0.5
    band = image_shape[0] * image_shape[1] // classes
    flat = images.reshape(count, -1)
    for i, label in enumerate(labels):
        flat[i, label * band:(label + 1) * band] += 0.5
    return images, labels


@pytest.fixture(scope="session", name="cpp_binary")
def cpp_binary_fixture():
    """graphkit-run, compiled once (cached across test runs by TF version and source hash)."""
    from graphkit.serving.cpp_build import build_cpp

    return build_cpp()


@pytest.fixture(scope="session")
def blobs():
    """(x, labels) with 512 examples of 28x28 float32 images in [0, 1] and 10 classes."""
    return make_blobs()


def write_mnist_npz(path, train_count: int = 600, test_count: int = 200, seed: int = 3) -> str:
    """Writes a Keras-format mnist.npz (uint8 images, uint8 labels) of blobs; returns its path."""
    x_train, y_train = make_blobs(train_count, seed=seed)
    x_test, y_test = make_blobs(test_count, seed=seed + 1)
    as_uint8 = lambda x: (np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    np.savez(path, x_train=as_uint8(x_train), y_train=y_train.astype(np.uint8),
             x_test=as_uint8(x_test), y_test=y_test.astype(np.uint8))
    return str(path)


@contextlib.contextmanager
def time_limit(seconds: int, what: str = "test"):
    """Raises TimeoutError in the block after `seconds` (SIGALRM), so a hung test fails instead of hanging."""
    def expire(signum, frame):
        raise TimeoutError(f"{what}: still running after its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
