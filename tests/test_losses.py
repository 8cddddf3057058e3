"""Losses and metrics against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from graphkit.errors import DTypeError, ShapeError
from graphkit.nn import losses

v1 = tf.compat.v1


def numpy_cross_entropy(labels, logits):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]


def test_cross_entropy_accuracy_and_mask():
    rng = np.random.default_rng(0)
    logits_value = rng.standard_normal((3, 5, 7)).astype(np.float32)
    labels_value = rng.integers(0, 7, (3, 5)).astype(np.int32)
    mask_value = (rng.random((3, 5)) > 0.4).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        logits = v1.placeholder(tf.float32, [None, 5, 7])
        labels = v1.placeholder(tf.int32, [None, 5])
        mask = v1.placeholder(tf.float32, [None, 5])
        plain = losses.sparse_softmax_cross_entropy(labels, logits)
        masked = losses.sparse_softmax_cross_entropy(labels, logits, mask=mask)
        acc = losses.accuracy(labels, logits)
    with v1.Session(graph=graph) as session:
        feed = {logits: logits_value, labels: labels_value, mask: mask_value}
        values = session.run([plain, masked, acc], feed)
    per_position = numpy_cross_entropy(labels_value, logits_value)
    assert values[0] == pytest.approx(per_position.mean(), rel=1e-5)
    assert values[1] == pytest.approx((per_position * mask_value).sum() / mask_value.sum(), rel=1e-5)
    assert values[2] == pytest.approx((logits_value.argmax(-1) == labels_value).mean())


def test_invalid_labels():
    with tf.Graph().as_default():
        logits = v1.placeholder(tf.float32, [None, 4])
        with pytest.raises(DTypeError, match="must be integers"):
            losses.sparse_softmax_cross_entropy(v1.placeholder(tf.float32, [None]), logits)
        with pytest.raises(ShapeError, match="one axis less"):
            losses.accuracy(v1.placeholder(tf.int32, [None, 4]), logits)
