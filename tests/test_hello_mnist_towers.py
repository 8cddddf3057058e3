"""The hello-world model split into towers computes what the one-tower model does."""

import numpy as np
import pytest
import tensorflow as tf

from graphkit.errors import ModelError
from graphkit.models.hello_mnist import build_hello_mnist
from graphkit.runtime.configs import towers_config
from graphkit.runtime.model_session import ModelSession

v1 = tf.compat.v1


def loss_accuracy_gradients(towers, x, labels):
    model = build_hello_mnist(hidden=16, seed=4, towers=towers, in_graph_pipeline=False)
    with model.graph.as_default():
        variables = v1.trainable_variables()
        gradients = tf.gradients(model.loss, variables)
    with ModelSession(model) as session:
        feed = {model.inputs["x"]: x, model.targets["labels"]: labels}
        return session.session.run([model.loss, model.metrics["accuracy"], gradients], feed)


@pytest.mark.parametrize("towers", [2, 3])
@pytest.mark.parametrize("examples", [37, 2])  # 2 < 3 towers: one tower gets no example
def test_towers_give_the_one_tower_loss_accuracy_and_gradients(towers, examples):
    rng = np.random.default_rng(0)
    x = rng.random((examples, 28, 28), np.float32)
    labels = rng.integers(0, 10, examples).astype(np.int32)
    loss, accuracy, gradients = loss_accuracy_gradients(1, x, labels)
    tower_loss, tower_accuracy, tower_gradients = loss_accuracy_gradients(towers, x, labels)
    assert np.isfinite(tower_loss)
    np.testing.assert_allclose(tower_loss, loss, rtol=1e-6)
    assert tower_accuracy == accuracy
    for expected, actual in zip(gradients, tower_gradients):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-7)


def test_towers_train_to_high_accuracy(blobs):
    x, labels = blobs
    model = build_hello_mnist(hidden=32, seed=7, towers=2)
    with ModelSession(model, config=towers_config(2)) as session:
        session.fit({"x": x, "labels": labels}, epochs=6, batch_size=32, progress=False)
        assert session.evaluate({"x": x, "labels": labels})["accuracy"] > 0.95


def test_towers_must_be_positive():
    with pytest.raises(ModelError, match="towers must be >= 1, got 0"):
        build_hello_mnist(towers=0)


def test_towers_config_gives_one_intra_op_thread_per_tower_and_defaults_for_one():
    config = towers_config(3)
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (1, 3)
    config = towers_config(1)
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (0, 0)
