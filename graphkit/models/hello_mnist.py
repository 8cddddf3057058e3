"""The Keras MNIST "hello world", built by hand as a tf.compat.v1 graph.

Flatten -> Dense(512, relu) -> Dropout(0.2) -> Dense(10) -> softmax, trained
with Adam on sparse categorical cross-entropy, like the seed's Keras model.
Input `x` is [batch, 28, 28] float32 in [0, 1]; output `probabilities` is
[batch, 10]; target `labels` is [batch] int32.
"""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf

from graphkit import layers, losses
from graphkit.model import GraphModel
from graphkit.pipeline import make_pipeline, model_inputs

v1 = tf.compat.v1

INPUT = "x"
TARGET = "labels"
OUTPUT = "probabilities"


def build_hello_mnist(
    image_shape: Sequence[int] = (28, 28),
    classes: int = 10,
    hidden: int = 512,
    dropout_rate: float = 0.2,
    learning_rate: float = 1e-3,
    in_graph_pipeline: bool = True,
    seed: Optional[int] = None,
) -> GraphModel:
    """Builds the seed model in a new graph.

    Args:
      in_graph_pipeline: give `x` and `labels` defaults from the in-graph
        input pipeline (the fast training path); they can still be fed.
      seed: graph-level seed for initializers, dropout and shuffling.
    Returns:
      a GraphModel with inputs {x}, targets {labels}, outputs {probabilities,
      logits}, loss, train_op, metrics {accuracy}, training flag, global_step.
    """
    graph = tf.Graph()
    with graph.as_default():
        if seed is not None:
            v1.set_random_seed(seed)
        specs = {INPUT: (list(image_shape), tf.float32), TARGET: ([], tf.int32)}
        pipeline = make_pipeline(specs, seed=seed) if in_graph_pipeline else None
        feeds = model_inputs(specs, pipeline)
        x, labels = feeds[INPUT], feeds[TARGET]
        training = v1.placeholder_with_default(False, [], name="training")

        hidden_units = layers.dense(layers.flatten(x), hidden, activation=tf.nn.relu, scope="dense")
        dropped = layers.dropout(hidden_units, dropout_rate, training, scope="dropout")
        logits = layers.dense(dropped, classes, scope="dense_1")
        probabilities = tf.nn.softmax(logits, name=OUTPUT)

        loss = losses.sparse_softmax_cross_entropy(labels, logits)
        accuracy = losses.accuracy(labels, logits)
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
