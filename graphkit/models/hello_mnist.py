"""The Keras MNIST "hello world", built by hand as a tf.compat.v1 graph.

Flatten -> Dense(512, relu) -> Dropout(0.2) -> Dense(10) -> softmax, trained
with Adam on sparse categorical cross-entropy, like the seed's Keras model.
Input `x` is [batch, 28, 28] float32 in [0, 1]; output `probabilities` is
[batch, 10]; target `labels` is [batch] int32.
"""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf

from graphkit.data.pipeline import make_pipeline, model_inputs
from graphkit.errors import ModelError
from graphkit.models.graph_model import GraphModel
from graphkit.nn import layers, losses

v1 = tf.compat.v1

INPUT = "x"
TARGET = "labels"
OUTPUT = "probabilities"
# Name scopes of the training step that XLA may compile (graphkit.runtime.xla.mark_scopes), by the
# name of the choice: the whole step, or one part of it (benchmarks/xla_speedup.py measures each).
XLA_SCOPES = {
    "step": ("flatten", "dense", "dropout", "dense_1", "loss", "gradients", "train_op"),
    "dropout": ("dropout", "gradients/dropout"),
    "loss": ("loss", "gradients/loss"),
    "adam": ("train_op",),
}


def build_hello_mnist(
    image_shape: Sequence[int] = (28, 28),
    classes: int = 10,
    hidden: int = 512,
    dropout_rate: float = 0.2,
    learning_rate: float = 1e-3,
    in_graph_pipeline: bool = True,
    seed: Optional[int] = None,
    towers: int = 1,
    device=None,
) -> GraphModel:
    """Builds the seed model in a new graph.

    Args:
      in_graph_pipeline: give `x` and `labels` defaults from the in-graph
        input pipeline (the fast training path); they can still be fed.
      seed: graph-level seed for initializers, dropout and shuffling.
      towers: split each batch into this many near-equal parts that run the
        same layers side by side in one graph (shared variables), their losses
        summed into the batch mean. Run with one intra-op thread and `towers`
        inter-op threads (`graphkit.runtime.configs.towers_config`), this is data parallelism across the
        cores by dataflow alone: each core runs its tower's ops start to end,
        with no thread hand-off inside an op. The loss, its gradient and the
        outputs equal the one-tower model's up to float rounding.
      device: a device name or device function every op is built under, such as
        `tf.compat.v1.train.replica_device_setter(...)` for between-graph
        replication (variables on parameter servers, compute on the worker).
    Returns:
      a GraphModel with inputs {x}, targets {labels}, outputs {probabilities,
      logits}, loss, train_op, metrics {accuracy}, training flag, global_step.
    """
    if towers < 1:
        raise ModelError(f"build_hello_mnist: towers must be >= 1, got {towers}")
    graph = tf.Graph()
    with graph.as_default(), graph.device(device):
        if seed is not None:
            v1.set_random_seed(seed)
        specs = {INPUT: (list(image_shape), tf.float32), TARGET: ([], tf.int32)}
        pipeline = make_pipeline(specs, seed=seed) if in_graph_pipeline else None
        feeds = model_inputs(specs, pipeline)
        x, labels = feeds[INPUT], feeds[TARGET]
        training = v1.placeholder_with_default(False, [], name="training")

        def classify(images):
            hidden_units = layers.dense(layers.flatten(images), hidden, activation=tf.nn.relu, scope="dense")
            dropped = layers.dropout(hidden_units, dropout_rate, training, scope="dropout")
            return layers.dense(dropped, classes, scope="dense_1")

        logits = classify(x)
        probabilities = tf.nn.softmax(logits, name=OUTPUT)
        if towers == 1:
            loss = losses.sparse_softmax_cross_entropy(labels, logits)
            accuracy = losses.accuracy(labels, logits)
        else:
            loss, tower_logits = _tower_loss(classify, x, labels, towers)
            accuracy = losses.accuracy(labels, tower_logits)
        global_step = v1.train.get_or_create_global_step()
        optimizer = v1.train.AdamOptimizer(learning_rate, epsilon=1e-7)  # Keras' epsilon
        train_op = optimizer.minimize(loss, global_step=global_step, name="train_op")
    return GraphModel(
        graph=graph,
        inputs={INPUT: x},
        outputs={OUTPUT: probabilities, "logits": logits},
        targets={TARGET: labels},
        loss=loss,
        train_op=train_op,
        metrics={"accuracy": accuracy},
        training=training,
        global_step=global_step,
        pipeline=pipeline,
    )


def _tower_loss(classify, x: tf.Tensor, labels: tf.Tensor, towers: int):
    """Mean cross-entropy of the batch computed in `towers` parallel parts.

    Returns (loss, logits of the whole batch put back together). Each part's
    mean is weighted by its size, and an empty part (a batch smaller than
    `towers`) weighs 0 without its NaN mean leaking in.
    """
    count = tf.shape(x)[0]
    sizes = tf.stack([(count * (t + 1)) // towers - (count * t) // towers for t in range(towers)])
    parts, part_logits = [], []
    for t, (images, part_labels) in enumerate(zip(tf.split(x, sizes, num=towers, name="tower_images"),
                                                  tf.split(labels, sizes, num=towers, name="tower_labels"))):
        with tf.name_scope(f"tower_{t}"), v1.variable_scope(v1.get_variable_scope(), reuse=True):
            logits = classify(images)
            mean = losses.sparse_softmax_cross_entropy(part_labels, logits)
            parts.append(tf.math.multiply_no_nan(mean, tf.cast(sizes[t], mean.dtype)))
            part_logits.append(logits)
    with tf.name_scope("loss"):
        loss = tf.math.divide(tf.add_n(parts), tf.cast(count, tf.float32), name="value")
    return loss, tf.concat(part_logits, 0, name="tower_logits")
